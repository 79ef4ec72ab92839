"""Login credentials from `Authorization: Basic` (RFC 7617, UTF-8) or a JSON body.

- Basic credentials are decoded as UTF-8 and split at the first `:`; bytes that are not UTF-8,
  or a U+0000 in them (RFC 7617 forbids control characters there), are a malformed header (400).
- A JSON body must be UTF-8 (json.loads would decode bytes with "surrogatepass" and let encoded
  surrogates through), valid JSON (else 422 `json_invalid`, as FastAPI answers elsewhere), and
  nested less deeply than the parser's recursion limit (else 400).
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from dataclasses import dataclass, field

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request

from entrypoints.http.request_text import TOO_DEEP, MalformedRequest, is_storable
from entrypoints.http.schemas import Credentials


class MalformedAuthorization(MalformedRequest):
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
    if not colon or not is_storable(decoded):
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
        data = json.loads(body.decode("utf-8"))
    except ValueError:  # also covers bytes that are not UTF-8
        raise RequestValidationError(
            [{"type": "json_invalid", "loc": ("body",), "msg": "Body is not valid JSON"}]
        ) from None
    except RecursionError:  # json's C parser recurses once per level of nesting
        raise MalformedRequest(TOO_DEEP) from None
    try:
        creds = Credentials.model_validate(data)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    return PresentedCredentials(creds.username, creds.password, via_basic=False)
