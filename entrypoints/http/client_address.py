"""Who is the client: the socket peer, or what trusted proxies say it is."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.types import Scope

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ClientAddress:
    """The spec's rule: the socket peer, unless the peer is in TRUSTED_PROXIES; then
    X-Forwarded-For read from the right, skipping trusted proxies. uvicorn's own proxy-header
    handling is off, so nothing else rewrites the peer."""

    def __init__(self, proxies: Sequence[Network]) -> None:
        self._proxies = tuple(proxies)

    def is_trusted(self, address: str | None) -> bool:
        if not self._proxies or address is None:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)

    def peer(self, scope: Scope) -> str | None:
        client = scope.get("client")
        return client[0] if client else None

    def of(self, scope: Scope) -> str | None:
        peer = self.peer(scope)
        if not self.is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in _header_values(scope["headers"], b"x-forwarded-for") for hop in hop.split(",")]
        client = peer
        for hop in reversed(hops):
            try:
                address = str(ipaddress.ip_address(hop))
            except ValueError:
                break  # a garbled hop: keep the last address a trusted party vouched for
            client = address
            if not self.is_trusted(address):
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


def _header_values(headers: Iterable[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [value.decode("latin-1") for key, value in headers if key == name]
