"""What a request tells about who is asking, as the use-cases need it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Client:
    address: str | None = None
    user_agent: str | None = None
    device_cookie: str | None = field(default=None, repr=False)
