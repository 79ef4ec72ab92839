"""The shipped reverse-proxy examples agree with the service and with each other.

Both run for real (tests/e2e/test_forward_auth.py, behind each proxy in turn); these
checks need neither proxy and name the file that drifted: the two send the same paths to
sessionauth, and Traefik's settings that no loopback test can observe are there.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from application import Authenticated
from domain.session import Session
from domain.user import User, Username
from entrypoints.http.fast_path import forward_auth_headers
from tests.constants import NOT_PUBLIC_PATHS, PUBLIC_PATHS

DOCKER = Path(__file__).resolve().parents[2] / "docker"
PUBLIC = PUBLIC_PATHS
NOT_PUBLIC = NOT_PUBLIC_PATHS


def headers_verify_sends() -> set[str]:
    """The header names /auth/verify answers with, lower-cased, from the code that makes them."""
    now = datetime.now(UTC)
    user = User(id="u1", username=Username.parse("alice"), password_hash="", created_at=now)
    session = Session(
        id="s1", user_id="u1", token_hash=b"", created_at=now, last_seen_at=now, expires_at=now
    )
    return {
        name.lower() for name in forward_auth_headers(Authenticated(user=user, session=session))
    }


def traefik_dynamic() -> dict:
    return yaml.safe_load((DOCKER / "traefik" / "dynamic.yaml").read_text())


def traefik_rule_matches(rule: str, path: str) -> bool:
    """Traefik's `Path(...) || PathPrefix(...) || PathRegexp(...)` rules, the only matchers the
    example uses."""
    terms = [term.strip() for term in rule.split("||")]
    matchers = [re.fullmatch(r"(Path|PathPrefix|PathRegexp)\(`([^`]*)`\)", term) for term in terms]
    assert all(matchers), f"unexpected rule syntax: {rule}"
    tests = {
        "Path": lambda value: path == value,
        "PathPrefix": path.startswith,
        "PathRegexp": lambda value: re.search(value, path) is not None,
    }
    return any(tests[m.group(1)](m.group(2)) for m in matchers if m)


def nginx_public_pattern() -> re.Pattern[str]:
    conf = (DOCKER / "nginx" / "forward-auth.conf").read_text()
    (pattern,) = re.findall(r"^location ~ (\S+) \{", conf, re.MULTILINE)
    return re.compile(pattern)


def test_traefik_static_configuration_calls_no_one_and_deletes_aliased_headers() -> None:
    static = yaml.safe_load((DOCKER / "traefik" / "traefik.yaml").read_text())

    assert static["global"] == {"checkNewVersion": False, "sendAnonymousUsage": False}
    assert static["providers"]["file"]["filename"] == "/etc/traefik/dynamic.yaml"
    assert (
        "forwardedHeaders" not in static["entryPoints"]["web"]
    )  # Traefik is the edge: trusts no one
    for name, entry_point in static["entryPoints"].items():
        assert entry_point["http"]["aliasHeadersStrategy"] == "delete", name
    # forwardAuth asks Traefik's own loopback entry point, not one that clients reach
    forward_auth = traefik_dynamic()["http"]["middlewares"]["sessionauth-verify"]["forwardAuth"]
    verify = static["entryPoints"]["verify"]["address"]
    assert verify.startswith("127.0.0.1:")
    assert forward_auth["address"] == f"http://{verify}/auth/verify"


def test_traefik_forward_auth_passes_on_the_headers_the_service_sends() -> None:
    forward_auth = traefik_dynamic()["http"]["middlewares"]["sessionauth-verify"]["forwardAuth"]

    # The cookie, and what the cross-site rules judge the original request by; Traefik adds
    # X-Forwarded-Method, -Host and -Proto itself.
    assert forward_auth["authRequestHeaders"] == ["Cookie", "Origin", "Sec-Fetch-Site"]
    assert forward_auth["trustForwardHeader"] is False
    assert {h.lower() for h in forward_auth["authResponseHeaders"]} == headers_verify_sends()


def test_traefik_believes_forwarded_headers_on_its_loopback_verify_entry_point_only() -> None:
    static = yaml.safe_load((DOCKER / "traefik" / "traefik.yaml").read_text())

    # Else the entry point would replace forwardAuth's X-Forwarded-Method with the check's own GET.
    assert static["entryPoints"]["verify"]["forwardedHeaders"] == {"trustedIPs": ["127.0.0.1/32"]}


def nginx_location(name: str) -> str:
    conf = (DOCKER / "nginx" / "forward-auth.conf").read_text()
    match = re.search(
        rf"^location {re.escape(name)} \{{\n(.*?)^\}}", conf, re.MULTILINE | re.DOTALL
    )
    assert match, f"no location {name} in forward-auth.conf"
    return match.group(1)


def test_nginx_tells_the_check_about_the_original_request() -> None:
    verify = nginx_location("= /_sessionauth_verify")
    sets = dict(re.findall(r"^\s*proxy_set_header (\S+) (\S+);", verify, re.MULTILINE))

    assert "proxy_pass_request_headers off;" in verify  # a client's own X-Original-Method stays out
    assert sets["X-Original-Method"] == "$request_method"
    assert sets["Origin"] == "$http_origin"
    assert sets["Sec-Fetch-Site"] == "$http_sec_fetch_site"
    assert sets["X-Forwarded-Host"] == "$http_host"
    assert sets["X-Forwarded-Proto"] == "$scheme"
    assert "error_page 403 = @sessionauth_forbidden;" in nginx_location("/")
    # The check for level 2 differs from the plain one in what it asks sessionauth, nothing else.
    aal2 = nginx_location("= /_sessionauth_verify_aal2")
    directives = [line.strip() for line in verify.splitlines() if not line.strip().startswith("#")]
    directives_2 = [line.strip() for line in aal2.splitlines() if not line.strip().startswith("#")]
    assert [d for d in directives_2 if d not in directives] == [
        "proxy_pass http://sessionauth/auth/verify?aal=2;"
    ]
    assert [d for d in directives if d not in directives_2] == [
        "proxy_pass http://sessionauth/auth/verify;"
    ]


def test_the_second_factor_middleware_is_the_plain_one_asking_for_aal_2() -> None:
    middlewares = traefik_dynamic()["http"]["middlewares"]
    plain = middlewares["sessionauth-verify"]["forwardAuth"]
    second = middlewares["sessionauth-verify-aal2"]["forwardAuth"]
    assert second == {**plain, "address": plain["address"] + "?aal=2"}


def test_traefik_and_nginx_send_the_same_paths_to_sessionauth() -> None:
    rule = traefik_dynamic()["http"]["routers"]["sessionauth"]["rule"]
    nginx = nginx_public_pattern()

    for path in PUBLIC:
        assert traefik_rule_matches(rule, path), path
        assert nginx.fullmatch(path), path
    for path in NOT_PUBLIC:
        assert not traefik_rule_matches(rule, path), path
        assert not nginx.fullmatch(path), path
