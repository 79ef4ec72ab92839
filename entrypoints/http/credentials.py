"""Login credentials from `Authorization: Basic` (RFC 7617, UTF-8) or a JSON body."""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from dataclasses import dataclass, field

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from entrypoints.http.schemas import Credentials


class MalformedAuthorization(Exception):
    """The Authorization header cannot be read as Basic credentials (400)."""


@dataclass(frozen=True, slots=True)
class PresentedCredentials:
    username: str
    password: str = field(repr=False)
    via_basic: bool


def parse_basic(header: str) -> tuple[str, str]:
    # FastAPI's HTTPBasic decodes as ASCII, so `jürgen` could not log in; RFC 7617 says UTF-8.
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic":
        raise MalformedAuthorization("Authorization must use the Basic scheme")
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise MalformedAuthorization("Malformed Basic credentials") from None
    username, colon, password = decoded.partition(":")
    if not colon:
        raise MalformedAuthorization("Malformed Basic credentials")
    return username, password


async def read_credentials(request: Request) -> PresentedCredentials | None:
    """Basic wins when both are sent; None when the request carries no credentials at all."""
    header = request.headers.get("authorization")
    if header is not None:
        username, password = parse_basic(header)
        return PresentedCredentials(username, password, via_basic=True)
    body = await request.body()
    if not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:  # also covers bytes that are not UTF-8
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "Body is not valid JSON"}]
        ) from None
    try:
        creds = Credentials.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    return PresentedCredentials(creds.username, creds.password, via_basic=False)
