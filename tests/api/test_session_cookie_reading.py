"""Every path reads the session cookie the same way (the spec's "The session cookie"): the first
of a duplicated name (RFC 6265 sends the most specific first), a double-quoted value unquoted.

Cookie tossing from a sibling subdomain puts a second `session_id` beside the real one; the fast
path took the first and the full stack (Starlette's `request.cookies`) the last, so /auth/verify
and /logout acted on different sessions. Each path below is sent the same forms and must agree.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.requests import Request

from entrypoints.http.dependencies import get_client
from tests.api.client import running_client, sign_up
from tests.api.host_app import host_app, make_auth, serving
from tests.constants import PASSWORD

SAME_ORIGIN = {
    "origin": "https://testserver"
}  # sends a request past the fast path, to the full stack


async def token_of(client: httpx.AsyncClient, username: str) -> str:
    await sign_up(client, username)
    client.cookies.clear()
    response = await client.post("/login", auth=(username, PASSWORD))
    assert response.status_code == 200
    client.cookies.clear()
    return response.cookies["session_id"]


@asynccontextmanager
async def two_sessions() -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """A client with no cookie jar of its own, alice's token and bob's."""
    async with running_client() as client:
        yield client, await token_of(client, "alice"), await token_of(client, "bob")


def forms(alice: str, bob: str) -> dict[str, tuple[str, str | None]]:
    """Cookie header -> whose session it names (None: nobody's)."""
    return {
        "duplicate, the first names alice": (f"session_id={alice}; session_id={bob}", "alice"),
        "duplicate, the first is garbage": (f"session_id=garbage; session_id={alice}", None),
        "quoted": (f'session_id="{alice}"', "alice"),
        "quoted beside another cookie": (
            f'theme=dark; session_id="{alice}"; session_id={bob}',
            "alice",
        ),
    }


FORMS = list(forms("a", "b"))


async def verify_answer(
    client: httpx.AsyncClient, cookie: str, extra: dict[str, str]
) -> str | None:
    response = await client.get("/auth/verify", headers={"cookie": cookie, **extra})
    assert response.status_code in (200, 401), response.text
    return response.headers.get("x-auth-username")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("path", ["/protected", "/getusers/me", "/auth/verify"])
@pytest.mark.parametrize("stack", ["fast path", "full stack"])
async def test_the_json_api_reads_the_first_and_unquoted_cookie(form, path, stack):
    async with two_sessions() as (client, alice, bob):
        cookie, owner = forms(alice, bob)[form]
        extra = SAME_ORIGIN if stack == "full stack" else {}
        response = await client.get(path, headers={"cookie": cookie, **extra})
        if owner is None:
            assert response.status_code == 401
            assert (
                response.headers["set-cookie"].startswith("session_id=")
                and "Max-Age=0" in response.headers["set-cookie"]
            )
        else:
            assert response.status_code == 200, response.text
            if path == "/auth/verify":
                assert response.headers["x-auth-username"] == owner
            elif path == "/getusers/me":
                assert response.json()["username"] == owner
            else:
                assert response.json()["user"]["username"] == owner


@pytest.mark.parametrize("form", FORMS)
async def test_logout_ends_the_session_that_forward_auth_saw(form):
    async with two_sessions() as (client, alice, bob):
        cookie, owner = forms(alice, bob)[form]
        seen = await verify_answer(client, cookie, {})
        assert seen == owner
        logout = await client.post("/logout", headers={"cookie": cookie, **SAME_ORIGIN})
        assert logout.status_code == (200 if owner else 401)
        # alice's session ended exactly when forward auth had seen it; bob's never did
        assert await verify_answer(client, f"session_id={alice}", {}) == (
            None if owner else "alice"
        )
        assert await verify_answer(client, f"session_id={bob}", {}) == "bob"


@pytest.mark.parametrize("form", FORMS)
async def test_login_revokes_the_presented_session_forward_auth_saw(form):
    async with two_sessions() as (client, alice, bob):
        cookie, owner = forms(alice, bob)[form]
        response = await client.post("/login", auth=("alice", PASSWORD), headers={"cookie": cookie})
        assert response.status_code == 200
        assert await verify_answer(client, f"session_id={alice}", {}) == (
            None if owner else "alice"
        )
        assert await verify_answer(client, f"session_id={bob}", {}) == "bob"


@pytest.mark.parametrize("form", FORMS)
async def test_the_pages_read_the_first_and_unquoted_cookie(form):
    async with two_sessions() as (client, alice, bob):
        cookie, owner = forms(alice, bob)[form]
        response = await client.get("/ui/", headers={"cookie": cookie})
        if owner is None:
            assert (
                response.status_code == 303
                and response.headers["location"] == "/ui/login?notice=ended"
            )
            assert "Max-Age=0" in response.headers["set-cookie"]
        else:
            assert response.status_code == 200
            assert f'<dd id="username">{owner}</dd>' in response.text


@pytest.mark.parametrize("form", FORMS)
async def test_the_ui_login_revokes_the_presented_session_forward_auth_saw(form):
    async with two_sessions() as (client, alice, bob):
        cookie, owner = forms(alice, bob)[form]
        response = await client.post(
            "/ui/login",
            data={"username": "alice", "password": PASSWORD},
            headers={"cookie": cookie},
        )
        assert response.status_code == 303
        assert await verify_answer(client, f"session_id={alice}", {}) == (
            None if owner else "alice"
        )
        assert await verify_answer(client, f"session_id={bob}", {}) == "bob"


@pytest.mark.parametrize("form", FORMS)
async def test_the_embedding_dependency_reads_the_first_and_unquoted_cookie(form):
    async with serving(host_app(make_auth())) as client:
        tokens = {}
        for username in ("alice", "bob"):
            assert (
                await client.post("/auth/signup", json={"username": username, "password": PASSWORD})
            ).status_code == 201
            tokens[username] = (
                await client.post("/auth/login", auth=(username, PASSWORD))
            ).cookies["session_id"]
            client.cookies.clear()
        cookie, owner = forms(tokens["alice"], tokens["bob"])[form]
        response = await client.get("/mine", headers={"cookie": cookie})
        if owner is None:
            assert response.status_code == 401 and "Max-Age=0" in response.headers["set-cookie"]
        else:
            assert response.status_code == 200 and response.json()["username"] == owner


@pytest.mark.parametrize(
    "header, expected",
    [
        ("session_id_device=first; session_id_device=second", "first"),
        ('session_id_device="quoted"', "quoted"),
    ],
)
async def test_the_device_cookie_is_read_by_the_same_rule(header, expected):
    async with running_client() as client:
        app = client.app
        scope = {
            "type": "http",
            "app": app,
            "headers": [(b"cookie", header.encode())],
            "client": ("192.0.2.10", 1),
        }
        assert (await get_client(Request(scope))).device_cookie == expected


@pytest.mark.parametrize("quoted", [False, True])
async def test_an_expired_session_gets_the_same_answer_on_the_fast_path_and_the_full_stack(
    clock, quoted
):
    # The fast path told "expired" from "unknown" by the error's message text; it now takes the
    # refusal SessionGate made, as the full stack does.
    async with running_client(clock=clock) as client:
        token = await token_of(client, "alice")
        clock.advance(seconds=24 * 3600 * 30)
        cookie = f'session_id="{token}"' if quoted else f"session_id={token}"
        answers = [
            await client.get("/getusers/me", headers={"cookie": cookie, **extra})
            for extra in ({}, SAME_ORIGIN)
        ]
    for response in answers:
        assert response.status_code == 401 and response.json() == {"detail": "Session expired"}
        assert "Max-Age=0" in response.headers["set-cookie"]


@pytest.mark.parametrize("path", ["/protected", "/auth/verify", "/ui/"])
@pytest.mark.parametrize("extra", [{}, SAME_ORIGIN], ids=["fast path", "full stack"])
async def test_a_cookie_value_that_is_not_ascii_is_unauthenticated_not_an_error(path, extra):
    async with running_client() as client:
        response = await client.get(
            path,
            headers=[
                (b"cookie", b'session_id="\xff\xfe"'),
                *((k.encode(), v.encode()) for k, v in extra.items()),
            ],
        )
    assert response.status_code in (401, 303)
    assert "Max-Age=0" in response.headers["set-cookie"]
