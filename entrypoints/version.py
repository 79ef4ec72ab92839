"""The version of this code: the installed distribution's, so pyproject.toml is its one source."""

from __future__ import annotations

from importlib.metadata import version


def installed_version() -> str:
    return version("sessionauth")
