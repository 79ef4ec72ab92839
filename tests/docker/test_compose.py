"""docker/compose.yaml, run for real with Compose v1 (Debian's docker-compose): PostgreSQL, two
sessionauth replicas and nginx doing forward auth in front of the demo application.

Needs a Docker engine with the images (CI: ../shared/tools/docker-standins) and docker-compose.
Without either these tests fail (never skip), saying how to get it. The image is the one
tests/docker/test_image.py uses (built once per run), and the stack starts inside the first test
that needs it, so that a problem is a test failure rather than a setup error. Whatever happens,
the fixture takes the stack down with its volumes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.docker.engine import REPO_ROOT, built_image, docker, require_engine, wait_until
from tests.processes import free_port

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

COMPOSE_FILES = ("docker/compose.yaml", "tests/docker/compose.replica-ports.yaml")
UP_TIMEOUT = 300  # seconds for `up`, which waits for Postgres and both replicas to be healthy
READY_TIMEOUT = 60  # seconds for nginx to pass requests on to sessionauth
PROPAGATION_TIMEOUT = 5  # seconds for a revocation on one replica to reach the other (goal: 0.1 s)
PASSWORD = "correct horse battery staple"
COOKIE = "session_id"
_STACK_SETTINGS = (
    "TRUSTED_PROXIES",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
)  # the test's own, not the caller's
INSTALL_COMPOSE = (
    "docker-compose is not installed; this test runs docker/compose.yaml for real. Install Debian's "
    "package: `apt-get install docker-compose` (`make test` does it when run as root)."
)


class ComposeStack:
    """The compose project, made on first use under a name of its own, with nginx on a free port."""

    def __init__(self) -> None:
        self.project = f"sessionauth-test-{uuid.uuid4().hex[:10]}"
        self.nginx_url = ""
        self.replica_urls: dict[str, str] = {}
        self._env = {
            **{k: v for k, v in os.environ.items() if k not in _STACK_SETTINGS},
            "POSTGRES_PASSWORD": secrets.token_hex(16),
        }
        self._started = False
        self._failure: str | None = None
        self._made_anything = False

    def start(self) -> ComposeStack:
        if self._failure is not None:
            pytest.fail(self._failure, pytrace=False)
        if not self._started:
            try:
                self._start()
            except pytest.fail.Exception as failure:
                self._failure = failure.msg
                raise
            self._started = True
        return self

    def compose(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        files = [arg for path in COMPOSE_FILES for arg in ("-f", path)]
        result = subprocess.run(
            ["docker-compose", "--ansi", "never", "-p", self.project, *files, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=REPO_ROOT,
            env=self._env,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"`docker-compose {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}",
                pytrace=False,
            )
        return result

    def logs(self) -> str:
        result = self.compose("logs", "--no-color", "--tail", "40", check=False)
        return (result.stdout + result.stderr)[-6000:]

    def container_address(self, service: str) -> str:
        container = self.compose("ps", "-q", service).stdout.strip()
        template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
        return docker("inspect", "--format", template, container).stdout.strip()

    def down(self) -> None:
        if self._made_anything:
            self.compose(
                "down", "--volumes", "--remove-orphans", "--timeout", "10", timeout=180, check=False
            )

    def _start(self) -> None:
        if shutil.which("docker-compose") is None:
            pytest.fail(INSTALL_COMPOSE, pytrace=False)
        require_engine()
        self._env["SESSIONAUTH_IMAGE"] = built_image()
        self._env["NGINX_PORT"] = str(free_port())
        self.nginx_url = f"http://127.0.0.1:{self._env['NGINX_PORT']}"

        started = time.monotonic()
        self._made_anything = True
        self.compose("up", "--detach", "--no-build", timeout=UP_TIMEOUT)
        for replica in ("sessionauth-1", "sessionauth-2"):
            published = self.compose("port", replica, "8000").stdout.strip()
            self.replica_urls[replica] = f"http://{published}"
        if not wait_until(self._nginx_reaches_sessionauth, READY_TIMEOUT):
            pytest.fail(
                f"nginx did not reach sessionauth within {READY_TIMEOUT} s:\n{self.logs()}",
                pytrace=False,
            )
        print(f"\ncompose stack {self.project} up in {time.monotonic() - started:.1f} s")

    def _nginx_reaches_sessionauth(self) -> bool:
        # A cookie that names no session makes sessionauth ask its store: its own JSON 401, not
        # nginx's 502 for an upstream that is not there yet, nor the 503 of a replica whose store
        # is not up yet (its port opens first). Asked a few times: nginx takes turns.
        for _ in range(4):
            try:
                response = httpx.get(
                    f"{self.nginx_url}/getusers/me",
                    headers={"cookie": "session_id=" + "a" * 43},
                    timeout=2,
                )
            except httpx.HTTPError:
                return False
            if not (
                response.status_code == 401
                and response.headers.get("content-type") == "application/json"
            ):
                return False
        return True


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    made = ComposeStack()
    try:
        yield made
    finally:
        made.down()


def sign_up_and_log_in(stack: ComposeStack, username: str) -> tuple[dict, str]:
    with httpx.Client(base_url=stack.nginx_url, timeout=30) as client:
        signup = client.post("/signup", json={"username": username, "password": PASSWORD})
        assert signup.status_code == 201, signup.text
        login = client.post("/login", auth=(username, PASSWORD))
        assert login.status_code == 200, login.text
        return signup.json()["user"], login.cookies[COOKIE]


def with_cookie(token: str, **headers: str) -> dict[str, str]:
    return {"cookie": f"{COOKIE}={token}", **headers}


def test_the_demo_application_is_reached_only_with_a_session(stack: ComposeStack) -> None:
    stack.start()
    username = f"Jürgen.{secrets.token_hex(4)}"

    anonymous = httpx.get(
        f"{stack.nginx_url}/hello", headers={"X-Auth-User-Id": "spoofed"}, timeout=30
    )
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.json() == {"detail": "Not authenticated"}

    user, token = sign_up_and_log_in(stack, username)
    spoofed = with_cookie(token, **{"X-Auth-User-Id": "spoofed"})
    page = httpx.get(f"{stack.nginx_url}/hello", headers=spoofed, timeout=30)

    assert page.status_code == 200, page.text
    echoed = page.json()
    assert echoed["message"] == "Hello from the demo application"
    assert (echoed["user_id"], echoed["username"]) == (user["user_id"], username)


def test_a_session_revoked_on_one_replica_is_refused_by_the_other_and_by_nginx(
    stack: ComposeStack,
) -> None:
    stack.start()
    _, token = sign_up_and_log_in(stack, f"revoked.{secrets.token_hex(4)}")
    one, two = stack.replica_urls["sessionauth-1"], stack.replica_urls["sessionauth-2"]
    for url in (f"{one}/protected", f"{two}/protected", f"{stack.nginx_url}/hello"):
        assert httpx.get(url, headers=with_cookie(token), timeout=30).status_code == 200, url

    logout = httpx.post(f"{one}/logout", headers=with_cookie(token), timeout=30)
    assert logout.status_code == 200, logout.text

    def refused(url: str) -> bool:
        return httpx.get(url, headers=with_cookie(token), timeout=30).status_code == 401

    assert wait_until(lambda: refused(f"{two}/protected"), PROPAGATION_TIMEOUT, interval=0.05), (
        stack.logs()
    )
    # nginx takes the replicas in turn: every one of several requests is refused
    assert all(refused(f"{stack.nginx_url}/hello") for _ in range(4))


def test_sessionauth_records_the_address_nginx_saw_not_the_one_claimed(stack: ComposeStack) -> None:
    stack.start()
    username = f"address.{secrets.token_hex(4)}"
    with httpx.Client(
        base_url=stack.nginx_url, headers={"X-Forwarded-For": "203.0.113.7"}, timeout=30
    ) as client:
        assert (
            client.post("/signup", json={"username": username, "password": PASSWORD}).status_code
            == 201
        )
        assert client.post("/login", auth=(username, PASSWORD)).status_code == 200
        sessions = client.get("/sessions")
    # nginx's access log starts each line with the client address it saw ($remote_addr)
    nginx_log = stack.compose("logs", "--no-color", "nginx").stdout.splitlines()
    seen_by_nginx = [
        line.split("|", 1)[-1].split()[0] for line in nginx_log if '"GET /sessions ' in line
    ][-1]

    (current,) = [s for s in sessions.json() if s["current"]]
    # Not the claim, and not nginx's own address either (that would mean TRUSTED_PROXIES misses it).
    assert current["ip"] == seen_by_nginx
    assert current["ip"] not in ("203.0.113.7", stack.container_address("nginx"))
