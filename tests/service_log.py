"""The service's own logging configuration (entrypoints/logging_setup.py), its stream a StringIO that
tests read: the lines as `sessionauth serve` writes them to stderr, access log included."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
from collections.abc import Iterator
from contextlib import contextmanager

from entrypoints.logging_setup import logging_config


@contextmanager
def service_log(
    level: str = "info", fmt: str = "json", stream: io.StringIO | None = None
) -> Iterator[io.StringIO]:
    """LOG_LEVEL=level and LOG_FORMAT=fmt for the block, as `serve` configures them, writing to
    `stream` (a new StringIO by default); every logger the configuration touches is put back as it
    was afterwards. Build the app inside the block: its access log finds the stream when the app
    is made."""
    stream = io.StringIO() if stream is None else stream
    config = logging_config(level, fmt)
    config["handlers"]["default"]["stream"] = stream
    loggers = [logging.getLogger(name) for name in config["loggers"]]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    logging.config.dictConfig(config)
    try:
        yield stream
    finally:
        for logger, handlers, level_, propagate, disabled in saved:
            logger.handlers = handlers
            logger.setLevel(level_)
            logger.propagate = propagate
            logger.disabled = disabled


def json_lines(stream: io.StringIO) -> list[dict]:
    """Every line written, each parsed as the one JSON object it must be."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def text_fields(line: str) -> dict[str, str]:
    """A LOG_FORMAT=text line's `key=value` fields after its message, a quoted value unquoted."""
    pairs = re.findall(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)', line.partition(": ")[2])
    return {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}
