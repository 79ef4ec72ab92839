"""The server's shutdown piece by piece: what each signal does, and what draining and the shutdown
timeout change in the answers. tests/e2e/test_shutdown.py sends real signals to a real serve."""

from __future__ import annotations

import asyncio
import json
import signal
from types import SimpleNamespace

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from entrypoints.readiness import LIFESPAN_KEY, Readiness
from entrypoints.server import CLOSE, SHUTTING_DOWN, DrainingServer, ServerConfig, ShutdownAnswers

SCOPE: Scope = {"type": "http", "method": "GET", "path": "/healthz", "headers": []}


def draining_server(delay: int) -> tuple[DrainingServer, Readiness]:
    config = ServerConfig(
        "entrypoints.http.app:create_app_from_env",
        factory=True,
        log_config=None,
        shutdown_delay=delay,
    )
    server = DrainingServer(config)
    readiness = Readiness(store_ready=True)
    # What uvicorn holds once the app's lifespan has started: the app's lifespan state.
    server.lifespan = SimpleNamespace(state={LIFESPAN_KEY: readiness})
    return server, readiness


async def test_the_first_signal_marks_the_app_draining_and_serving_goes_on_for_the_delay():
    server, readiness = draining_server(delay=30)
    assert readiness.ready
    server.handle_exit(signal.SIGTERM, None)
    assert readiness.draining and not readiness.ready
    assert await server.on_tick(1) is False
    assert not server.should_exit


async def test_serving_stops_at_the_first_tick_after_the_delay():
    server, _ = draining_server(delay=0)
    assert await server.on_tick(1) is False  # no signal yet
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(2) is True


def test_a_repeated_sigterm_leaves_the_delay_alone():
    # systemd and `kill` of the process group reach the workers directly and through the supervisor
    server, _ = draining_server(delay=30)
    server.handle_exit(signal.SIGTERM, None)
    server.handle_exit(signal.SIGTERM, None)
    assert not server.should_exit and not server.force_exit


def test_a_second_sigint_ends_the_delay_and_a_third_forces_the_exit():
    server, readiness = draining_server(delay=30)
    server.handle_exit(signal.SIGINT, None)
    assert readiness.draining and not server.should_exit
    server.handle_exit(signal.SIGINT, None)
    assert server.should_exit and not server.force_exit
    server.handle_exit(signal.SIGINT, None)
    assert server.force_exit


async def answering(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def call(app: ASGIApp, server: DrainingServer) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await ShutdownAnswers(app, server)(SCOPE, receive, send)
    return sent


async def test_responses_say_connection_close_from_the_signal_on():
    server, _ = draining_server(delay=30)
    before = await call(answering, server)
    server.handle_exit(signal.SIGTERM, None)
    after = await call(answering, server)
    assert before[0]["headers"] == [(b"x-a", b"1")]
    assert after[0]["headers"] == [(b"x-a", b"1"), CLOSE]
    assert after[1] == before[1]


async def hanging(scope: Scope, receive: Receive, send: Send) -> None:
    await asyncio.Event().wait()


async def half_answered(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await asyncio.Event().wait()


async def cancelled_once_running(
    app: ASGIApp, server: DrainingServer
) -> tuple[asyncio.Task[None], list[Message]]:
    """`app` called through ShutdownAnswers and cancelled once it runs, as uvicorn cancels the
    requests still running at the end of SHUTDOWN_TIMEOUT: the finished task, and what it sent."""
    running = asyncio.Event()
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start" and sent:
            raise RuntimeError("a second response start")  # as uvicorn refuses it
        sent.append(message)

    async def marking(scope: Scope, receive: Receive, send: Send) -> None:
        running.set()
        await app(scope, receive, send)

    task = asyncio.create_task(ShutdownAnswers(marking, server)(SCOPE, receive, send))
    await running.wait()
    task.cancel()
    await asyncio.wait([task])
    return task, sent


async def test_a_request_cancelled_at_the_shutdown_timeout_gets_503_and_connection_close():
    server, _ = draining_server(delay=0)
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(1) is True  # uvicorn's shutdown runs from here
    task, sent = await cancelled_once_running(hanging, server)
    assert not task.cancelled() and task.exception() is None
    start, body = sent
    assert start["status"] == 503
    assert CLOSE in start["headers"]
    assert (b"retry-after", b"1") in start["headers"]
    assert json.loads(body["body"]) == {"detail": SHUTTING_DOWN}


async def test_a_cancel_before_the_shutdown_is_left_alone():
    server, _ = draining_server(delay=30)
    server.handle_exit(signal.SIGTERM, None)  # still serving: not uvicorn's cancel at the timeout
    task, sent = await cancelled_once_running(hanging, server)
    assert task.cancelled() and sent == []


async def test_a_response_already_started_is_not_answered_again():
    server, _ = draining_server(delay=0)
    server.handle_exit(signal.SIGTERM, None)
    assert await server.on_tick(1) is True
    task, sent = await cancelled_once_running(half_answered, server)
    assert task.cancelled()  # uvicorn then closes the connection
    assert [message["type"] for message in sent] == ["http.response.start"]
