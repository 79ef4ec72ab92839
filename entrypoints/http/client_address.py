"""Who is the client: the socket peer, or what trusted proxies say it is."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from starlette.types import Scope

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# `198.51.100.7:5555`: a dotted IPv4 address and a port; `[2001:db8::1]:443` or `[2001:db8::1]`:
# a bracketed IPv6 address with or without a port (RFC 7239's node syntax, which balancers also
# use in X-Forwarded-For). ASCII digits only: `str.isdigit` would take other scripts' digits.
_IPV4_PORT = re.compile(r"([0-9.]+):([0-9]{1,5})")
_BRACKETED_IPV6 = re.compile(r"\[([0-9A-Fa-f:.]+)\](?::([0-9]{1,5}))?")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


class ClientAddress:
    """The spec's rule: the socket peer, unless the peer is in TRUSTED_PROXIES; then
    X-Forwarded-For read from the right, skipping trusted proxies. uvicorn's own proxy-header
    handling is off, so nothing else rewrites the peer.

    - A hop's port is dropped (`203.0.113.7:5555`, `[2001:db8::1]:443`, `[2001:db8::1]`), so that
      clients behind a balancer that writes ports do not all share the balancer's address.
    - An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, how a dual-stack listener sees IPv4 peers)
      is its IPv4 address: in the peer, in hops, and in TRUSTED_PROXIES entries.
    - A garbled hop (anything else, an IPv6 zone `%eth0` included) ends the walk: the last address
      a trusted party vouched for stands.
    """

    def __init__(self, proxies: Sequence[Network]) -> None:
        self._proxies = tuple(_unmapped_network(network) for network in proxies)

    def is_trusted(self, address: str | None) -> bool:
        if not self._proxies or address is None:
            return False
        try:
            ip = _unmapped(ipaddress.ip_address(address))
        except ValueError:
            return False
        return self._trusts(ip)

    def peer(self, scope: Scope) -> str | None:
        client = scope.get("client")
        return client[0] if client else None

    def of(self, scope: Scope) -> str | None:
        client = scope.get("client")
        peer = client[0] if client else None
        if not self._proxies or not self.is_trusted(peer):
            return _canonical(peer)
        hops = [
            hop
            for value in _header_values(scope["headers"], b"x-forwarded-for")
            for hop in value.split(",")
        ]
        client = _canonical(peer)
        for hop in reversed(hops):
            address = hop_address(hop)
            if address is None:
                break  # a garbled hop: keep the last address a trusted party vouched for
            client = str(address)
            if not self._trusts(address):
                break
        return client

    def forwarded(self, scope: Scope, name: bytes) -> str | None:
        """The last value of a forwarding header (X-Forwarded-Proto, X-Forwarded-Host), believed
        only from a trusted peer."""
        if not self.is_trusted(self.peer(scope)):
            return None
        values = [v.strip() for v in _header_values(scope["headers"], name) for v in v.split(",")]
        values = [v for v in values if v]
        return values[-1] if values else None

    def _trusts(self, ip: Address) -> bool:
        return any(ip in network for network in self._proxies)


def hop_address(hop: str) -> Address | None:
    """One X-Forwarded-For hop as an address without its port, IPv4-mapped IPv6 as IPv4; None
    for anything else."""
    text = hop.strip(" \t")
    if "%" in text:
        return None  # a zone names a link of the sender's host; here it is only free text
    if match := _IPV4_PORT.fullmatch(text):
        text, port = match.groups()
        if int(port) > 65535:
            return None
        try:
            return ipaddress.IPv4Address(text)
        except ValueError:
            return None
    if match := _BRACKETED_IPV6.fullmatch(text):
        text, port = match.groups()
        if port is not None and int(port) > 65535:
            return None
        try:
            return _unmapped(ipaddress.IPv6Address(text))
        except ValueError:
            return None
    try:
        return _unmapped(ipaddress.ip_address(text))
    except ValueError:
        return None


def _unmapped(ip: Address) -> Address:
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return mapped if mapped is not None else ip


def _unmapped_network(network: Network) -> Network:
    """`::ffff:10.0.0.0/104` as `10.0.0.0/8`: addresses are compared unmapped, so entries are too."""
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED):
        return ipaddress.IPv4Network(
            (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
        )
    return network


@lru_cache(maxsize=4096)  # parsing costs microseconds, and the access log asks on every request
def _canonical(address: str | None) -> str | None:
    """The peer as the hops are written (`::ffff:192.0.2.1` as `192.0.2.1`): one client, one
    throttle bucket, whether the listener is IPv4 or dual-stack. Left as it is when not an address."""
    if address is None:
        return None
    try:
        return str(_unmapped(ipaddress.ip_address(address)))
    except ValueError:
        return address


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key == name]
