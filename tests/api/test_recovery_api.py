"""Email addresses and password recovery through the HTTP API (spec: "Accounts: email, recovery
and lifecycle"): every endpoint's answers and failures, hostile input, the same answer to every
reset request, and no token in any response or log line."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from dependency_injector import providers

from domain.mail import MailKind
from tests.api.client import AppClient, log_in, running_client
from tests.api.failing_adapters import DownStore, client_for
from tests.constants import PASSWORD
from tests.mail_links import last_token, link_token, queued
from tests.service_log import service_log

MAIL_ON = {"mail_url": "console:", "public_url": "https://auth.example"}
NEW = "a brand new passphrase"
BAD = "Invalid or expired token"
JSON = {"content-type": "application/json"}
MAIL_ROUTES = [
    ("PUT", "/email"),
    ("POST", "/email/verify"),
    ("POST", "/email/verify/resend"),
    ("POST", "/password/forgot"),
    ("POST", "/password/reset"),
]


@asynccontextmanager
async def mail_client(**settings: object) -> AsyncIterator[AppClient]:
    async with running_client(**{**MAIL_ON, **settings}) as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[AppClient]:
    async with mail_client() as client:
        yield client


def store(client: AppClient):
    return client.app.state.container.store()


async def settle(client: AppClient) -> None:
    await client.app.state.container.forgot_password().settle()


async def sign_up(client, username="alice", email=None):
    body = {"username": username, "password": PASSWORD}
    if email is not None:
        body["email"] = email
    response = await client.post("/signup", json=body)
    assert response.status_code == 201, response.text
    return response.json()["user"]


async def verified(client, username="alice", email="alice@example.com"):
    await sign_up(client, username, email)
    token = last_token(store(client), MailKind.VERIFY_EMAIL, to=email)
    response = await client.post("/email/verify", json={"token": token})
    assert response.status_code == 200, response.text
    return response.json()["user"]


def assert_422_naming(response, field: str) -> None:
    assert response.status_code == 422, response.text
    issues = response.json()["detail"]
    assert all(set(issue) == {"loc", "msg", "type"} for issue in issues)
    assert ["body", field] in [issue["loc"] for issue in issues]


# sign-up and verification


async def test_sign_up_with_an_address_answers_it_unverified_and_its_link_verifies_it(client):
    user = await sign_up(client, email="Alice@Example.com")
    assert (user["email"], user["email_verified"]) == ("Alice@example.com", False)
    [message] = queued(store(client))
    assert (message.kind, message.to) == (MailKind.VERIFY_EMAIL, "Alice@example.com")
    token = link_token(message)
    assert message.text.count("https://auth.example/ui/verify-email?token=") == 1
    response = await client.post("/email/verify", json={"token": token})
    assert response.status_code == 200
    assert set(response.json()) == {"message", "user"}
    assert response.json()["user"]["email_verified"] is True
    assert token not in response.text
    again = await client.post("/email/verify", json={"token": token})
    assert (again.status_code, again.json()) == (400, {"detail": BAD})
    await log_in(client)
    me = (await client.get("/getusers/me")).json()
    assert (me["email"], me["email_verified"]) == ("Alice@example.com", True)


@pytest.mark.parametrize(
    "email",
    [
        "not an address",
        "alice@example.com\r\nBcc: victim@example.com",
        "alice@example.com\n",
        "a" * 70_000,
        "a" * 300 + "@example.com",
        "alice@exa mple.com",
        "",
    ],
)
async def test_a_malformed_address_at_sign_up_is_a_422_naming_email(client, email):
    response = await client.post(
        "/signup", json={"username": "alice", "password": PASSWORD, "email": email}
    )
    if len(email) > 65_536:
        assert response.status_code == 413
        return
    assert_422_naming(response, "email")
    assert email not in response.text or not email
    assert queued(store(client)) == []


@pytest.mark.parametrize("email", [5, ["a@example.com"], {"a": 1}, True])
async def test_an_address_of_the_wrong_type_is_a_422_naming_email(client, email):
    response = await client.post(
        "/signup", json={"username": "alice", "password": PASSWORD, "email": email}
    )
    assert_422_naming(response, "email")


@pytest.mark.parametrize(
    "token",
    ["", "short", "x" * 42, "x" * 44, "é" * 43, "../../etc/passwd", "a%2Fb" * 9, "x" * 10_000],
)
async def test_tokens_of_the_wrong_shape_get_the_one_400(client, token):
    for path, body in (
        ("/email/verify", {"token": token}),
        ("/password/reset", {"token": token, "new_password": NEW}),
    ):
        response = await client.post(path, json=body)
        assert (response.status_code, response.json()) == (400, {"detail": BAD})


@pytest.mark.parametrize(
    "content",
    [
        b'{"token": 5}',
        b'{"token": null}',
        b"{}",
        b'{"token": ["a"]}',
        b'{"token": "\\u0000' + b"a" * 42 + b'"}',
    ],
)
async def test_a_token_that_is_no_string_is_a_422_naming_it(client, content):
    response = await client.post("/email/verify", content=content, headers=JSON)
    assert_422_naming(response, "token")


@pytest.mark.parametrize(
    "content", [b"\xff\xfe garbage", b'{"token": "\xff\xfe"}', b"{not json", b"[]"]
)
async def test_bodies_that_are_no_json_object_get_a_4xx(client, content):
    for path in ("/email/verify", "/password/forgot", "/password/reset"):
        response = await client.post(path, content=content, headers=JSON)
        assert 400 <= response.status_code < 500 and response.status_code != 404
        assert response.headers["content-type"] == "application/json"


async def test_confirming_an_address_another_account_holds_verified_is_409(client):
    await sign_up(client, "alice", "shared@example.com")
    alices = last_token(store(client), MailKind.VERIFY_EMAIL)
    await sign_up(client, "bob", "shared@example.com")
    bobs = last_token(store(client), MailKind.VERIFY_EMAIL)
    assert (await client.post("/email/verify", json={"token": alices})).status_code == 200
    response = await client.post("/email/verify", json={"token": bobs})
    assert response.status_code == 409
    assert bobs not in response.text


# changing the address


async def test_changing_the_address_needs_a_session_and_the_current_password(client):
    await verified(client)
    body = {"email": "new@example.com", "current_password": PASSWORD}
    assert (await client.put("/email", json=body)).status_code == 401
    await log_in(client)
    wrong = await client.put("/email", json={**body, "current_password": "not my password"})
    assert (wrong.status_code, wrong.json()) == (403, {"detail": "Current password is wrong"})
    assert_422_naming(await client.put("/email", json={**body, "email": "nope"}), "email")
    assert_422_naming(
        await client.put("/email", json={"email": "a@example.com"}), "current_password"
    )
    response = await client.put("/email", json=body)
    assert response.status_code == 200
    answer = response.json()
    assert set(answer) == {"message", "user"}
    assert (answer["user"]["email"], answer["user"]["email_verified"]) == ("new@example.com", False)
    kinds = [(m.kind, m.to) for m in queued(store(client))][-2:]
    assert kinds == [
        (MailKind.VERIFY_EMAIL, "new@example.com"),
        (MailKind.EMAIL_CHANGED, "alice@example.com"),
    ]


async def test_wrong_current_passwords_are_throttled_with_the_login_counters():
    # Logged in, the client holds a device cookie: the per-device counter judges it.
    async with mail_client(throttle_login_per_device=2) as client:
        await sign_up(client)
        await log_in(client)
        body = {"email": "new@example.com", "current_password": "not my password"}
        assert [(await client.put("/email", json=body)).status_code for _ in range(2)] == [403] * 2
        throttled = await client.put("/email", json={**body, "current_password": PASSWORD})
        assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) > 0


# resending


async def test_resending_the_link(client):
    assert (await client.post("/email/verify/resend")).status_code == 401
    await sign_up(client, "carol")
    await log_in(client, "carol")
    none = await client.post("/email/verify/resend")
    assert (none.status_code, none.json()) == (409, {"detail": "No email address to verify"})
    await sign_up(client, "alice", "alice@example.com")
    await log_in(client, "alice")
    response = await client.post("/email/verify/resend")
    assert (response.status_code, set(response.json())) == (202, {"message"})
    assert len(queued(store(client), MailKind.VERIFY_EMAIL, "alice@example.com")) == 2
    # The quota (MAIL_PER_ACCOUNT, 3 by default) counts the sign-up's link too.
    assert (await client.post("/email/verify/resend")).status_code == 202
    over = await client.post("/email/verify/resend")
    assert over.status_code == 429 and int(over.headers["retry-after"]) > 0
    token = last_token(store(client), MailKind.VERIFY_EMAIL)
    assert (await client.post("/email/verify", json={"token": token})).status_code == 200
    done = await client.post("/email/verify/resend")
    assert (done.status_code, done.json()) == (409, {"detail": "Email address already verified"})


# forgetting and resetting


async def test_every_reset_request_gets_the_same_202_and_only_a_verified_address_gets_mail(
    client,
):
    await verified(client, "alice", "alice@example.com")
    await sign_up(client, "bob", "bob@example.com")
    await sign_up(client, "carol")
    before = len(queued(store(client)))
    answers = []
    for body in (
        {"username": "alice"},
        {"username": "bob"},
        {"username": "carol"},
        {"username": "nobody"},
        {"username": "bad name"},
        {"email": "alice@example.com"},
        {"email": "bob@example.com"},
        {"email": "nobody@example.com"},
    ):
        response = await client.post("/password/forgot", json=body)
        answers.append((response.status_code, response.content, response.headers.get("set-cookie")))
    assert len(set(answers)) == 1 and answers[0][0] == 202
    await settle(client)
    sent = queued(store(client))[before:]
    assert [(m.kind, m.to) for m in sent] == [(MailKind.PASSWORD_RESET, "alice@example.com")] * 2


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "alice", "email": "alice@example.com"}, {"username": None}, {"email": ""}],
)
async def test_a_reset_request_must_name_one_account_field(client, body):
    response = await client.post("/password/forgot", json=body)
    assert_422_naming(response, "username")


async def test_a_reset_request_with_a_malformed_address_or_wrong_type_is_422(client):
    assert_422_naming(await client.post("/password/forgot", json={"email": "a\r\nb@x"}), "email")
    assert_422_naming(await client.post("/password/forgot", json={"username": 5}), "username")


async def test_reset_requests_are_throttled_per_client_address():
    async with mail_client(throttle_reset_per_address=2) as client:
        codes = [
            (await client.post("/password/forgot", json={"username": f"u{n}"})).status_code
            for n in range(3)
        ]
        assert codes == [202, 202, 429]
        await settle(client)


async def test_a_reset_ends_every_session_and_does_not_log_in(client):
    await verified(client)
    await log_in(client)
    old_cookie = client.cookies.get("session_id")
    device = client.cookies.get("session_id_device")
    assert (await client.post("/password/forgot", json={"username": "alice"})).status_code == 202
    await settle(client)
    token = last_token(store(client), MailKind.PASSWORD_RESET)
    weak = await client.post("/password/reset", json={"token": token, "new_password": "short"})
    assert_422_naming(weak, "new_password")
    response = await client.post("/password/reset", json={"token": token, "new_password": NEW})
    assert response.status_code == 200 and set(response.json()) == {"message"}
    assert "set-cookie" not in response.headers  # no login, device cookie untouched
    assert client.cookies.get("session_id") == old_cookie
    assert (await client.get("/getusers/me")).status_code == 401
    assert client.cookies.get("session_id_device") == device
    again = await client.post("/password/reset", json={"token": token, "new_password": NEW})
    assert (again.status_code, again.json()) == (400, {"detail": BAD})
    assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 401
    await log_in(client, password=NEW)
    notice = queued(store(client), MailKind.PASSWORD_WAS_RESET)
    assert [m.to for m in notice] == ["alice@example.com"]


# mail off


async def test_with_mail_off_the_mail_endpoints_are_404_and_not_documented():
    async with running_client() as client:
        for method, path in MAIL_ROUTES:
            response = await client.request(method, path, json={})
            assert response.status_code == 404, (method, path)
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert not {path for _, path in MAIL_ROUTES} & set(paths)
        user = await sign_up(client, email="alice@example.com")  # still accepted
        assert (user["email"], user["email_verified"]) == ("alice@example.com", False)


async def test_with_mail_on_the_mail_endpoints_are_documented(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for method, path in MAIL_ROUTES:
        assert method.lower() in paths[path]


# secrets


async def test_no_token_in_any_response_or_log_line():
    with service_log(level="debug") as stream:
        async with mail_client() as client:
            responses = []
            responses.append(
                await client.post(
                    "/signup",
                    json={"username": "alice", "password": PASSWORD, "email": "alice@example.com"},
                )
            )
            verify = last_token(store(client), MailKind.VERIFY_EMAIL)
            responses.append(await client.post("/email/verify", json={"token": verify}))
            responses.append(await client.post("/email/verify", json={"token": verify}))
            responses.append(await client.post("/password/forgot", json={"username": "alice"}))
            await settle(client)
            reset = last_token(store(client), MailKind.PASSWORD_RESET)
            responses.append(
                await client.post("/password/reset", json={"token": reset, "new_password": "short"})
            )
            responses.append(
                await client.post("/password/reset", json={"token": reset, "new_password": NEW})
            )
            responses.append(
                await client.post("/password/reset", json={"token": reset, "new_password": NEW})
            )
            client.app.observer.access_log.flush()
        written = stream.getvalue()
    assert "token_refused" in written and "password_reset" in written  # audit lines were captured
    for token in (verify, reset):
        assert token not in written
        for response in responses:
            assert token not in response.text and token not in str(response.headers)


async def test_a_down_store_answers_503_to_the_mail_endpoints():
    app, client = await client_for(
        lambda c: c.store.override(providers.Singleton(DownStore)), **MAIL_ON
    )
    async with app.router.lifespan_context(app), client:
        token = "a" * 43
        for path, body in (
            ("/password/forgot", {"username": "alice"}),
            ("/password/forgot", {"email": "alice@example.com"}),
            ("/email/verify", {"token": token}),
            ("/password/reset", {"token": token, "new_password": NEW}),
        ):
            response = await client.post(path, json=body)
            assert response.status_code == 503, path
            assert response.json() == {"detail": "Store unavailable"}
            assert response.headers["retry-after"].isdigit()
