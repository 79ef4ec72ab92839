"""The HTTP server of `sessionauth serve`: uvicorn's, with a shutdown that loses no request behind
a load balancer.

A load balancer (Kubernetes' endpoints, an ingress, a cloud balancer) goes on sending new
connections to an instance for a few seconds after the instance was told to stop: until it has seen
the instance go unready, or the endpoint removal has reached it. uvicorn alone stops accepting at
the signal, so those connections are refused. Here, on SIGTERM or SIGINT:

1. `/readyz` answers 503 at once, while every request is still served and new connections still
   accepted, for SHUTDOWN_DELAY seconds; the answers say `Connection: close` meanwhile.
2. Then uvicorn's graceful shutdown: stop accepting, close idle connections, give the requests in
   flight SHUTDOWN_TIMEOUT seconds. One still running then gets a 503 (uvicorn cancels it and
   would answer 500).
3. The process exits 0.

With `--workers N`, uvicorn's supervisor sends SIGTERM to every worker and waits for them; each
worker runs this server, so each does the delay itself and each one's `/readyz` turns 503.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable
from types import FrameType
from typing import Any, cast

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

from entrypoints.http.middleware import SecurityHeaders, send_json
from entrypoints.readiness import LIFESPAN_KEY, Readiness

log = logging.getLogger("sessionauth")

CLOSE = (b"connection", b"close")
SHUTTING_DOWN = "The server is shutting down; retry the request"
SHUTDOWN_RETRY_AFTER = b"1"  # seconds: another instance, or this one's successor, will answer


class ServerConfig(uvicorn.Config):
    """uvicorn's Config, with the seconds to go on serving after the signal (SHUTDOWN_DELAY).
    `--workers N` pickles it to every worker with the rest."""

    def __init__(self, app: str, *, shutdown_delay: int = 0, **options: Any) -> None:
        super().__init__(app, **options)
        self.shutdown_delay = shutdown_delay


class DrainingServer(uvicorn.Server):
    """uvicorn's Server, serving on for `shutdown_delay` seconds after the signal.

    - The first SIGTERM or SIGINT starts the delay and marks the app's Readiness draining (the app
      hands it over in its lifespan state, under LIFESPAN_KEY).
    - A second SIGINT (Ctrl+C again) ends the delay; a third forces the exit, as uvicorn's second
      does: requests in flight are no longer waited for.
    - A repeated SIGTERM changes nothing: systemd (KillMode=control-group) and `kill` of the
      process group signal the workers of `--workers N` directly as well as through the
      supervisor, and that must not cut the delay short.
    - The signal is not raised again after the shutdown (uvicorn's own Server does that, so a
      process would end by the signal): the process exits 0, as the contract asks.
    """

    def __init__(self, config: ServerConfig) -> None:
        super().__init__(config)
        self.shutdown_delay = config.shutdown_delay
        self.draining = False
        self._signal = ""
        self._serving_until = 0.0  # time.monotonic() at which the delay ends
        self._announced = False

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # Protocols and the lifespan read the app from the config when they start, after this.
        self.config.loaded_app = ShutdownAnswers(self.config.loaded_app, self)
        await super().startup(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler, run between two bytecodes of the event loop's thread: it sets flags
        # only; the loop logs and acts on them at its next tick (every 0.1 s).
        if not self.draining:
            self.draining = True
            self._signal = signal.Signals(sig).name
            self._serving_until = time.monotonic() + self.shutdown_delay
            self._mark_app_draining()
        elif sig == signal.SIGINT:
            self.force_exit = self.should_exit
            self.should_exit = True

    async def on_tick(self, counter: int) -> bool:
        if self.draining:
            self._announce()
            if time.monotonic() >= self._serving_until:
                self.should_exit = True
        return await super().on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.draining:
            self._announce()  # a signal during start-up with no delay: no tick came between
        log.info(
            "stopped accepting",
            extra={
                "in_flight": len(self.server_state.tasks),
                "shutdown_timeout": self.config.timeout_graceful_shutdown,
                "pid": os.getpid(),
            },
        )
        await super().shutdown(sockets)
        log.info("shutdown complete", extra={"pid": os.getpid()})

    def _announce(self) -> None:
        if self._announced:
            return
        self._announced = True
        self._mark_app_draining()  # again: the signal may have come before the app had started
        log.info(
            "draining: /readyz answers 503, serving for %d s",
            self.shutdown_delay,
            extra={
                "signal": self._signal,
                "shutdown_delay": self.shutdown_delay,
                "pid": os.getpid(),
            },
        )

    def _mark_app_draining(self) -> None:
        lifespan = getattr(self, "lifespan", None)  # set once the server has loaded the app
        readiness = lifespan.state.get(LIFESPAN_KEY) if lifespan is not None else None
        if isinstance(readiness, Readiness):
            readiness.draining = True


class ShutdownAnswers:
    """In front of the app, what the server's shutdown changes in its answers:

    - every request that arrives from the signal on is answered with `Connection: close`, so
      that clients and load balancers leave their keep-alive connections while new ones are still
      accepted; one left idle until the server stops accepting would be closed under a request on
      its way to it (uvicorn's own shutdown then says it to the requests in flight);
    - a request still running at the end of SHUTDOWN_TIMEOUT, which uvicorn cancels, gets a 503
      saying so, with `Connection: close`, unless its response had started: then uvicorn closes
      the connection, as it would have.

    Until the signal it costs a flag test per request: nothing wraps `send`.
    """

    def __init__(self, app: ASGIApp, server: DrainingServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        try:
            await self.app(scope, receive, _closing(send) if self.server.draining else send)
        except asyncio.CancelledError:
            if not self.server.should_exit:
                raise
            # uvicorn's cancel at the end of SHUTDOWN_TIMEOUT, answered here: not an error.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            headers = [*SecurityHeaders.HEADERS, (b"retry-after", SHUTDOWN_RETRY_AFTER), CLOSE]
            try:
                await send_json(send, 503, {"detail": SHUTTING_DOWN}, headers)
            except RuntimeError:
                # An ASGI server refuses a second response start: this response had started.
                # The cancel goes on, and uvicorn closes the connection.
                raise asyncio.CancelledError from None


def _closing(send: Send) -> Send:
    def send_closing(message: Message) -> Awaitable[None]:
        # Not a coroutine of its own: it hands back send's, one frame less per message.
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), CLOSE]}
        return send(message)

    return send_closing


class DrainingWorker(multiprocess.Process):
    """A worker process of `--workers N`: uvicorn's, running a DrainingServer."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(cast(ServerConfig, self.config))
        return self._server


class Supervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor of `--workers N`, its workers DrainingWorkers. On SIGTERM or SIGINT it
    sends SIGTERM to every worker and waits for them all, however long their delay and timeout."""

    def run(self) -> None:
        # uvicorn names its worker class in each method that starts a worker (at start, in place
        # of one that died, on SIGHUP and SIGTTIN) and takes no parameter for it: the name is
        # pointed at DrainingWorker while the supervisor runs. Nothing else in this process uses
        # uvicorn's multiprocess module; copying those methods to change one name would be worse.
        uvicorns = multiprocess.Process
        multiprocess.Process = DrainingWorker  # type: ignore[misc]
        try:
            super().run()
        finally:
            multiprocess.Process = uvicorns  # type: ignore[misc]

    def terminate_all(self) -> None:
        super().terminate_all()
        # The workers accept on copies of the listening socket until their delay ends. Once they
        # have closed theirs, this copy would keep the socket listening: the kernel would go on
        # queueing connections that no one answers until the supervisor exits.
        for sock in self.sockets:
            sock.close()


def serve(config: ServerConfig) -> None:
    """Run the app of `config` as `uvicorn.run` does (without its reloader): one DrainingServer,
    or a Supervisor of `config.workers` of them; exits with uvicorn's status when the server
    could not start."""
    if config.workers > 1:
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = DrainingServer(config)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
