"""GET /metrics read as samples, and how far a series moved between two scrapes."""

from __future__ import annotations

import re

import httpx
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset], float]


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in after, f"no series {name}{labels}"
    return after[key] - before.get(key, 0.0)


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no series {name}{labels}"
    return samples[key]


def families(samples: Samples) -> set[str]:
    """The metric names, without the _total, _bucket, _count, _sum and _created of their samples."""
    suffixes = re.compile(r"_(total|bucket|count|sum|created)$")
    return {suffixes.sub("", name) for name, _ in samples}
