"""The email-address and user-agent adapters."""

import pytest

from adapters.email_addresses import EmailValidatorAddresses
from adapters.user_agents import UNKNOWN, UaParserUserAgents
from domain.errors import InvalidEmail

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def test_an_address_is_normalised_with_its_domain_lower_cased():
    assert EmailValidatorAddresses().normalize("Alice.Smith@EXAMPLE.com") == (
        "Alice.Smith@example.com"
    )


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "alice",
        "alice@",
        "@example.com",
        "a@b",
        "a b@example.com",
        "a@example.com\r\nBcc: x@y.z",
        "x" * 300 + "@example.com",
    ],
)
def test_a_malformed_address_is_invalid_and_names_the_email_field(raw):
    with pytest.raises(InvalidEmail) as error:
        EmailValidatorAddresses().normalize(raw)
    assert error.value.field == "email"


@pytest.mark.parametrize(
    ("header", "name"),
    [
        (CHROME_LINUX, "Chrome 156 on Linux"),
        (SAFARI_IPHONE, "Mobile Safari 17 on iOS"),
        ("curl/8.5.0", "curl 8"),
        ("", UNKNOWN),
        (None, UNKNOWN),
        ("garbage \x00 header", UNKNOWN),
    ],
)
def test_a_user_agent_is_named_by_browser_and_system(header, name):
    assert UaParserUserAgents().describe(header) == name


def test_a_huge_user_agent_is_cut_before_parsing():
    assert UaParserUserAgents().describe(CHROME_LINUX + "x" * 100_000) == "Chrome 156 on Linux"
