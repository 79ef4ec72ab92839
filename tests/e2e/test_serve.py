"""A real `sessionauth serve` process, driven over HTTP."""

import signal
from pathlib import Path

import httpx
import pytest

from tests.processes import serving

PASSWORD = "correct horse battery staple"


def test_the_flow_survives_a_restart_on_postgres(database_url):
    with serving(DATABASE_URL=database_url) as server:
        with httpx.Client(base_url=server.url) as client:
            assert (
                client.post("/signup", json={"username": "Alice", "password": PASSWORD}).status_code
                == 201
            )
            login = client.post("/login", auth=("alice", PASSWORD))
            assert login.status_code == 200
            cookie = login.cookies["session_id"]
            assert client.get("/protected").status_code == 200
        assert server.stop() == 0  # SIGTERM: graceful, exit status 0

    with serving(DATABASE_URL=database_url) as server:
        with httpx.Client(base_url=server.url, cookies={"session_id": cookie}) as client:
            me = client.get("/getusers/me")
            assert me.status_code == 200 and me.json()["username"] == "Alice"
            assert client.post("/logout").status_code == 200
            assert client.get("/getusers/me").status_code == 401
        with httpx.Client(base_url=server.url) as client:
            assert (
                client.post("/login", json={"username": "ALICE", "password": PASSWORD}).status_code
                == 200
            )
        assert server.stop() == 0


@pytest.mark.parametrize("store", [{}, {"DATABASE_URL": "memory:"}], ids=["unset", "memory"])
def test_serve_on_the_memory_store_warns_that_nothing_persists(store):
    with serving(**store) as server:
        with httpx.Client(base_url=server.url) as client:
            assert (
                client.post("/signup", json={"username": "bob", "password": PASSWORD}).status_code
                == 201
            )
            assert client.post("/login", auth=("bob", PASSWORD)).status_code == 200
            assert client.get("/getusers/me").json()["username"] == "bob"
        assert server.stop() == 0
        log = server.output()
    assert "nothing persists" in log
    assert PASSWORD not in log


def test_sigint_also_stops_cleanly():
    with serving() as server:
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(30) == 0


def test_two_workers_on_postgres_share_sessions_and_stop_cleanly(database_url):
    with serving("--workers", "2", DATABASE_URL=database_url) as server:
        with httpx.Client(base_url=server.url) as client:
            assert (
                client.post(
                    "/signup", json={"username": "workers", "password": PASSWORD}
                ).status_code
                == 201
            )
            assert client.post("/login", auth=("workers", PASSWORD)).status_code == 200
            # new connections land on either worker; every one must know the session
            for _ in range(20):
                with httpx.Client(base_url=server.url, cookies=client.cookies) as fresh:
                    assert fresh.get("/getusers/me").status_code == 200
        assert server.stop() == 0


def environ_of(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_serve_runs_with_transparent_huge_pages_for_argon2():
    with serving() as server:
        environ = environ_of(server.process.pid)
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=1" in environ
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/healthz").status_code == 200
        assert server.stop() == 0


def test_an_operators_own_huge_page_tunable_is_left_alone():
    with serving(GLIBC_TUNABLES="glibc.malloc.hugetlb=0") as server:
        environ = environ_of(server.process.pid)
        assert b"GLIBC_TUNABLES=glibc.malloc.hugetlb=0" in environ
        assert server.stop() == 0
