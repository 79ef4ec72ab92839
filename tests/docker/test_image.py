"""The container image, built from docker/Dockerfile and run against PostgreSQL in a container.

Needs a Docker engine. Without one these tests fail (they never skip) with a message that says how to
start one. The image is built and the containers started inside the first test rather than in a
fixture, so that such a problem is reported as a failure of the tests, not as a setup error; the
fixture only removes every container and network made here, whatever the outcome.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.docker.engine import IMAGE, built_image, docker, wait_until

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

POSTGRES_IMAGE = "postgres:16-alpine"
POSTGRES_TIMEOUT = 60  # seconds for the database to accept connections
START_TIMEOUT = 90  # seconds for /readyz after a start (the port opens at once, then migrations)
HEALTHY_TIMEOUT = 60  # seconds for Docker to report the image's HEALTHCHECK healthy
STOP_TIMEOUT = 20  # seconds `docker stop` waits before it kills
COOKIE = "session_id"


class App:
    """A running container of the image, reached through a port published on 127.0.0.1."""

    def __init__(self, container: str) -> None:
        self.container = container

    @property
    def base_url(self) -> str:
        # Asked each time: a restarted container may be given another ephemeral host port.
        return "http://" + docker("port", self.container, "8000/tcp").stdout.split()[0]

    def logs(self) -> str:
        result = docker("logs", "--tail", "200", self.container, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict:
        return json.loads(docker("inspect", "--format", "{{json .State}}", self.container).stdout)

    def answers_readyz(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_for_readyz(self) -> None:
        wait_until(lambda: not self.state()["Running"] or self.answers_readyz(), START_TIMEOUT)
        if not (self.state()["Running"] and self.answers_readyz()):
            pytest.fail(
                f"/readyz did not answer 200 within {START_TIMEOUT} s; container state "
                f"{self.state()}; logs:\n{self.logs()}",
                pytrace=False,
            )


class Stack:
    """The image, a Postgres container and an app container on a network of their own, made on first
    use. A failure to make them is remembered, so that later tests fail at once with the same message."""

    def __init__(self) -> None:
        run_id = uuid.uuid4().hex[:10]
        self.network = f"sessionauth-test-{run_id}"
        self.postgres = f"sessionauth-test-pg-{run_id}"
        self.container = f"sessionauth-test-app-{run_id}"
        self._app: App | None = None
        self._failure: str | None = None
        self._made_anything = False

    def app(self) -> App:
        if self._failure is not None:
            pytest.fail(self._failure, pytrace=False)
        if self._app is None:
            try:
                self._app = self._start()
            except pytest.fail.Exception as failure:
                self._failure = failure.msg
                raise
        return self._app

    def remove(self) -> None:
        if not self._made_anything:
            return
        for name in (self.container, self.postgres):
            docker("rm", "--force", "--volumes", name, check=False)
        docker("network", "rm", self.network, check=False)

    def _start(self) -> App:
        started = time.monotonic()
        built_image()

        self._made_anything = True
        password = secrets.token_hex(16)
        docker("network", "create", self.network)
        docker(
            "run",
            "--detach",
            "--name",
            self.postgres,
            "--network",
            self.network,
            "--env",
            "POSTGRES_USER=sessionauth",
            "--env",
            "POSTGRES_DB=sessionauth",
            "--env",
            f"POSTGRES_PASSWORD={password}",
            POSTGRES_IMAGE,
        )
        # Over TCP, as in compose.yaml: the first-start initialisation listens on the socket only.
        if not wait_until(self._postgres_ready, POSTGRES_TIMEOUT):
            logs = docker("logs", self.postgres, check=False)
            pytest.fail(
                f"{POSTGRES_IMAGE} not ready within {POSTGRES_TIMEOUT} s:\n{logs.stderr[-4000:]}",
                pytrace=False,
            )
        docker(
            "run",
            "--detach",
            "--name",
            self.container,
            "--network",
            self.network,
            "--publish",
            "127.0.0.1::8000",
            "--env",
            f"DATABASE_URL=postgresql://sessionauth:{password}@{self.postgres}:5432/sessionauth",
            "--env",
            "SESSION_COOKIE_SECURE=false",  # the tests talk plain http
            # The image's own HEALTHCHECK command, probed every second instead of every 30 s.
            "--health-interval",
            "1s",
            "--stop-timeout",
            str(STOP_TIMEOUT),
            IMAGE,
        )
        app = App(self.container)
        app.wait_for_readyz()
        print(f"stack up in {time.monotonic() - started:.1f} s (build included)")
        return app

    def _postgres_ready(self) -> bool:
        probe = ("exec", self.postgres, "pg_isready", "--host=127.0.0.1", "--username=sessionauth")
        return docker(*probe, check=False).returncode == 0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    made = Stack()
    try:
        yield made
    finally:
        made.remove()


def sign_up(client: httpx.Client) -> tuple[str, str]:
    username = f"alice{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(18)
    response = client.post("/signup", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    return username, password


def test_the_service_runs_as_a_non_root_user(stack: Stack) -> None:
    app = stack.app()

    uid = docker("exec", app.container, "id", "-u").stdout.strip()

    assert uid.isdigit() and int(uid) != 0


def test_docker_reports_the_image_healthcheck_as_healthy(stack: Stack) -> None:
    app = stack.app()
    healthcheck = json.loads(
        docker("image", "inspect", "--format", "{{json .Config.Healthcheck}}", IMAGE).stdout
    )
    assert "/healthz" in " ".join(healthcheck["Test"])

    healthy = wait_until(lambda: app.state()["Health"]["Status"] == "healthy", HEALTHY_TIMEOUT)

    assert healthy, f"health: {app.state()['Health']}\nlogs:\n{app.logs()}"


def test_sign_up_login_me_logout_against_postgres(stack: Stack) -> None:
    app = stack.app()
    with httpx.Client(base_url=app.base_url, timeout=30) as client:
        username, password = sign_up(client)

        login = client.post("/login", auth=(username, password))
        assert login.status_code == 200, login.text
        set_cookie = login.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE}=") and "httponly" in set_cookie.lower()
        token = client.cookies[COOKIE]

        me = client.get("/getusers/me")
        assert me.status_code == 200, me.text
        assert me.json()["username"] == username

        logout = client.post("/logout")
        assert logout.status_code == 200, logout.text

        after = client.get("/getusers/me")
        assert after.status_code == 401

    # The token itself, presented again after logout, is refused: the session ended on the server.
    replayed = httpx.get(
        f"{app.base_url}/getusers/me", headers={"Cookie": f"{COOKIE}={token}"}, timeout=30
    )
    assert replayed.status_code == 401


def test_sigterm_exits_zero_and_users_survive_a_restart(stack: Stack) -> None:
    app = stack.app()
    with httpx.Client(base_url=app.base_url, timeout=30) as client:
        username, password = sign_up(client)

    docker("stop", app.container, timeout=STOP_TIMEOUT + 30)
    assert app.state()["ExitCode"] == 0, app.logs()

    docker("start", app.container)
    app.wait_for_readyz()
    login = httpx.post(f"{app.base_url}/login", auth=(username, password), timeout=30)

    assert login.status_code == 200, f"{login.text}\nlogs:\n{app.logs()}"
