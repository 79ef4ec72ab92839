"""Microseconds per request of the hot GETs, in process: the ASGI app driven with a fake receive and
send, no server and no socket (issue 20, item 4: what the access log and request id cost).

    .venv/bin/python -m bench.request_cost            # ACCESS_LOG on and off, a table
    .venv/bin/python -m bench.request_cost --profile  # cProfile call counts per request

Figures are CPU time of the process per request (the access log's writing thread included, other
processes on the machine left out). The app is built as `serve` builds it (in-memory store,
metrics on, LOG_FORMAT=json at LOG_LEVEL=warning, as bench/run.py serves it), its log stream a
temporary file. Each request is followed by one event-loop iteration, as a server gives it.
Configurations take turns, `--rounds` times; the table shows each one's median and fastest round
and the median of the rounds' differences. On a machine shared with other work, single figures
move by several microseconds from run to run: compare medians of several runs.

To measure another version (the code before a change), run this file from a copy of it:
`git archive <commit> | tar -x -C /tmp/base`, then from /tmp/base
`PYTHONPATH=/tmp/base /path/to/this/checkout/.venv/bin/python /path/to/this/file`; settings it does not know are left
out (ACCESS_LOG before issue 20: both rows are then the same code).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import cProfile
import io
import logging.config
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import httpx

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.logging_setup import logging_config
from entrypoints.settings import Settings, load_settings

PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_cost": 8, "argon2_parallelism": 1}
PATHS = ("/protected", "/auth/verify")
CONFIGURATIONS = {"access log on": {}, "access log off": {"access_log": False}}


def known(settings: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in settings.items() if k in Settings.model_fields}


async def session_cookie(app: Any) -> bytes:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await client.post("/signup", json={"username": "bench", "password": PASSWORD})
        basic = base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
        response = await client.post("/login", headers={"authorization": f"Basic {basic}"})
        response.raise_for_status()
        return f"session_id={response.cookies['session_id']}".encode()


def scope_of(path: str, cookie: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"wrk"),
            (b"cookie", cookie),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: dict[str, Any]) -> None:
    if message["type"] == "http.response.start" and message["status"] != 200:
        raise SystemExit(f"answered {message['status']}")


async def drive(app: Any, scope: dict[str, Any], count: int) -> float:
    """CPU microseconds per request, `count` requests each followed by a loop iteration. CPU time
    of the whole process (the access log's writing thread included), not wall time: other
    processes on the machine then matter less."""
    sleep = asyncio.sleep
    started = time.process_time()
    for _ in range(count):
        await app(dict(scope), receive, send)
        await sleep(0)
    return (time.process_time() - started) / count * 1e6


class Apps:
    """One app per configuration, each past its lifespan's start, built on one event loop."""

    def __init__(self) -> None:
        self.apps: dict[str, Any] = {}
        self.cookies: dict[str, bytes] = {}
        self._exits: list[Callable[[], Any]] = []

    async def start(self, name: str, settings: dict[str, object]) -> None:
        container = build_container(
            load_settings(**known({"session_cookie_secure": False, **CHEAP_ARGON2, **settings}))
        )
        app = create_app(container)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        self._exits.append(lambda: lifespan.__aexit__(None, None, None))
        self.apps[name] = app
        self.cookies[name] = await session_cookie(app)

    async def stop(self) -> None:
        for exit_ in reversed(self._exits):
            await exit_()


async def measure(rounds: int, count: int) -> dict[tuple[str, str], list[float]]:
    apps = Apps()
    for name, settings in CONFIGURATIONS.items():
        await apps.start(name, settings)
    figures: dict[tuple[str, str], list[float]] = {}
    try:
        for name in apps.apps:  # warm up every path once
            for path in PATHS:
                await drive(apps.apps[name], scope_of(path, apps.cookies[name]), count // 10)
        for _ in range(rounds):
            for path in PATHS:
                for name, app in apps.apps.items():
                    cost = await drive(app, scope_of(path, apps.cookies[name]), count)
                    figures.setdefault((path, name), []).append(cost)
    finally:
        await apps.stop()
    return figures


async def profile(count: int, settings: dict[str, object]) -> None:
    apps = Apps()
    await apps.start("profiled", settings)
    try:
        for path in PATHS:
            scope = scope_of(path, apps.cookies["profiled"])
            await drive(apps.apps["profiled"], scope, count // 10)
            profiler = cProfile.Profile()
            profiler.enable()
            await drive(apps.apps["profiled"], scope, count)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            print(f"\n## {path}: calls per request (of {count}), by total time")
            for (file, line, function), (_, calls, total, *_) in sorted(
                stats.stats.items(),  # type: ignore[attr-defined]
                key=lambda item: -item[1][2],
            ):
                if calls >= count:
                    where = file.rsplit("/site-packages/", 1)[-1].rsplit("/wt-", 1)[-1]
                    print(
                        f"{calls / count:5.1f}  {total / count * 1e6:6.2f} us  {function}  ({where}:{line})"
                    )
    finally:
        await apps.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--access-log-off", action="store_true", help="profile with it off")
    args = parser.parse_args()
    # The service's log configuration, its stream a file as a server's stderr would be.
    sys.stderr = tempfile.TemporaryFile("w", buffering=1)  # noqa: SIM115
    logging.config.dictConfig(logging_config("warning", "json"))
    if args.profile:
        settings = {"access_log": False} if args.access_log_off else {}
        asyncio.run(profile(args.requests, settings))
        return
    figures = asyncio.run(measure(args.rounds, args.requests))
    has_setting = "access_log" in Settings.model_fields
    print(f"| path | configuration | us per request, median of {args.rounds} | fastest round |")
    print("|---|---|---:|---:|")
    for (path, name), values in figures.items():
        label = name if has_setting else f"{name} (no such setting: the code as it is)"
        print(f"| GET {path} | {label} | {statistics.median(values):.2f} | {min(values):.2f} |")
    for path in PATHS:
        on, off = figures[(path, "access log on")], figures[(path, "access log off")]
        added = statistics.median(a - b for a, b in zip(on, off, strict=True))
        print(f"| GET {path} | on minus off, median of the rounds' differences | {added:.2f} | |")


if __name__ == "__main__":
    main()
