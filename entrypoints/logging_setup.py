"""Log lines as one JSON object each (or text with key=value fields), for the app and for uvicorn."""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime

# The id of the request being handled (entrypoints/http/observer.py sets it): every line written
# while handling it carries it, so the audit events and warnings of one request can be found from
# its access line, and from the X-Request-ID its client or proxy saw.
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# Attributes every LogRecord has; anything else was passed with `extra=` and belongs in the line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`, for people reading a terminal.

    - Every field passed with `extra=` follows the message as `key=value`, so LOG_FORMAT=text
      keeps all that an audit event says, as JSON does.
    - A value that is not a plain word is written as a JSON string: quotes, spaces and line
      breaks in a client's user agent are escaped, so no client can forge a line or a field.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{k}={text_value(v)}" for k, v in vars(record).items() if k not in _STANDARD
        )
        line = super().format(record)
        return f"{line} {fields}" if fields else line


_PLAIN = re.compile(r"[\w.:/@+-]+")


def text_value(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Gives every record written while a request is handled that request's id (REQUEST_ID), as
    the field `request_id`; a record that names one itself keeps it."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True


class ServiceHandler(logging.StreamHandler):
    """The handler of the service's own configuration (`logging_config`). The access log looks for
    it to write its lines itself, to the same stream and in the same format
    (entrypoints/access_log.py); under any other configuration it logs through `logging`."""


def logging_config(level: str, fmt: str) -> dict:
    """A dictConfig for our loggers and uvicorn's, so every line has one format.

    - LOG_LEVEL applies to the service's messages and uvicorn's; the audit events
      (`sessionauth.audit`) are written at any level, and so is the access log
      (`sessionauth.access`), which ACCESS_LOG alone turns off.
    - uvicorn's own access log is off (`access_log=False` in cli.server_options, and no handler
      here): it prints each request's path with its query string, tokens included.
    """
    formatter = (
        {"()": "entrypoints.logging_setup.JsonFormatter"}
        if fmt == "json"
        else {"()": "entrypoints.logging_setup.TextFormatter"}
    )
    handler = {
        "class": "entrypoints.logging_setup.ServiceHandler",
        "formatter": "default",
        "filters": ["request_id"],
        "stream": "ext://sys.stderr",
    }
    logger = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "filters": {"request_id": {"()": "entrypoints.logging_setup.RequestIdFilter"}},
        "handlers": {"default": handler},
        "loggers": {
            "sessionauth": logger,
            "sessionauth.audit": {"level": "INFO"},
            "sessionauth.access": {"level": "INFO"},
            "uvicorn": logger,
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "propagate": False},
        },
    }
