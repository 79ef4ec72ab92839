"""The shipped reverse-proxy examples agree with the service and with each other.

Both run for real (tests/e2e/test_forward_auth_nginx.py, test_forward_auth_traefik.py); these
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

DOCKER = Path(__file__).resolve().parents[2] / "docker"
PUBLIC = ["/signup", "/login", "/logout", "/password", "/getusers/me", "/sessions", "/sessions/0b6c2a3e-1f"]
NOT_PUBLIC = [
    "/healthz", "/readyz", "/metrics", "/docs", "/openapi.json", "/auth/verify", "/protected",
    "/", "/sessionsx", "/app/login", "/sessions/a/b",
]


def headers_verify_sends() -> set[str]:
    """The header names /auth/verify answers with, lower-cased, from the code that makes them."""
    now = datetime.now(UTC)
    user = User(id="u1", username=Username.parse("alice"), password_hash="", created_at=now)
    session = Session(id="s1", user_id="u1", token_hash=b"", created_at=now, last_seen_at=now, expires_at=now)
    return {name.lower() for name in forward_auth_headers(Authenticated(user=user, session=session))}


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
    assert "forwardedHeaders" not in static["entryPoints"]["web"]  # Traefik is the edge: trusts no one
    for name, entry_point in static["entryPoints"].items():
        assert entry_point["http"]["aliasHeadersStrategy"] == "delete", name
    # forwardAuth asks Traefik's own loopback entry point, not one that clients reach
    forward_auth = traefik_dynamic()["http"]["middlewares"]["sessionauth-verify"]["forwardAuth"]
    verify = static["entryPoints"]["verify"]["address"]
    assert verify.startswith("127.0.0.1:")
    assert forward_auth["address"] == f"http://{verify}/auth/verify"


def test_traefik_forward_auth_passes_on_the_headers_the_service_sends() -> None:
    forward_auth = traefik_dynamic()["http"]["middlewares"]["sessionauth-verify"]["forwardAuth"]

    assert forward_auth["authRequestHeaders"] == ["Cookie"]
    assert {h.lower() for h in forward_auth["authResponseHeaders"]} == headers_verify_sends()


def test_traefik_and_nginx_send_the_same_paths_to_sessionauth() -> None:
    rule = traefik_dynamic()["http"]["routers"]["sessionauth"]["rule"]
    nginx = nginx_public_pattern()

    for path in PUBLIC:
        assert traefik_rule_matches(rule, path), path
        assert nginx.fullmatch(path), path
    for path in NOT_PUBLIC:
        assert not traefik_rule_matches(rule, path), path
        assert not nginx.fullmatch(path), path

