"""Configuration, read once from the environment, named exactly as the HTTP API spec says."""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, Literal

import argon2
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.session import SessionPolicy
from entrypoints.stores import STORES, scheme

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 cookie-name token
_DOMAIN = re.compile(
    r"\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
_ORIGIN = re.compile(r"(https?)://([^/:@?#\s]+)(?::(\d{1,5}))?/?", re.IGNORECASE)


class ConfigError(Exception):
    """A setting has an invalid value. The message names the variable but never echoes the value
    (it may be a database URL with a password in it)."""


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def normalize_origin(origin: str) -> str | None:
    """`scheme://host[:port]` with scheme and host lower-cased and a default port dropped, or None
    when it is not such an origin (`null`, a path, a user part)."""
    match = _ORIGIN.fullmatch(origin.strip())
    if match is None:
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if port is not None and int(port) != {"http": 80, "https": 443}[scheme]:
        return f"{scheme}://{host}:{int(port)}"
    return f"{scheme}://{host}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore")

    database_url: str | None = None
    database_pool_size: int = Field(10, ge=1, le=1000)
    database_timeout: float = Field(3.0, gt=0)
    session_cache: bool = True

    session_cookie_name: str = "session_id"
    session_cookie_secure: bool = True
    session_cookie_samesite: Literal["lax", "strict"] = "lax"
    session_cookie_domain: str | None = None
    session_idle_timeout: int = Field(1800, gt=0)
    session_absolute_timeout: int = Field(28800, gt=0)

    trusted_origins: str = ""
    trusted_proxies: str = ""

    argon2_time_cost: int = Field(argon2.DEFAULT_TIME_COST, ge=1)
    argon2_memory_cost: int = Field(argon2.DEFAULT_MEMORY_COST, ge=8)
    argon2_parallelism: int = Field(argon2.DEFAULT_PARALLELISM, ge=1)
    hash_concurrency: int = Field(default_factory=usable_cores, ge=1)
    hash_queue_size: int = Field(16, ge=0)
    hash_queue_timeout: float = Field(3.0, gt=0)
    # Unset: a quarter of HASH_CONCURRENCY + HASH_QUEUE_SIZE, at least 1; 0: no cap.
    hash_share_per_address: int | None = Field(None, ge=0)

    throttle_window: int = Field(900, gt=0)
    throttle_login_per_address: int = Field(10, ge=0)
    throttle_login_per_account: int = Field(50, ge=0)
    throttle_login_per_device: int = Field(10, ge=0)
    throttle_signup_per_address: int = Field(20, ge=0)
    throttle_failures_per_address: int = Field(100, ge=0)
    device_cookie_ttl: int = Field(90 * 24 * 3600, ge=30 * 24 * 3600)
    device_cookie_key: str | None = None
    purge_interval: int = Field(3600, ge=0)

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["json", "text"] = "json"
    metrics_enabled: bool = True
    # prometheus_client's own variable (it reads it at import): set, each worker keeps its metrics
    # in files there and /metrics sums them. `serve --workers N` makes a private one itself.
    prometheus_multiproc_dir: str | None = None

    @field_validator("session_cookie_samesite", "log_level", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator(
        "database_url",
        "session_cookie_domain",
        "device_cookie_key",
        "hash_share_per_address",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("database_url")
    @classmethod
    def _known_store(cls, value: str | None) -> str | None:
        # The message lists the schemes, never the value: a URL may hold a password.
        if value is not None and scheme(value) not in STORES:
            raise ValueError(f"must be a URL whose scheme is one of: {', '.join(STORES)}")
        return value

    @field_validator("session_cookie_domain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.fullmatch(value):
            raise ValueError("must be a domain name such as example.com")
        return value

    @field_validator("device_cookie_key")
    @classmethod
    def _key_length(cls, value: str | None) -> str | None:
        # A comma-separated list (a rotation): an empty item is a typo, not a key.
        if value is not None and any(len(key.strip().encode()) < 32 for key in value.split(",")):
            raise ValueError(
                "every comma-separated key must be at least 32 bytes (for example: openssl rand -hex 32)"
            )
        return value

    @field_validator("prometheus_multiproc_dir")
    @classmethod
    def _directory(cls, value: str | None) -> str | None:
        # An empty value still puts prometheus_client in multiprocess mode, writing to the
        # working directory: refused like any other path that is not a directory.
        if value is not None and not os.path.isdir(value):
            raise ValueError("must be an existing directory")
        return value

    @field_validator("session_cookie_name")
    @classmethod
    def _cookie_token(cls, value: str) -> str:
        if not _COOKIE_NAME.fullmatch(value):
            raise ValueError("must be a cookie-name token (letters, digits and !#$%&'*+-.^_`|~)")
        return value

    @field_validator("trusted_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for item in _items(value):
            if normalize_origin(item) is None:
                raise ValueError("must be a comma-separated list of scheme://host[:port]")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        for item in _items(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    "must be a comma-separated list of IP addresses or CIDR networks"
                ) from None
        return value

    @model_validator(mode="after")
    def _host_prefix_rules(self) -> Settings:
        # RFC 6265bis: browsers drop a __Host- cookie that is not Secure or carries a Domain.
        if self.session_cookie_name.startswith("__Host-") and (
            not self.session_cookie_secure or self.session_cookie_domain
        ):
            raise ValueError(
                "SESSION_COOKIE_NAME: a __Host- cookie needs SESSION_COOKIE_SECURE=true and no SESSION_COOKIE_DOMAIN"
            )
        return self

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy.from_seconds(self.session_idle_timeout, self.session_absolute_timeout)

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(
            o for o in (normalize_origin(i) for i in _items(self.trusted_origins)) if o
        )

    @property
    def device_cookie_keys(self) -> tuple[bytes, ...]:
        """DEVICE_COOKIE_KEY's keys in order (the first signs); empty when it is unset."""
        return tuple(
            key.strip().encode() for key in (self.device_cookie_key or "").split(",") if key.strip()
        )

    @property
    def proxies(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(i, strict=False) for i in _items(self.trusted_proxies))


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and `overrides`, for tests), or ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError("; ".join(_describe(e) for e in error.errors())) from None


def _describe(error: ErrorDetails) -> str:
    message = error["msg"].removeprefix("Value error, ")
    if error["loc"]:
        return f"{str(error['loc'][0]).upper()}: {message}"
    return message
