"""The shipped reverse-proxy examples agree with the service and with each other.

nginx's file runs for real in tests/e2e/test_forward_auth_nginx.py. Traefik cannot be installed
where the suite runs, so its example is only parsed here and checked against what the service
sends and what the nginx example routes.
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
    "/", "/sessionsx", "/app/login",
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
    """Traefik's `Path(...) || PathPrefix(...)` rules, the only matchers the example uses."""
    terms = [term.strip() for term in rule.split("||")]
    matchers = [re.fullmatch(r"(Path|PathPrefix)\(`([^`]*)`\)", term) for term in terms]
    assert all(matchers), f"unexpected rule syntax: {rule}"
    return any(
        path == m.group(2) if m.group(1) == "Path" else path.startswith(m.group(2)) for m in matchers if m
    )


def nginx_public_pattern() -> re.Pattern[str]:
    conf = (DOCKER / "nginx" / "forward-auth.conf").read_text()
    (pattern,) = re.findall(r"^location ~ (\S+) \{", conf, re.MULTILINE)
    return re.compile(pattern)


def test_traefik_static_configuration_loads_the_dynamic_file() -> None:
    static = yaml.safe_load((DOCKER / "traefik" / "traefik.yaml").read_text())

    assert static["providers"]["file"]["filename"] == "/etc/traefik/dynamic.yaml"
    assert "web" in static["entryPoints"]
    assert "forwardedHeaders" not in static["entryPoints"]["web"]  # Traefik is the edge: trusts no one


def test_traefik_forward_auth_asks_verify_and_passes_the_headers_the_service_sends() -> None:
    middlewares = traefik_dynamic()["http"]["middlewares"]
    forward_auth = middlewares["sessionauth-verify"]["forwardAuth"]
    sent = headers_verify_sends()

    assert forward_auth["address"].endswith("/auth/verify")
    assert forward_auth["trustForwardHeader"] is True
    assert forward_auth["authRequestHeaders"] == ["Cookie"]
    assert {h.lower() for h in forward_auth["authResponseHeaders"]} == sent
    removed = middlewares["drop-underscored-identity"]["headers"]["customRequestHeaders"]
    assert {name.lower().replace("_", "-") for name in removed} == sent
    assert set(removed.values()) == {""}


def test_traefik_checks_the_session_before_the_application_and_drops_spoofs_first() -> None:
    routers = traefik_dynamic()["http"]["routers"]

    assert routers["app"]["middlewares"] == ["drop-underscored-identity", "sessionauth-verify"]
    assert routers["app"]["rule"] == "PathPrefix(`/`)" and routers["app"]["priority"] == 1
    assert "middlewares" not in routers["sessionauth"]


def test_traefik_and_nginx_send_the_same_paths_to_sessionauth() -> None:
    rule = traefik_dynamic()["http"]["routers"]["sessionauth"]["rule"]
    nginx = nginx_public_pattern()

    for path in PUBLIC:
        assert traefik_rule_matches(rule, path), path
        assert nginx.fullmatch(path), path
    for path in NOT_PUBLIC:
        assert not traefik_rule_matches(rule, path), path
        assert not nginx.fullmatch(path), path

