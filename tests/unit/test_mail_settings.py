"""MAIL_URL, MAIL_FROM, PUBLIC_URL and MAIL_CA_FILE are checked at start: a bad value is refused
naming the variable and never its value (a MAIL_URL may hold a password); the mailer is chosen by
the URL's scheme; the URL is logged only without its password."""

import pytest

from adapters.console_mailer import ConsoleMailer
from adapters.smtp_mailer import SmtpMailer
from entrypoints.mailers import build_mailer, parse_smtp_url, redacted_mail_url
from entrypoints.settings import ConfigError, load_settings
from tests.smtp_server import make_certificates

SECRET = "hunter2-not-to-be-echoed"
ON = {"public_url": "https://auth.example.com", "mail_from": "no-reply@auth.example.com"}


def refused(**settings) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings(**settings)
    message = str(error.value)
    assert SECRET not in message
    return message


@pytest.mark.parametrize("url", ["", "   ", None])
def test_an_unset_or_empty_mail_url_turns_mail_off(url):
    settings = load_settings(mail_url=url)
    assert not settings.mail_enabled
    assert build_mailer(settings) is None


@pytest.mark.parametrize(
    ("url", "security", "host", "port"),
    [
        ("smtp://relay.internal", "plain", "relay.internal", 25),
        ("smtp+starttls://mail.example.com", "starttls", "mail.example.com", 587),
        ("SMTPS://mail.example.com", "tls", "mail.example.com", 465),
        ("smtps://[2001:db8::25]:2465", "tls", "2001:db8::25", 2465),
        ("smtp://relay:2525/", "plain", "relay", 2525),
    ],
)
def test_each_smtp_scheme_chooses_its_security_and_default_port(url, security, host, port):
    parsed = parse_smtp_url(url)
    assert (parsed.security, parsed.host, parsed.port) == (security, host, port)
    settings = load_settings(mail_url=url, **ON)
    assert settings.mail_enabled
    assert isinstance(build_mailer(settings), SmtpMailer)


def test_credentials_are_percent_decoded_and_never_in_the_logged_form():
    url = f"smtp+starttls://me%40example.com:{SECRET}%2F@mail.example.com:2587"
    parsed = parse_smtp_url(url)
    assert (parsed.username, parsed.password) == ("me@example.com", f"{SECRET}/")
    assert SECRET not in repr(parsed)
    logged = redacted_mail_url(url)
    assert logged == "smtp+starttls://me%40example.com:***@mail.example.com:2587"


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://user:{SECRET}@mail.example.com",
        f"smtp://user:{SECRET}@",
        f"smtp://user:{SECRET}@mail.example.com:0",
        f"smtp://user:{SECRET}@mail.example.com:70000",
        f"smtp://user:{SECRET}@mail.example.com:port",
        f"smtp://user:{SECRET}@mail.example.com/path",
        f"smtp://user:{SECRET}@mail.example.com?x=1",
        f"smtp://:{SECRET}@mail.example.com",
        f"console:{SECRET}",
        SECRET,
    ],
)
def test_a_malformed_mail_url_is_refused_naming_the_variable_never_the_value(url):
    assert refused(mail_url=url, **ON).startswith("MAIL_URL: ")


def test_console_needs_only_a_public_url_and_prints():
    settings = load_settings(mail_url="console:", public_url="http://127.0.0.1:8000")
    assert settings.mail_enabled
    assert isinstance(build_mailer(settings), ConsoleMailer)
    assert redacted_mail_url("console:") == "console:"


def test_mail_needs_a_public_url():
    message = refused(mail_url="console:")
    assert message.startswith("PUBLIC_URL: must be set when MAIL_URL is")


def test_smtp_needs_a_sender():
    message = refused(mail_url=f"smtp://u:{SECRET}@relay", public_url="https://auth.example")
    assert message.startswith("MAIL_FROM: must be set")


@pytest.mark.parametrize(
    "sender", ["no-reply@auth.example.com", "Acme Auth <no-reply@auth.example.com>"]
)
def test_a_sender_may_carry_a_display_name(sender):
    assert load_settings(mail_from=sender).mail_from == sender


@pytest.mark.parametrize(
    "sender",
    [
        "not an address",
        "a@b.example, c@d.example",
        "no-reply@auth.example.com\r\nBcc: eve@example.com",
        "no-reply@",
    ],
)
def test_a_malformed_sender_is_refused(sender):
    assert refused(mail_from=sender).startswith("MAIL_FROM: ")


@pytest.mark.parametrize(
    "url",
    [
        "https://auth.example.com",
        "http://127.0.0.1:8000",
        "https://example.com/auth/",
        "https://[2001:db8::1]:8443/prefix",
    ],
)
def test_a_public_url_is_a_scheme_host_port_and_prefix(url):
    assert load_settings(public_url=url).public_url == url


@pytest.mark.parametrize(
    "url",
    [
        "ftp://auth.example.com",
        "auth.example.com",
        f"https://user:{SECRET}@auth.example.com",
        "https://auth.example.com/?next=1",
        "https://auth.example.com/#top",
        "https://",
    ],
)
def test_a_malformed_public_url_is_refused(url):
    assert refused(public_url=url).startswith("PUBLIC_URL: ")


def test_a_ca_file_must_be_a_readable_file_of_certificates(tmp_path):
    assert refused(mail_ca_file=str(tmp_path / "missing.pem")).startswith("MAIL_CA_FILE: ")
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot one\n")
    assert refused(mail_ca_file=str(garbage)).startswith("MAIL_CA_FILE: ")
    ca_file = make_certificates(tmp_path).ca_file
    assert load_settings(mail_ca_file=ca_file).mail_ca_file == ca_file


@pytest.mark.parametrize("name", ["mail_retry_delay", "mail_give_up_after"])
def test_retry_timings_must_be_positive(name):
    assert refused(**{name: 0}).startswith(f"{name.upper()}: ")
