"""API tests: the real app on the in-memory store through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.api.client import AppClient, running_client
from tests.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock) -> AsyncIterator[AppClient]:
    async with running_client(clock=clock) as client:
        yield client


@pytest.fixture
def make_client() -> Callable[..., object]:
    return running_client
