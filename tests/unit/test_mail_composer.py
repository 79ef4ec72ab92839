"""The messages the templates make: every kind renders, links carry their token, HTML escapes."""

from datetime import UTC, datetime

import pytest

from adapters.mail_composer import TemplateMailComposer
from domain.mail import MailFacts, MailKind

WHEN = datetime(2026, 11, 30, 14, 5, tzinfo=UTC)


def composer() -> TemplateMailComposer:
    return TemplateMailComposer(product_name="Acme <Login>", public_url="https://id.example/auth/")


@pytest.mark.parametrize("kind", list(MailKind))
def test_every_kind_has_a_subject_and_both_bodies_naming_the_account(kind):
    content = composer().compose(
        kind, MailFacts(username="alice", token="t0k3n", when=WHEN, device="Chrome 156 on Linux")
    )
    assert "Acme <Login>" in content.subject
    assert "alice" in content.text and "alice" in content.html
    assert content.html.startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("kind", "path"),
    [(MailKind.VERIFY_EMAIL, "/ui/verify-email"), (MailKind.PASSWORD_RESET, "/ui/reset-password")],
)
def test_a_link_message_points_under_the_public_url_with_its_token_quoted(kind, path):
    content = composer().compose(kind, MailFacts(username="alice", token="a/b+c"))
    link = f"https://id.example/auth{path}?token=a%2Fb%2Bc"
    assert link in content.text
    assert f'href="{link}"' in content.html


@pytest.mark.parametrize("kind", [MailKind.VERIFY_EMAIL, MailKind.PASSWORD_RESET])
def test_a_link_message_without_a_token_is_refused(kind):
    with pytest.raises(ValueError, match="needs a token"):
        composer().compose(kind, MailFacts(username="alice"))


def test_a_notice_tells_when_on_which_device_from_where_and_how_to_end_sessions():
    content = composer().compose(
        MailKind.NEW_DEVICE,
        MailFacts(username="alice", when=WHEN, device="Firefox 140 on Windows", ip="203.0.113.7"),
    )
    for text in (content.text, content.html):
        assert "2026-11-30 14:05 UTC" in text
        assert "Firefox 140 on Windows" in text
        assert "203.0.113.7" in text
        assert "https://id.example/auth/ui/" in text


def test_html_escapes_what_it_interpolates_and_text_keeps_it_as_typed():
    content = composer().compose(
        MailKind.NEW_DEVICE,
        MailFacts(username="al<i>ce", device='<script>alert("x")</script>', when=WHEN),
    )
    assert "<script>" not in content.html
    assert "&lt;script&gt;" in content.html
    assert "al&lt;i&gt;ce" in content.html
    assert '<script>alert("x")</script>' in content.text
