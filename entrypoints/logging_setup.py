"""Log lines as one JSON object each (or text with key=value fields), for the app and for uvicorn."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

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
            f"{k}={_text_value(v)}" for k, v in vars(record).items() if k not in _STANDARD
        )
        line = super().format(record)
        return f"{line} {fields}" if fields else line


_PLAIN = re.compile(r"[\w.:/@+-]+")


def _text_value(value: object) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text, ensure_ascii=False)


def logging_config(level: str, fmt: str) -> dict:
    """A dictConfig for our loggers and uvicorn's, so every line has one format."""
    formatter = (
        {"()": "entrypoints.logging_setup.JsonFormatter"}
        if fmt == "json"
        else {"()": "entrypoints.logging_setup.TextFormatter"}
    )
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    logger = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": {
            "sessionauth": logger,
            "uvicorn": logger,
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": logger,
        },
    }
