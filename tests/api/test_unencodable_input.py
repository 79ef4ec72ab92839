"""Text that cannot be stored or hashed is refused where it enters, on both stores.

PostgreSQL's `text` refuses U+0000 and a lone surrogate (`"\\ud800"` in JSON) cannot be encoded
as UTF-8, so argon2 and asyncpg raise on either: each was a 500 before it was refused at entry.
Bodies are written by hand: httpx would refuse to encode a lone surrogate, and a raw one is not
UTF-8 at all.
"""

from __future__ import annotations

import base64

import pytest

from tests.api.client import log_in, running_client, sign_up
from tests.constants import PASSWORD
from tests.postgres_provider import truncate_all

JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
# As JSON escapes: the body itself is plain ASCII.
SURROGATE_PASSWORD = "\\ud800aaaaaaaa"
DEEP = b"[" * 3000 + b"]" * 3000


@pytest.fixture(params=["memory", "postgres"])
async def client(request):
    url = None
    if request.param == "postgres":
        url = request.getfixturevalue("migrated_database_url")
        await truncate_all(url)
    async with running_client(database_url=url) as client:
        yield client


def body(**fields: str) -> bytes:
    """A JSON object whose values are written as they are: escapes such as \\ud800 stay escapes."""
    return (
        "{" + ", ".join(f'"{name}": "{value}"' for name, value in fields.items()) + "}"
    ).encode()


def assert_refused_text(response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json() == {
        "detail": [
            {
                "loc": ["body", field],
                "msg": "Text must be Unicode without U+0000 or unpaired surrogates",
                "type": "string_unicode",
            }
        ]
    }


# Finding 1: a lone surrogate in a password made argon2 raise UnicodeEncodeError.


@pytest.mark.parametrize("username", ["alice", "nobody"])  # the real verify, and the dummy one
async def test_a_lone_surrogate_in_a_login_password_is_refused(client, username):
    await sign_up(client)
    response = await client.post(
        "/login", content=body(username=username, password=SURROGATE_PASSWORD), headers=JSON
    )
    assert_refused_text(response, "password")
    await log_in(client)  # nothing was counted or broken


async def test_a_lone_surrogate_in_a_signup_password_is_refused(client):
    response = await client.post(
        "/signup", content=body(username="alice", password=SURROGATE_PASSWORD), headers=JSON
    )
    assert_refused_text(response, "password")
    await sign_up(client)  # the name is still free


@pytest.mark.parametrize("field", ["current_password", "new_password"])
async def test_a_lone_surrogate_in_a_password_change_is_refused(client, field):
    await sign_up(client)
    await log_in(client)
    fields = {
        "current_password": PASSWORD,
        "new_password": "another long passphrase",
        field: SURROGATE_PASSWORD,
    }
    response = await client.post("/password", content=body(**fields), headers=JSON)
    assert_refused_text(response, field)
    assert (await client.get("/getusers/me")).status_code == 200  # the session is untouched


@pytest.mark.parametrize("path", ["/signup", "/login"])
async def test_a_raw_surrogate_in_the_body_is_not_utf8_and_refused(client, path):
    # json.loads(bytes) decodes with "surrogatepass": these bytes used to become a lone surrogate.
    response = await client.post(
        path, content=b'{"username": "alice", "password": "\xed\xa0\x80aaaaaaaa"}', headers=JSON
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"


# Finding 2: JSON nested 3,000 deep made json.loads raise RecursionError in the /login parser.


@pytest.mark.parametrize(
    "content",
    [DEEP, b'{"username": ' + DEEP + b', "password": "correct horse battery staple"}'],
    ids=["whole body", "in a field"],
)
@pytest.mark.parametrize("path", ["/login", "/signup", "/password"])
async def test_deeply_nested_json_is_400_with_a_clear_detail(client, path, content):
    await sign_up(client)
    await log_in(client)
    response = await client.post(path, content=content, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "JSON nested too deeply"}


# Finding 3: U+0000 or a lone surrogate in a login name became a throttle key Postgres refuses.


@pytest.mark.parametrize("username", ["al\\u0000ice", "\\ud800lice", "alice\\udfff"])
@pytest.mark.parametrize("path", ["/login", "/signup"])
async def test_unstorable_text_in_a_json_username_is_refused(client, path, username):
    await sign_up(client, "bob")
    response = await client.post(
        path, content=body(username=username, password=PASSWORD), headers=JSON
    )
    assert_refused_text(response, "username")


async def test_u0000_in_basic_credentials_is_a_malformed_header(client):
    await sign_up(client)
    for credentials in ["al\x00ice:" + PASSWORD, "alice:" + PASSWORD + "\x00"]:
        encoded = base64.b64encode(credentials.encode()).decode()
        response = await client.post("/login", headers={"authorization": f"Basic {encoded}"})
        assert response.status_code == 400, response.text
        assert response.json() == {"detail": "Malformed Basic credentials"}
        assert PASSWORD not in response.text


async def test_an_encoded_surrogate_in_basic_credentials_is_a_malformed_header(client):
    encoded = base64.b64encode(b"\xed\xa0\x80lice:" + PASSWORD.encode()).decode()
    response = await client.post("/login", headers={"authorization": f"Basic {encoded}"})
    assert response.status_code == 400
    assert response.json() == {"detail": "Malformed Basic credentials"}


@pytest.mark.parametrize("path", ["/ui/login", "/ui/signup"])
@pytest.mark.parametrize("username", ["al%00ice", "%ED%A0%80lice"])
async def test_unstorable_text_in_a_form_is_a_400_page(client, path, username):
    await sign_up(client)
    response = await client.post(
        path, content=f"username={username}&password=correct+horse+battery+staple", headers=FORM
    )
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "The form could not be read" in response.text


async def test_u0000_in_a_form_password_is_a_400_page(client):
    response = await client.post(
        "/ui/signup", content="username=alice&password=correct+horse%00battery", headers=FORM
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


# The sweep: every other way request text reaches the store.


@pytest.mark.parametrize("path", ["/login", "/signup"])
async def test_u0000_in_the_user_agent_is_400(client, path):
    # Stored with the session (login) and written to the audit log (both).
    if path == "/login":
        await sign_up(client)
    response = await client.post(
        path,
        json={"username": "alice", "password": PASSWORD},
        headers={"user-agent": "Mozilla\x00/5.0"},
    )
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "Malformed request: U+0000 in a header"}
    assert "set-cookie" not in response.headers


async def test_u0000_in_a_header_of_a_page_is_a_400_page(client):
    response = await client.get("/ui/login", headers={"user-agent": "Mozilla\x00/5.0"})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/getusers/me", "/protected", "/auth/verify", "/sessions"])
async def test_u0000_in_a_header_is_400_on_the_authenticated_reads(client, path):
    # The fast path answers three of these ahead of the middleware: it must refuse alike.
    await sign_up(client)
    await log_in(client)
    response = await client.get(path, headers={"user-agent": "Mozilla\x00/5.0"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/getusers/me", "/protected", "/auth/verify"])
async def test_u0000_in_a_query_string_is_400_on_the_fast_path_too(client, path):
    await sign_up(client)
    await log_in(client)
    response = await client.get(f"{path}?x=%00")
    assert response.status_code == 400, response.text
    assert response.json() == {"detail": "Malformed request: U+0000 in the query string"}


async def test_u0000_in_a_session_id_is_the_404_of_any_unknown_id(client):
    # The spec's one answer for every id that is not an active session of the caller.
    await sign_up(client)
    await log_in(client)
    unknown = await client.delete("/sessions/00000000-0000-0000-0000-000000000000")
    response = await client.delete("/sessions/a%00b")
    assert (
        (response.status_code, response.text)
        == (unknown.status_code, unknown.text)
        == (404, '{"detail":"Session not found"}')
    )
    assert (await client.get("/getusers/me")).status_code == 200


async def test_u0000_in_a_session_id_of_a_page_is_the_404_page(client):
    await sign_up(client)
    await log_in(client)
    response = await client.post("/ui/sessions/a%00b/revoke")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert (await client.get("/getusers/me")).status_code == 200


@pytest.mark.parametrize("query", ["username=al%00ice", "notice=%00", "x=%00"])
async def test_u0000_in_a_query_string_is_400(client, query):
    response = await client.get(f"/ui/login?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert (await client.get(f"/healthz?{query}")).json() == {
        "detail": "Malformed request: U+0000 in the query string"
    }


@pytest.mark.parametrize("name", ["session_id", "session_id_device"])
async def test_a_cookie_that_unquotes_to_u0000_counts_as_none(client, name):
    # A quoted cookie value may carry octal escapes, which the cookie parser turns into U+0000.
    await sign_up(client)
    cookie = {"cookie": f'{name}="\\000{"a" * 43}"'}
    response = await client.post("/login", auth=("alice", PASSWORD), headers=cookie)
    assert response.status_code == 200, response.text
    client.cookies.clear()
    assert (await client.get("/getusers/me", headers=cookie)).status_code == 401
    assert (await client.get("/ui/", headers=cookie)).status_code == 303
