"""The client address behind trusted proxies: hops with ports, IPv4-mapped IPv6, garbled hops.

Real load balancers write hops such as `203.0.113.7:5555` (Azure Application Gateway) and
`[2001:db8::1]:443` (RFC 7239's node syntax); a listener on `::` sees IPv4 peers as
`::ffff:10.0.0.1`. Each must name the same client as its bare IPv4 or IPv6 form.
"""

import ipaddress
from functools import cache

import pytest
from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http.client_address import ClientAddress
from entrypoints.settings import load_settings

PROXY = "10.0.0.2"


@cache
def addresses(proxies: str = "10.0.0.0/8") -> ClientAddress:
    return ClientAddress(load_settings(trusted_proxies=proxies).proxies)


def client_of(xff: str | None, peer: str = PROXY, proxies: str = "10.0.0.0/8") -> str | None:
    headers = [(b"x-forwarded-for", xff.encode())] if xff is not None else []
    return addresses(proxies).of({"client": (peer, 1), "headers": headers})


@pytest.mark.parametrize(
    ("xff", "expected"),
    [
        ("203.0.113.7:5555", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:DB8:0::1]:443", "2001:db8::1"),
        ("203.0.113.7:0", "203.0.113.7"),
        ("203.0.113.7:65535", "203.0.113.7"),
        (" 203.0.113.7:5555 ", "203.0.113.7"),
        (
            "198.51.100.7:80, 10.0.0.9:1234",
            "198.51.100.7",
        ),  # a trusted hop with a port is skipped too
        ("198.51.100.7, [::ffff:10.0.0.9]:80", "198.51.100.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("[::ffff:203.0.113.7]:443", "203.0.113.7"),
        ("198.51.100.7, ::ffff:10.0.0.9", "198.51.100.7"),  # a mapped trusted hop is skipped
        ("2001:db8::1:443", "2001:db8::1:443"),  # without brackets every colon is the address's own
    ],
)
def test_a_hop_loses_its_port_and_its_ipv4_mapping(xff, expected):
    assert client_of(xff) == expected


@pytest.mark.parametrize(
    "hop",
    [
        "203.0.113.7:",
        "203.0.113.7:65536",
        "203.0.113.7:99999",
        "203.0.113.7:-1",
        "203.0.113.7:+80",
        "203.0.113.7: 80",
        "203.0.113.7:80:80",
        "203.0.113.7:5a",
        "203.0.113.7:\u0664\u0664\u0663",  # Arabic-Indic digits: str.isdigit says yes, a port says no
        "[203.0.113.7]:80",  # brackets are for IPv6 only
        "[2001:db8::1]:",
        "[2001:db8::1]443",
        "[2001:db8::1",
        "2001:db8::1]:443",
        "[[2001:db8::1]]:443",
        "[]:443",
        ":443",
        "[2001:db8::1]:443:1",
        "fe80::1%eth0",  # a zone names a link of the sender's host: meaningless here, and free text
        "[fe80::1%eth0]:443",
        "unknown",
        "_hidden",
        "",
    ],
)
def test_a_garbled_hop_is_still_refused(hop):
    # The last address a trusted party vouched for stands: here the proxy itself.
    assert client_of(f"198.51.100.7, {hop}") == PROXY
    assert client_of(hop) == PROXY


def test_an_ipv4_mapped_peer_matches_an_ipv4_trusted_proxy():
    assert addresses().is_trusted("::ffff:10.0.0.2")
    assert client_of("198.51.100.7", peer="::ffff:10.0.0.2") == "198.51.100.7"
    assert client_of("203.0.113.7:5555", peer="::ffff:10.0.0.2") == "203.0.113.7"


def test_an_ipv4_mapped_peer_is_its_ipv4_address_also_when_untrusted():
    # One client, one throttle bucket, whether the listener is IPv4 or dual-stack.
    assert client_of(None, peer="::ffff:192.0.2.1", proxies="") == "192.0.2.1"
    assert client_of("198.51.100.7", peer="::ffff:192.0.2.1") == "192.0.2.1"


def test_an_ipv4_mapped_trusted_proxy_entry_matches_an_ipv4_peer():
    assert addresses("::ffff:10.0.0.0/104").is_trusted("10.0.0.2")
    assert addresses("::ffff:10.0.0.2").is_trusted("::ffff:10.0.0.2")
    assert not addresses("::ffff:10.0.0.0/104").is_trusted("11.0.0.2")


def test_forwarding_headers_are_believed_from_an_ipv4_mapped_trusted_peer():
    scope = {"client": ("::ffff:10.0.0.2", 1), "headers": [(b"x-forwarded-proto", b"https")]}
    assert addresses().forwarded(scope, b"x-forwarded-proto") == "https"


ports = st.integers(min_value=0, max_value=65535)
public_v4 = st.ip_addresses(v=4).filter(lambda ip: ip not in ipaddress.ip_network("10.0.0.0/8"))
public_v6 = st.ip_addresses(v=6).filter(lambda ip: ip.ipv4_mapped is None)


@given(public_v4, ports)
def test_any_ipv4_hop_with_any_port_is_that_address(ip, port):
    assert client_of(f"{ip}:{port}") == str(ip)
    assert client_of(f"[::ffff:{ip}]:{port}") == str(ip)
    assert client_of(str(ipaddress.IPv6Address(f"::ffff:{ip}"))) == str(ip)


@given(public_v6, ports)
def test_any_bracketed_ipv6_hop_with_or_without_a_port_is_that_address(ip, port):
    assert client_of(f"[{ip}]:{port}") == str(ip)
    assert client_of(f"[{ip.exploded}]") == str(ip)


@given(st.text(max_size=40))
def test_any_hop_is_an_address_or_refused_never_an_error(hop):
    found = client_of(hop.replace(",", ""))
    assert found == PROXY or ipaddress.ip_address(found).ipv4_mapped is None
