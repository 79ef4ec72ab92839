"""Form bodies as browsers send them: `application/x-www-form-urlencoded`, UTF-8.

Parsed here with urllib.parse rather than through python-multipart: the pages post nothing else,
and the 64 KiB body limit (BodySizeLimit) already bounds what is read.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.exceptions import HTTPException
from starlette.requests import Request

from entrypoints.http.request_text import is_storable

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 16  # the largest form has two fields


class MalformedForm(HTTPException):
    """An HTTPException, so the app answers it like any other 4xx (an HTML page under /ui/)."""


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields, the first value of each; 415 for another body type, 400 for a body
    that is not UTF-8 (percent-escapes included), holds U+0000 (which no store can keep) or has
    too many fields."""
    content_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != FORM_TYPE:
        raise MalformedForm(415, "Forms must be sent as application/x-www-form-urlencoded")
    body = await request.body()
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS, errors="strict"
        )
    except (UnicodeDecodeError, ValueError):
        raise MalformedForm(400, "Malformed form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if not (is_storable(name) and is_storable(value)):
            raise MalformedForm(400, "Malformed form")
        form.setdefault(name, value)
    return form
