"""What API tests read off a response: cookie attributes, timestamps, a page's headers."""

import re

import httpx

from entrypoints.http.ui.middleware import CONTENT_SECURITY_POLICY

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def set_cookie_attributes(response, name="session_id") -> dict[str, str]:
    headers = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, headers
    first, *attributes = [part.strip() for part in headers[0].split(";")]
    parsed = {"value": first.partition("=")[2]}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        parsed[key.lower()] = value
    return parsed


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "same-origin"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in response.headers
    assert response.status_code != 401


# The one script a page may load (with WebAuthn on): the service's own file, never inline.
THE_SCRIPT = re.compile(r'<script src="(?:/[^"]*)?/ui/static/webauthn\.js" defer></script>')


def assert_html(response: httpx.Response) -> None:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text.startswith("<!doctype html>")
    text = THE_SCRIPT.sub("", response.text, count=1)
    assert "<script" not in text.lower() and not re.search(r"\son[a-z]+=", text)
    assert_page_headers(response)
