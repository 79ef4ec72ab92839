"""FastAPI's own OpenTelemetry check: asked once when the app starts, not on every request, and
FastAPI's instrumented path kept when a provider is configured."""

import httpx
import pytest

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2


class CountingCheck:
    def __init__(self, answer: bool):
        self.answer = answer
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.answer


async def requests_after_start(app, check: CountingCheck) -> list[int]:
    app._native_telemetry.enabled = check
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://testserver") as client,
    ):
        calls_at_start = check.calls
        statuses = [(await client.get(path)).status_code for path in ("/healthz", "/protected")]
        statuses += [(await client.get("/healthz")).status_code for _ in range(5)]
        return [calls_at_start, check.calls - calls_at_start, *statuses]


def app(fast_path: bool = True):
    return create_app(build_container(load_settings(**FAST_ARGON2)), fast_path=fast_path)


@pytest.mark.parametrize("fast_path", [True, False])
async def test_without_a_provider_requests_skip_fastapis_per_request_check(fast_path):
    check = CountingCheck(False)
    made = app(fast_path)
    at_start, per_request, *statuses = await requests_after_start(made, check)
    assert made.telemetry_enabled is False
    assert at_start >= 1 and per_request == 0
    assert statuses == [200, 401, 200, 200, 200, 200, 200]


async def test_with_a_provider_at_start_fastapis_instrumented_path_is_kept():
    check = CountingCheck(True)
    made = app()
    _, per_request, *statuses = await requests_after_start(made, check)
    assert made.telemetry_enabled is True
    assert per_request >= 7  # FastAPI asked on each request, as it does without this service
    assert statuses == [200, 401, 200, 200, 200, 200, 200]
