"""Configuration, read once from the environment, named exactly as the HTTP API spec says."""

from __future__ import annotations

import base64
import binascii
import difflib
import ipaddress
import math
import os
import re
import ssl
from collections.abc import Mapping
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import argon2
from email_validator import EmailNotValidError, validate_email
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.session import SessionPolicy
from entrypoints.mailers import check_mail_url, is_console
from entrypoints.stores import STORES, scheme

_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an RFC 6265 cookie-name token
_DOMAIN = re.compile(
    r"\.?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
)
# PUBLIC_URL: scheme://host[:port][/prefix]; a host is a name, an IPv4 address or [IPv6].
_PUBLIC_URL = re.compile(
    r"https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:\d{1,5})?(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?",
    re.IGNORECASE,
)
_ORIGIN = re.compile(r"(https?)://([^/:@?#\s]+)(?::(\d{1,5}))?/?", re.IGNORECASE)


class ConfigError(Exception):
    """A setting has an invalid value. The message names the variable but never echoes the value
    (it may be a database URL with a password in it)."""


# cgroup v2: the quota of this process's cgroup and of each ancestor applies (the smallest wins).
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
# For tests only: a cpu.max file read instead of the process's own cgroup hierarchy.
CPU_MAX_VARIABLE = "SESSIONAUTH_CGROUP_CPU_MAX"


def core_limit() -> tuple[int, str]:
    """The cores this process may keep busy, and what limits it: its CPU affinity, or a cgroup
    CPU quota that is smaller (a 1-CPU container on a 32-core node must not hash 32 at once)."""
    affinity = len(os.sched_getaffinity(0))
    quota = cgroup_cpu_quota()
    if quota is not None and quota < affinity:
        return max(1, math.floor(quota)), "the cgroup CPU quota"
    return affinity, "the CPU affinity"


def usable_cores() -> int:
    return core_limit()[0]


def cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup quota allows (1.5 for `150000 100000`), or None without one."""
    override = os.environ.get(CPU_MAX_VARIABLE)
    files = [Path(override)] if override else _cpu_max_files()
    quotas = [q for q in (parse_cpu_max(_read(f)) for f in files) if q is not None]
    return min(quotas, default=None)


def parse_cpu_max(text: str | None) -> float | None:
    """cgroup v2 `cpu.max` ("$MAX $PERIOD", MAX `max` for no quota) as CPUs, or None."""
    fields = (text or "").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        quota, period = int(fields[0]), int(fields[1])
    except ValueError:
        return None
    return quota / period if quota > 0 and period > 0 else None


def _cpu_max_files() -> list[Path]:
    # "0::/kubepods/pod1/abc" is the cgroup v2 line; with a cgroup namespace (containers) it is
    # "0::/" and the container's own cgroup is mounted at the root.
    own = next(
        (
            line[3:].strip()
            for line in (_read(PROC_SELF_CGROUP) or "").splitlines()
            if line.startswith("0::")
        ),
        None,
    )
    if own is None:
        return []
    directory = CGROUP_ROOT / own.lstrip("/")
    return [d / "cpu.max" for d in (directory, *directory.parents) if d.is_relative_to(CGROUP_ROOT)]


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


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
    # Set in the container image: there an unset DATABASE_URL is a mistake that would lose every
    # account at the next restart, so the in-memory store must be asked for (`memory:`).
    database_url_required: bool = False
    database_pool_size: int = Field(10, ge=1, le=1000)
    database_timeout: float = Field(3.0, gt=0)
    session_cache: bool = True
    # False: serve applies no migration (its role needs no right to change the schema) and stays
    # unready until `sessionauth migrate` has brought the schema up to date.
    migrate_on_start: bool = True

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
    throttle_reset_per_address: int = Field(10, ge=0)  # POST /password/forgot per window
    device_cookie_ttl: int = Field(90 * 24 * 3600, ge=30 * 24 * 3600)
    device_cookie_key: str | None = None
    purge_interval: int = Field(3600, ge=0)
    shutdown_delay: int = Field(0, ge=0)
    shutdown_timeout: int = Field(10, ge=0)

    # Accounts: email, recovery and lifecycle (docs/configuration.md).
    # MAIL_URL unset or empty: mail is off, and the endpoints that send mail answer 404.
    mail_url: str | None = None
    mail_from: str | None = None
    public_url: str | None = None  # scheme://host[:port][/prefix]: where links in mail point
    mail_ca_file: str | None = None  # a CA bundle trusted for the mail server (else the system's)
    mail_retry_delay: int = Field(30, gt=0)  # seconds before the first retry; doubles each time
    mail_give_up_after: int = Field(2 * 86400, gt=0)  # seconds after queueing: no retry later
    product_name: str = "sessionauth"  # how mail names the service
    email_verify_ttl: int = Field(86400, gt=0)
    password_reset_ttl: int = Field(900, gt=0)
    mail_per_account: int = Field(3, ge=0)  # messages of one kind per account per THROTTLE_WINDOW
    notify_new_device: bool = True
    session_limit_per_user: int = Field(20, ge=0)  # 0: no limit

    # Second factors (docs/second-factors.md).
    # SECRETS_KEY: 32 bytes, base64; encrypts TOTP secrets at rest (unset: a key kept in the store).
    secrets_key: str | None = None
    mfa_pending_ttl: int = Field(300, ge=30, le=3600)  # a pending login, a WebAuthn challenge
    # Unset: the host of PUBLIC_URL, its origin and PRODUCT_NAME; with neither WEBAUTHN_RP_ID nor
    # PUBLIC_URL set, WebAuthn is off (its endpoints answer 404) and TOTP stays on.
    webauthn_rp_id: str | None = None
    webauthn_origins: str = ""
    webauthn_rp_name: str | None = None

    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    log_format: Literal["json", "text"] = "json"
    access_log: bool = True
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
        "mail_url",
        "mail_from",
        "public_url",
        "mail_ca_file",
        "session_cookie_domain",
        "device_cookie_key",
        "hash_share_per_address",
        "secrets_key",
        "webauthn_rp_id",
        "webauthn_rp_name",
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

    @field_validator("mail_url")
    @classmethod
    def _mail_url(cls, value: str | None) -> str | None:
        if value is not None:
            check_mail_url(value)  # its message never quotes the URL (it may hold a password)
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is not None and not is_mail_from(value):
            raise ValueError("must be an email address, or a name and one: Name <me@example.com>")
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not _PUBLIC_URL.fullmatch(value.strip()):
            raise ValueError(
                "must be http(s)://host[:port][/prefix], with no query, fragment or user part"
            )
        return None if value is None else value.strip()

    @field_validator("mail_ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:  # loaded as the mailer will, so that a bad file stops the start, not each send
            ssl.create_default_context(cafile=value)
        except (OSError, ValueError):  # ssl.SSLError is an OSError
            raise ValueError("must be a readable file of PEM certificates") from None
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

    @field_validator("secrets_key")
    @classmethod
    def _secrets_key(cls, value: str | None) -> str | None:
        if value is not None and secrets_key_bytes(value) is None:
            raise ValueError("must be 32 bytes in base64 (for example: openssl rand -base64 32)")
        return value

    @field_validator("webauthn_rp_id")
    @classmethod
    def _rp_id(cls, value: str | None) -> str | None:
        if value is not None and not _DOMAIN.fullmatch(value.strip().lower()):
            raise ValueError("must be a domain name such as example.com (no scheme or port)")
        return None if value is None else value.strip().lower().lstrip(".")

    @field_validator("webauthn_origins")
    @classmethod
    def _webauthn_origins(cls, value: str) -> str:
        for item in _items(value):
            if normalize_origin(item) is None:
                raise ValueError("must be a comma-separated list of scheme://host[:port]")
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
    def _database_url_given(self) -> Settings:
        if self.database_url_required and self.database_url is None:
            raise ValueError(
                "DATABASE_URL: must be set here (DATABASE_URL_REQUIRED=true, as in the container "
                "image): a postgresql:// URL, or memory: for the in-memory store, which keeps "
                "nothing across restarts"
            )
        return self

    @model_validator(mode="after")
    def _idle_within_absolute(self) -> Settings:
        if self.session_idle_timeout > self.session_absolute_timeout:
            raise ValueError(
                "SESSION_IDLE_TIMEOUT: must not be longer than SESSION_ABSOLUTE_TIMEOUT "
                "(a session ends at the absolute timeout whatever its use)"
            )
        return self

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

    @model_validator(mode="after")
    def _mail_needs(self) -> Settings:
        if self.mail_url is None:
            return self
        if self.public_url is None:
            raise ValueError(
                "PUBLIC_URL: must be set when MAIL_URL is (links in mail point there), "
                "for example https://auth.example.com"
            )
        if self.mail_from is None and not is_console(self.mail_url):
            raise ValueError("MAIL_FROM: must be set with an SMTP MAIL_URL (the sender address)")
        return self

    @model_validator(mode="after")
    def _webauthn_needs(self) -> Settings:
        if (
            self.webauthn_rp_id is not None
            and not self.webauthn_origins
            and self.public_url is None
        ):
            raise ValueError(
                "WEBAUTHN_ORIGINS: must be set with WEBAUTHN_RP_ID when PUBLIC_URL is not "
                "(the origins the browser signs), for example https://auth.example.com"
            )
        return self

    @property
    def webauthn_enabled(self) -> bool:
        """A relying party is known: WEBAUTHN_RP_ID, or the host of PUBLIC_URL."""
        return self.relying_party_id is not None

    @property
    def relying_party_id(self) -> str | None:
        if self.webauthn_rp_id is not None:
            return self.webauthn_rp_id
        if self.public_url is None:
            return None
        host = urlsplit(self.public_url).hostname
        if not host or _is_ip_address(host):
            return None  # WebAuthn takes a domain as relying party, never an IP address
        return host.lower()

    @property
    def relying_party_origins(self) -> frozenset[str]:
        """WEBAUTHN_ORIGINS, or the origin of PUBLIC_URL."""
        given = _items(self.webauthn_origins)
        if not given and self.public_url is not None:
            parts = urlsplit(self.public_url)  # its origin, without the path prefix
            given = [f"{parts.scheme}://{parts.netloc}"]
        return frozenset(o for o in (normalize_origin(i) for i in given) if o)

    @property
    def relying_party_name(self) -> str:
        return self.webauthn_rp_name or self.product_name

    @property
    def secrets_key_bytes(self) -> bytes | None:
        """SECRETS_KEY decoded; None when unset (the store keeps one)."""
        return None if self.secrets_key is None else secrets_key_bytes(self.secrets_key)

    @property
    def mail_enabled(self) -> bool:
        """MAIL_URL is set: the service sends mail (through the outbox)."""
        return self.mail_url is not None

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


def is_mail_from(value: str) -> bool:
    """An address, alone or after a display name, that email-validator accepts (no DNS)."""
    if any(c in value for c in "\r\n"):
        return False  # a header must stay one line
    addresses = getaddresses([value])
    if len(addresses) != 1:
        return False
    address = addresses[0][1]
    try:
        validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return False
    return bool(address)


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def secrets_key_bytes(value: str) -> bytes | None:
    """The 32 bytes of a base64 SECRETS_KEY (standard or URL-safe alphabet), or None."""
    text = value.strip()
    try:
        key = base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == 32 else None


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# Variables with the service's prefixes that others set, never reported: prometheus_client owns
# PROMETHEUS_ (only its PROMETHEUS_MULTIPROC_DIR is a setting here), desktop sessions set
# SESSION_MANAGER, and Kubernetes sets service links for every Service in the namespace (one named
# `database` gives DATABASE_SERVICE_HOST, DATABASE_PORT, DATABASE_PORT_5432_TCP_ADDR...).
FOREIGN_FIELDS = frozenset({"prometheus_multiproc_dir"})
FOREIGN_VARIABLES = frozenset({"SESSION_MANAGER"})
_SERVICE_LINK = re.compile(
    r"[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT(_[0-9]+_(TCP|UDP|SCTP)(_(PROTO|PORT|ADDR))?)?)"
)
# Prefixes that many other programs use too (LOG_FILE, LOG_DIR, ACCESS_TOKEN, ACCESS_KEY_ID...): a variable there is reported only
# when it is close to one of ours, i.e. most likely a typo of it.
GENERIC_PREFIXES = ("LOG_", "ACCESS_")
TYPO_CUTOFF = 0.6  # difflib's default similarity
GENERIC_TYPO_CUTOFF = 0.8


def known_variables() -> frozenset[str]:
    return frozenset(name.upper() for name in Settings.model_fields)


def setting_prefixes() -> tuple[str, ...]:
    """The first word of every setting's name (SESSION_, HASH_...), but for other tools' fields."""
    return tuple(
        sorted(
            {
                name.split("_")[0].upper() + "_"
                for name in Settings.model_fields
                if name not in FOREIGN_FIELDS
            }
        )
    )


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One message per variable with a setting's prefix that is no setting (a typo such as
    SESSION_COOKIE_SECUR would otherwise be ignored, its setting silently left at its default),
    naming the closest setting. Names only: a value may be a secret."""
    known, prefixes = known_variables(), setting_prefixes()
    messages = []
    for name in sorted(environ):
        upper = name.upper()  # settings are read whatever the case
        if (
            upper in known
            or upper in FOREIGN_VARIABLES
            or not upper.startswith(prefixes)
            or _SERVICE_LINK.fullmatch(upper)
        ):
            continue
        generic = upper.startswith(GENERIC_PREFIXES)
        cutoff = GENERIC_TYPO_CUTOFF if generic else TYPO_CUTOFF
        closest = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=cutoff)
        if closest:
            messages.append(f"{name}: not a setting; did you mean {closest[0]}?")
        elif not generic:
            messages.append(f"{name}: not a setting")
    return messages


def refuse_unknown_variables(environ: Mapping[str, str]) -> None:
    if messages := unknown_variables(environ):
        raise ConfigError("; ".join(messages))


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
