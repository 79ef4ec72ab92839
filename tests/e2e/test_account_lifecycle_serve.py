"""The account lifecycle through a real `sessionauth serve` on Postgres, with the commands an
operator runs beside it: disable-user, enable-user, delete-user, revoke-sessions --all."""

import json

import httpx
import pytest

from tests.postgres_provider import sql
from tests.processes import run_cli, serving, serving_many

PASSWORD = "correct horse battery staple"


def login(server, username="alice"):
    with httpx.Client(base_url=server.url) as c:
        return c.post("/login", auth=(username, PASSWORD))


def me(server, response) -> int:
    with httpx.Client(base_url=server.url) as c:
        cookie = {"cookie": f"session_id={response.cookies['session_id']}"}
        return c.get("/getusers/me", headers=cookie).status_code


def sign_up(server, *usernames):
    with httpx.Client(base_url=server.url) as c:
        for username in usernames:
            body = {"username": username, "password": PASSWORD}
            assert c.post("/signup", json=body).status_code == 201


def test_disable_enable_and_delete_from_the_command_line(database_url):
    with serving_many(2, DATABASE_URL=database_url) as (server, other):
        sign_up(server, "Alice", "bob")
        alice, bob = login(server), login(server, "bob")
        on_other = login(other)
        for instance in (server, other):  # and cached by both instances now
            assert me(instance, alice) == 200 and me(instance, on_other) == 200

        disabled = run_cli("disable-user", "ALICE", DATABASE_URL=database_url)
        assert disabled.returncode == 0, disabled.stderr
        assert disabled.stdout.strip() == "disabled ALICE, revoked 2 sessions"
        for instance in (server, other):
            assert me(instance, alice) == 401 and me(instance, on_other) == 401
            assert me(instance, bob) == 200
        refused = login(server)
        assert refused.status_code == 401 and refused.json() == {"detail": "Invalid credentials"}
        assert me(server, bob) == 200

        enabled = run_cli("enable-user", "alice", DATABASE_URL=database_url)
        assert enabled.returncode == 0, enabled.stderr
        assert enabled.stdout.strip() == "enabled alice"
        again = login(server)
        assert again.status_code == 200 and me(server, again) == 200

        deleted = run_cli("delete-user", "alice", DATABASE_URL=database_url)
        assert deleted.returncode == 0, deleted.stderr
        assert deleted.stdout.strip() == "deleted alice"
        assert me(server, again) == 401
        assert login(server).status_code == 401
        assert me(server, bob) == 200

        for command in ("disable-user", "enable-user", "delete-user"):
            unknown = run_cli(command, "alice", DATABASE_URL=database_url)
            assert unknown.returncode == 1
            assert unknown.stderr.strip() == "sessionauth: no such user: alice"
        assert server.stop() == 0
        log = server.output()

    events = [json.loads(line) for line in log.splitlines() if '"audit": true' in line]
    assert "login_disabled" in {e["event"] for e in events}
    assert PASSWORD not in log


def test_revoke_sessions_for_everyone(database_url):
    with serving(DATABASE_URL=database_url) as server:
        sql(database_url, "DELETE FROM sessions")  # those of the module's other tests
        sign_up(server, "carol", "dave")
        sessions = [login(server, "carol"), login(server, "carol"), login(server, "dave")]
        assert all(me(server, s) == 200 for s in sessions)

        revoked = run_cli("revoke-sessions", "--all", DATABASE_URL=database_url)
        assert revoked.returncode == 0, revoked.stderr
        assert revoked.stdout.strip() == "revoked 3 sessions"
        assert all(me(server, s) == 401 for s in sessions)
        assert me(server, login(server, "dave")) == 200  # accounts stay


@pytest.mark.parametrize(
    "args",
    [
        ("revoke-sessions",),
        ("revoke-sessions", "alice", "--all"),
        ("disable-user",),
        ("delete-user", "a", "b"),
    ],
)
def test_usage_errors_exit_2(args):
    result = run_cli(*args)
    assert result.returncode == 2 and "usage:" in result.stderr


@pytest.mark.parametrize("database_url", [None, "memory:"], ids=["unset", "memory"])
@pytest.mark.parametrize(
    "args",
    [
        ("disable-user", "alice"),
        ("enable-user", "alice"),
        ("delete-user", "alice"),
        ("revoke-sessions", "--all"),
    ],
)
def test_account_commands_need_a_database_url(args, database_url):
    result = run_cli(*args, **({"DATABASE_URL": database_url} if database_url else {}))
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr


@pytest.fixture(params=["memory", "postgres"])
def store_settings(request):
    if request.param == "memory":
        return {}
    return {"DATABASE_URL": request.getfixturevalue("database_url")}


def test_users_delete_their_own_account(store_settings):
    with serving(SESSION_LIMIT_PER_USER="2", **store_settings) as server:
        sign_up(server, "erin")
        first, second = login(server, "erin"), login(server, "erin")
        third = login(server, "erin")  # beyond the limit of 2: the first one ends
        assert [me(server, s) for s in (first, second, third)] == [401, 200, 200]
        with httpx.Client(base_url=server.url) as c:
            cookie = {"cookie": f"session_id={third.cookies['session_id']}"}
            gone = c.request(
                "DELETE", "/account", json={"current_password": PASSWORD}, headers=cookie
            )
        assert gone.status_code == 204 and 'session_id=""' in gone.headers["set-cookie"]
        assert me(server, second) == 401 and me(server, third) == 401
        assert login(server, "erin").status_code == 401
