"""Browser and system names from User-Agent headers, by `ua-parser` (its regexes, kept up to date
by the ua-parser-builtins releases), for notices, the sessions list and the account page."""

from __future__ import annotations

from functools import lru_cache

import ua_parser

from domain.ports import UserAgents

UNKNOWN = "Unknown browser"
# A header longer than this is cut before parsing: the regexes' cost grows with the input, and
# no real browser sends more.
PARSED_LENGTH = 512


class UaParserUserAgents(UserAgents):
    def describe(self, user_agent: str | None) -> str:
        return _describe(user_agent[:PARSED_LENGTH]) if user_agent else UNKNOWN


@lru_cache(maxsize=1024)  # a user's few browsers, asked for on every listing of their sessions
def _describe(user_agent: str) -> str:
    result = ua_parser.parse(user_agent)
    browser = result.user_agent
    if browser is None or browser.family == "Other":
        return UNKNOWN
    name = f"{browser.family} {browser.major}" if browser.major else browser.family
    system = result.os
    if system is None or system.family == "Other":
        return name
    return f"{name} on {system.family}"
