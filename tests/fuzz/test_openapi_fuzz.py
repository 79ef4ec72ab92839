"""Schema-driven fuzzing: Schemathesis generates requests from the app's own OpenAPI document, valid
and invalid, and checks every answer against that document.

Checks on every case: no 5xx; the status code, content type, headers and body match what the
operation documents; no response carries a password, a password hash or a session token (beyond the
`Set-Cookie` that hands a token to its owner). Authenticated operations are fuzzed with a fresh
session from a real login before each case, so that a logout or a revocation generated earlier
does not leave the rest unauthenticated.

Bounded and reproducible: FUZZ_EXAMPLES cases per operation and mode (valid, invalid),
derandomized (Hypothesis draws from a fixed seed), on both stores: the in-memory one and
PostgreSQL, whose text type refuses bytes that Python strings accept.

On top of what the document generates, some cases put text that no store or hash can take into
every string the operation reads: U+0000 and lone surrogates in every string field of the body
(as JSON escapes such as `\ud800`: UTF-8 bytes cannot hold a surrogate) and in Basic
credentials, U+0000 in path parameters and in a header, and JSON nested 3,000 deep in place of
every string field (or of the whole body). The same checks hold for them.

Mail is on (its sender off, so that the outbox keeps what the cases queue): the email and recovery
operations are in the document. Some of their cases are steered to a link token the service has
just mailed (read from the outbox) and to a fresh valid address, so that a valid case succeeds;
a reset that succeeded is undone like a password change.

Each operation's strategy is driven by a plain `@given` inside a parametrized test, rather than by
`schema.parametrize()`: Schemathesis' lazy pytest loader reads a private pytest attribute that
pytest 9.2 no longer has, and a plain test can take the per-module database fixture.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote

import asyncpg
import pytest
import schemathesis
from dependency_injector import providers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.generation.meta import ParameterLocation
from schemathesis.python import asgi as schemathesis_asgi
from schemathesis.specs.openapi.checks import positive_data_acceptance

from domain.mail import MailKind
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings
from tests.constants import FAST_ARGON2
from tests.mail_links import LINK, queued

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
OWNER, OWNER_PASSWORD = "fuzz.owner", "fuzzing owner passphrase 7"
COOKIE = "session_id"
UNREACHED = 10**9  # a throttle limit no fuzzing run reaches
# Every token the login hook handed out, and every link token a steered case sent: none may come
# back in a body.
ISSUED_TOKENS: list[str] = []
# Mail on, so that the routes that send it exist (and are in the document).
MAIL_ON = {"mail_url": "console:", "public_url": "https://auth.example"}
RESET_TO = "a fuzzed reset passphrase 5"  # a new password the policy takes
MAIL_WAIT = 30  # seconds: a generous deadline for a link to be queued


def _operations() -> list[tuple[str, str]]:
    # From the document of an app that has not started: building it does no I/O.
    document = create_app(build_container(load_settings(database_url=None, **MAIL_ON))).openapi()
    cases = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            cases.append(
                pytest.param(
                    method.upper(),
                    path,
                    GenerationMode.POSITIVE,
                    id=f"{method.upper()} {path} valid",
                )
            )
            # Invalid input needs an input to break: a parameter or a body.
            if operation.get("parameters") or operation.get("requestBody"):
                cases.append(
                    pytest.param(
                        method.upper(),
                        path,
                        GenerationMode.NEGATIVE,
                        id=f"{method.upper()} {path} invalid",
                    )
                )
    return cases


OPERATIONS = _operations()
# The input rules go beyond what JSON Schema can state (Unicode scripts, NFKC, the list of common
# passwords), so a request the document allows may still be refused with 422: the check that every
# schema-valid request is accepted does not apply. Its converse, that every schema-invalid request
# is refused with a 4xx, does.
EXCLUDED_CHECKS = [positive_data_acceptance]
# Operations that succeed only within a ceremony the fuzzer cannot perform (a live pending login,
# a TOTP code of the current step, an authenticator's signature over a stored challenge): fuzzed
# for their answers like every other, but a 2xx is not expected of them. The API, unit and end-
# to-end tests of the second factors drive them through to success.
CEREMONIES = {
    ("POST", "/login/mfa"),
    ("POST", "/login/mfa/webauthn/options"),
    ("POST", "/mfa/totp/confirm"),
    ("DELETE", "/mfa/totp"),
    ("POST", "/mfa/recovery-codes"),
    ("POST", "/webauthn/register"),
    ("DELETE", "/webauthn/credentials/{credential_id}"),
    ("POST", "/login/passkey"),
}


class Fuzzing:
    """The loaded schema of a running app, and the hook that logs its owner in."""

    def __init__(self, app, store, database_url: str | None) -> None:
        self.app = app
        self.schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        self._store = store  # the in-memory store, whose outbox the tests read; or Postgres
        self._database_url = database_url
        self._addresses = (f"owner{n}@fuzz.example" for n in itertools.count())

    def post(self, path: str, **kwargs):
        with schemathesis_asgi.get_client(self.app) as client:
            return client.post(path, **kwargs)

    def restore_password(self, changed_to: str, token: str) -> None:
        """Undo a password change the fuzzer made, so every case starts from the same state."""
        with schemathesis_asgi.get_client(self.app) as client:
            client.cookies.set(COOKIE, token)
            answer = client.post(
                "/password", json={"current_password": changed_to, "new_password": OWNER_PASSWORD}
            )
        assert answer.status_code == 200, answer.text

    def restore_owner(self) -> None:
        """Sign the owner up: at the start, and again after a case deleted the account."""
        answer = self.post("/signup", json={"username": OWNER, "password": OWNER_PASSWORD})
        assert answer.status_code == 201, answer.text

    def session_ids(self, token: str) -> list[str]:
        with schemathesis_asgi.get_client(self.app) as client:
            client.cookies.set(COOKIE, token)
            answer = client.get("/sessions")
        assert answer.status_code == 200, answer.text
        return [session["id"] for session in answer.json()]

    def link_token(self, kind: MailKind, to: str) -> str:
        """The token of the newest link of `kind` queued for `to`, read from the outbox: waited
        for, as a reset link is stored after the answer (by a task of the app's event loop)."""
        deadline = time.monotonic() + MAIL_WAIT
        while not (texts := self._queued_texts(kind, to)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert texts, f"no {kind} queued for {to}"
        found = LINK.search(texts[-1])
        assert found, "no link in the message"
        ISSUED_TOKENS.append(unquote(found.group(1)))
        return ISSUED_TOKENS[-1]

    def _queued_texts(self, kind: MailKind, to: str) -> list[str]:
        if self._database_url is None:
            return [message.text for message in queued(self._store, kind, to)]
        return _fetch_texts(self._database_url, kind, to)

    def new_address(self) -> str:
        """A fresh address set on the owner, unverified (a verification link is queued)."""
        address = next(self._addresses)
        with schemathesis_asgi.get_client(self.app) as client:
            client.cookies.set(COOKIE, self.log_in())
            answer = client.put(
                "/email", json={"email": address, "current_password": OWNER_PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        return address

    def verified_address(self) -> str:
        address = self.new_address()
        token = self.link_token(MailKind.VERIFY_EMAIL, address)
        answer = self.post("/email/verify", json={"token": token})
        assert answer.status_code == 200, answer.text
        return address

    def reset_token(self) -> str:
        """A valid reset link's token for the owner, who gets a verified address for it."""
        address = self.verified_address()
        answer = self.post("/password/forgot", json={"username": OWNER})
        assert answer.status_code == 202, answer.text
        return self.link_token(MailKind.PASSWORD_RESET, address)

    def undo_reset(self, reset_to: str) -> None:
        answer = self.post("/login", json={"username": OWNER, "password": reset_to})
        assert answer.status_code == 200, answer.text
        self.restore_password(reset_to, answer.cookies[COOKIE])

    def log_in(self) -> str:
        """A fresh session for each case, so that a logout or a revocation generated earlier does
        not leave the rest unauthenticated."""
        answer = self.post("/login", json={"username": OWNER, "password": OWNER_PASSWORD})
        assert answer.status_code == 200, answer.text
        token = answer.cookies[COOKIE]
        ISSUED_TOKENS.append(token)
        return token


@pytest.fixture(scope="module", params=["memory", "postgres"])
def fuzzing(request: pytest.FixtureRequest) -> Iterator[Fuzzing]:
    url = request.getfixturevalue("migrated_database_url") if request.param == "postgres" else None
    container = build_container(
        load_settings(
            database_url=url,
            session_cookie_secure=False,
            # Throttling is tested on its own; real limits would end the fuzzing of sign-up and
            # login after a few dozen cases. Limits that are never reached still write their
            # counters, so the keys made from fuzzed usernames reach the store.
            throttle_login_per_address=UNREACHED,
            throttle_login_per_account=UNREACHED,
            throttle_login_per_device=UNREACHED,
            throttle_signup_per_address=UNREACHED,
            throttle_failures_per_address=UNREACHED,
            throttle_reset_per_address=UNREACHED,
            mail_per_account=UNREACHED,  # else the steered cases' links would be dropped
            purge_interval=0,
            # Fuzzing is not about overload: a loaded machine must not turn a slow hash into 503.
            hash_queue_timeout=60,
            **MAIL_ON,
            **FAST_ARGON2,
        )
    )
    container.mail_sender.override(providers.Object(None))  # the outbox keeps what is queued
    # Starts the app's lifespan on Schemathesis' loop.
    fuzzing = Fuzzing(create_app(container), container.store(), url)
    fuzzing.restore_owner()
    try:
        yield fuzzing
    finally:
        schemathesis_asgi.shutdown_lifespans()


# Values that reach past the input rules: random text almost never makes a valid username, so
# without these a fuzzed sign-up would never succeed or collide, and a login never succeed.
USERNAMES = st.one_of(
    st.sampled_from(
        [OWNER, "FUZZ.OWNER", "ｆｕｚｚ.owner", "fuzz.owner\u200b", "fuzz\u043ewner", "jürgen"]
    ),
    st.from_regex(r"[a-z][a-z0-9._@+-]{2,24}", fullmatch=True),
)
PASSWORDS = st.one_of(
    st.sampled_from(["password", "short", "ＰＡＳＳＷＯＲＤ ｐｈｒａｓｅ 9", "x" * 1025]),
    st.text(min_size=8, max_size=64),
)


def _fetch_texts(database_url: str, kind: MailKind, to: str) -> list[str]:
    """The plain-text bodies queued in Postgres for `to`, oldest first."""

    async def fetch() -> list[str]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch(
                "SELECT body_text FROM mail_outbox WHERE kind = $1 AND recipient = $2"
                " ORDER BY created_at",
                kind.value,
                to,
            )
        finally:
            await connection.close()
        return [row["body_text"] for row in rows]

    # In a thread of its own: Schemathesis' client runs the app on an event loop of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def _steer_mail(fuzzing: Fuzzing, path: str, body: dict | None, data) -> None:
    """Some of the time, a link token the service has just mailed, a fresh valid address, or an
    owner with an unverified address to resend to: else no valid case of these would succeed."""
    if not data.draw(st.booleans(), label="steer mail"):
        return
    if path == "/email/verify" and body is not None:
        body["token"] = fuzzing.link_token(MailKind.VERIFY_EMAIL, fuzzing.new_address())
    elif path == "/email/verify/resend":
        fuzzing.new_address()
    elif path == "/password/reset" and body is not None:
        body["token"] = fuzzing.reset_token()
        if data.draw(st.booleans(), label="a good new password"):
            body["new_password"] = RESET_TO
    elif path == "/email" and body is not None:
        body["email"] = f"x{data.draw(st.integers(0, 10**6), label='address')}@fuzz.example"
        body["current_password"] = OWNER_PASSWORD
    elif path == "/password/forgot" and body is not None:
        body.pop("username", None)
        body["email"] = fuzzing.verified_address()


def _steer(body: dict, data) -> None:
    """Replace the generated values, some of the time, by ones that reach past the input rules.
    The owner's name and password come up too, so that sign-ups collide and logins and password
    changes succeed."""
    if {"username", "password"} <= body.keys() and data.draw(st.booleans(), label="owner"):
        # The owner's own pair, half of the time: drawn apart, the two would meet too seldom
        # for a fixed number of cases to be sure of one successful login.
        body["username"], body["password"] = OWNER, OWNER_PASSWORD
        return
    if "username" in body and data.draw(st.booleans(), label="steer username"):
        body["username"] = data.draw(USERNAMES, label="username")
    for key in ("password", "current_password", "new_password"):
        if key in body and data.draw(st.booleans(), label=f"steer {key}"):
            own = st.just(OWNER_PASSWORD) if key != "new_password" else st.nothing()
            body[key] = data.draw(st.one_of(own, PASSWORDS), label=key)


# Text that PostgreSQL's `text` refuses (U+0000) or that has no UTF-8 form (a lone surrogate).
UNSTORABLE = st.sampled_from(
    [
        "\x00",
        "fuzz\x00owner",
        f"{OWNER}\x00",
        "\ud800",
        "\ud800aaaaaaaa",
        f"{OWNER}\udfff",
        "\udfff\ud800",
        "a\udbff\x00",
    ]
)
# In a URL or a header only U+0000 can arrive: their bytes are never decoded into a surrogate.
UNSTORABLE_IN_URL = st.sampled_from(["\x00", "a\x00b", "\x00" * 36])
DEEP = "[" * 3000 + "]" * 3000
_DEEP_MARK = "\x01deep\x01"


def _hostile(case, data) -> dict[str, Any]:
    """Some of the time, text no store or hash can take in every string the case sends; returns
    the extra arguments for `case.call` (a raw body or headers) that carry what JSON cannot."""
    how = data.draw(
        st.sampled_from(
            ["as generated"] * 4 + ["unstorable text", "deep nesting", "U+0000 in a header"]
        ),
        label="hostile input",
    )
    body = case.body if isinstance(case.body, dict) else None
    strings = [key for key, value in (body or {}).items() if isinstance(value, str)]
    if how == "unstorable text":
        for key in strings:  # requests writes them as JSON escapes (ensure_ascii)
            body[key] = data.draw(UNSTORABLE, label=key)
        for name in case.path_parameters or {}:
            case.path_parameters[name] = data.draw(UNSTORABLE_IN_URL, label=name)
        if case.path == "/login" and data.draw(st.booleans(), label="basic"):
            # Encoded with "surrogatepass": the bytes a client could send for a lone surrogate.
            user, password = (
                data.draw(UNSTORABLE, label="basic user"),
                data.draw(UNSTORABLE, label="basic password"),
            )
            encoded = base64.b64encode(
                f"{user}:{password}".encode("utf-8", "surrogatepass")
            ).decode()
            return {"headers": {"Authorization": f"Basic {encoded}"}}
    elif how == "deep nesting" and case.operation.body:
        if strings:  # in place of every string field
            raw = json.dumps({**body, **dict.fromkeys(strings, _DEEP_MARK)}).replace(
                json.dumps(_DEEP_MARK), DEEP
            )
        else:
            raw = DEEP
        return {"data": raw.encode(), "headers": {"Content-Type": "application/json"}}
    elif how == "U+0000 in a header":
        if (
            body is not None
            and case.path == "/login"
            and case.meta.generation.mode == GenerationMode.POSITIVE
        ):
            # On a login that would succeed otherwise: the User-Agent is stored with its session.
            body.update(username=OWNER, password=OWNER_PASSWORD)
        # Lower case, as the client's default: another spelling would be sent beside it, not instead.
        return {"headers": {"user-agent": data.draw(UNSTORABLE_IN_URL, label="user agent")}}
    return {}


def _sent_passwords(case) -> list[str]:
    """Passwords the case itself sent that are long and distinctive enough to search for: a short
    one ("pass") or one equal to a username the answer may rightly show would match by chance."""
    body = case.body if isinstance(case.body, dict) else {}
    usernames = [
        value for key, value in body.items() if key == "username" and isinstance(value, str)
    ]
    found = []
    for key in ("password", "current_password", "new_password"):
        value = body.get(key)
        if (
            isinstance(value, str)
            and len(value) >= 12
            and not any(value in name for name in usernames)
        ):
            found.append(value)
    return found


def _cookie(response) -> str:
    for issued in response.headers.get("set-cookie", []):
        name, _, rest = issued.partition("=")
        if name.strip() == COOKIE:
            return rest.split(";", 1)[0]
    raise AssertionError("no session cookie in the answer")


def _spellings(secret: str) -> set[str]:
    return {secret, json.dumps(secret)[1:-1]}


@schemathesis.check
def no_secret_in_response(ctx, response, case) -> None:
    # Schemathesis gives each header as a list of values.
    headers = {
        name: values for name, values in response.headers.items() if name.lower() != "set-cookie"
    }
    shown = response.content.decode("utf-8", "replace") + json.dumps(headers)
    assert "$argon2" not in shown, "a password hash in the response"
    for password in [OWNER_PASSWORD, *_sent_passwords(case)]:
        assert not any(spelling in shown for spelling in _spellings(password)), (
            "a password in the response"
        )
    tokens = [
        *ISSUED_TOKENS[-3:],
        *(
            value
            for value in (case.cookies or {}).values()
            if isinstance(value, str) and len(value) >= 20
        ),
    ]
    for issued in response.headers.get("set-cookie", []):
        name, _, rest = issued.partition("=")
        tokens.append(rest.split(";", 1)[0] if name.strip() == COOKIE else "")
    for token in tokens:
        if token:
            assert token not in shown, "a session token in the response"


@pytest.mark.parametrize(("method", "path", "mode"), OPERATIONS)
def test_every_answer_matches_the_document(fuzzing: Fuzzing, method: str, path: str, mode) -> None:
    operation = fuzzing.schema[path][method]
    statuses: set[int] = set()
    declared_query = {parameter.name for parameter in operation.query}

    # Mostly with a valid session; sometimes with whatever cookie (or none) the case came with.
    @given(
        case=operation.as_strategy(generation_mode=mode),
        authenticated=st.sampled_from([True, True, True, False]),
        data=st.data(),
    )
    @settings(
        max_examples=FUZZ_EXAMPLES,
        derandomize=True,  # a fixed seed: a failure reproduces
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def fuzz(case, authenticated: bool, data) -> None:
        # A case whose cookie is the invalid part keeps it: a valid session over it would make
        # the case valid (and schemathesis then reports a 200 as ignored authentication).
        cookie_part = case.meta.components.get(ParameterLocation.COOKIE) if case.meta else None
        if cookie_part is not None and cookie_part.mode == GenerationMode.NEGATIVE:
            authenticated = False
        if authenticated:
            case.cookies = {**(case.cookies or {}), COOKIE: fuzzing.log_in()}
        if mode == GenerationMode.POSITIVE and isinstance(case.body, dict):
            _steer(case.body, data)
        if mode == GenerationMode.POSITIVE:
            body = case.body if isinstance(case.body, dict) else None
            _steer_mail(fuzzing, path, body, data)
        if (
            mode == GenerationMode.POSITIVE
            and "session_id" in (case.path_parameters or {})
            and authenticated
        ):
            # A random id never names a session: some of the time, take one of the owner's (the
            # list is newest first, so the first is the current one). Drawn by position, so
            # that the draws do not depend on how many sessions exist.
            which = data.draw(
                st.sampled_from(["generated", "current", "oldest"]), label="session id"
            )
            if which != "generated":
                owned = fuzzing.session_ids(case.cookies[COOKIE])
                case.path_parameters["session_id"] = owned[0] if which == "current" else owned[-1]
        response = case.call(**_hostile(case, data))
        # Unknown query parameters are ignored, as by most APIs: a case that is invalid only in
        # having some (schemathesis counts them as invalid) is answered as the valid one it is.
        unknown_query = set(case.query or {}) - declared_query
        if not (mode == GenerationMode.NEGATIVE and unknown_query and response.status_code < 300):
            statuses.add(response.status_code)
        try:
            case.validate_response(
                response, additional_checks=[no_secret_in_response], excluded_checks=EXCLUDED_CHECKS
            )
        finally:
            if path == "/password" and response.status_code == 200:
                fuzzing.restore_password(case.body["new_password"], _cookie(response))
            if path == "/password/reset" and response.status_code == 200:
                fuzzing.undo_reset(case.body["new_password"])
            if path == "/account" and response.status_code == 204:
                fuzzing.restore_owner()

    fuzz()
    # The fuzzing reached past the input checks: valid cases were accepted at least once (and, on
    # sign-up, collided with a taken name), invalid ones were refused.
    if mode == GenerationMode.POSITIVE:
        if (method, path) not in CEREMONIES:
            assert any(200 <= status < 300 for status in statuses), statuses
        if path == "/signup":
            assert {201, 409, 422} <= statuses, statuses
    else:
        assert all(400 <= status < 500 for status in statuses), statuses
