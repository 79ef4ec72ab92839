"""What a running sessionauth holds open: the store, the password hasher, the background
purge and, when mail is on, the outbox sender. The service's app and an application that embeds sessionauth enter the same context."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress

from adapters.prometheus_metrics import PUBLISH_INTERVAL
from domain.errors import DomainError, PurgeInProgress
from entrypoints.bring_up import StoreBringUp
from entrypoints.container import Container
from entrypoints.mailers import is_console, redacted_mail_url
from entrypoints.settings import Settings

log = logging.getLogger("sessionauth")

CALIBRATION_INTERVAL = 600  # seconds between two looks at the costs of the stored hashes
CALIBRATION_RETRY = 30  # seconds, after a look failed (the store is down)
# Seconds between two looks at the schema, for the metrics: a newer version may migrate the
# database while this one runs (a rolling upgrade), and an older one is what a roll-back starts.
SCHEMA_INTERVAL = 60


@asynccontextmanager
async def running(
    container: Container,
    *,
    try_store_first: bool = True,
    migrate: bool | None = None,
    on_configuration_error: Callable[[str], None] | None = None,
) -> AsyncIterator[None]:
    """Bring the store up (entrypoints/bring_up.py: migrations unless `migrate` or
    MIGRATE_ON_START says not to, the schema checked, the store opened) in the background until
    it is ready, build the hasher (its dummy hash is made now, not on the first login), keep the
    dummy verify at the stored hashes' costs, and purge expired sessions every PURGE_INTERVAL
    seconds; undo all of it on the way out.

    `try_store_first`: make the first attempt before yielding, so that a store that answers is
    ready for the first request and a configuration error raises (StoreMisconfigured,
    MigrationChanged) instead of starting; an outage does not hold the start. `serve` passes
    False: its port opens at once, and /healthz answers while the store is migrated.
    """
    store = container.store()
    if not store.shared:
        log.warning(
            "%s is this process's own: nothing persists or is shared; set DATABASE_URL to "
            "use PostgreSQL",
            store.describe(),
        )
    settings = container.settings()
    bring_up = StoreBringUp(
        store,
        container.readiness(),
        migrate=settings.migrate_on_start if migrate is None else migrate,
        on_configuration_error=on_configuration_error,
    )
    if try_store_first:
        await bring_up.first()
    container.hasher()
    _log_second_factors(settings)
    mail_sender = container.mail_sender()
    if mail_sender is not None:
        _log_mail(settings.mail_url)
    tasks = [
        asyncio.create_task(bring_up.run(), name="sessionauth-bring-up"),
        asyncio.create_task(_purge_periodically(container, settings.purge_interval, bring_up.up)),
        asyncio.create_task(_calibrate_periodically(container, bring_up.up)),
        asyncio.create_task(_export_schema_periodically(container)),
        asyncio.create_task(_publish_metrics_periodically(container)),
    ]
    if mail_sender is not None:
        tasks.append(asyncio.create_task(mail_sender.run(bring_up.up), name="sessionauth-mail"))
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        # Reset requests answered already and still being handled finish before the store closes.
        if (forgot := container.forgot_password()) is not None:
            await forgot.settle()
        container.readiness().store_ready = False
        await store.close()
        container.hasher().close()
        if (metrics := container.metrics()) is not None:
            metrics.publish()  # what this worker counted since the last copy


def _log_second_factors(settings: Settings) -> None:
    if settings.secrets_key is None:
        log.warning(
            "SECRETS_KEY is unset: TOTP secrets are sealed with a key kept in the store, so a "
            "copy of the database holds both; set SECRETS_KEY (openssl rand -base64 32) to keep "
            "the key apart"
        )
    if not settings.webauthn_enabled:
        log.info("WebAuthn is off: set PUBLIC_URL or WEBAUTHN_RP_ID to offer passkeys")


def _log_mail(mail_url: str | None) -> None:
    if is_console(mail_url):
        log.warning(
            "MAIL_URL=console: every message is printed whole on standard output, links and "
            "tokens included; for development only, not for production"
        )
        return
    log.info(
        "sending mail through %s",
        redacted_mail_url(mail_url),
        extra={"mail_url": redacted_mail_url(mail_url)},
    )


async def _purge_periodically(container: Container, interval: int, up: asyncio.Event) -> None:
    """Delete expired sessions every `interval` seconds (0: never), once the store is up. Runs
    beside the requests, one statement at a time; on Postgres only one instance purges in a
    given round (the adapter takes a try-lock), so instances do not fight over the same rows."""
    if interval <= 0:
        return
    purge = container.purge_expired_sessions()
    metrics = container.metrics()
    await up.wait()
    while True:
        await asyncio.sleep(interval)
        try:
            purged = await purge.execute()
        except PurgeInProgress:
            continue  # another instance has this round
        except DomainError:
            log.warning(
                "purge of expired sessions failed; will retry", extra={"interval": interval}
            )
            continue
        if metrics is not None:
            metrics.purge_completed(time.time())
        if purged:
            log.info("purged expired sessions", extra={"purged": purged})


async def _calibrate_periodically(container: Container, up: asyncio.Event) -> None:
    """Look at the costs of the stored hashes as soon as the store is up (not before serving: a
    store that is down at start must not delay it), then every CALIBRATION_INTERVAL seconds;
    hashes change cost only as users log in after a change of ARGON2_*, so a few minutes late
    costs little."""
    calibrate = container.calibrate_dummy_verify()
    await up.wait()
    while True:
        try:
            await calibrate.execute()
        except DomainError:
            log.warning(
                "looking at the stored hash costs failed; will retry",
                extra={"retry": CALIBRATION_RETRY},
            )
            await asyncio.sleep(CALIBRATION_RETRY)
            continue
        await asyncio.sleep(CALIBRATION_INTERVAL)


async def _publish_metrics_periodically(container: Container) -> None:
    """In multiprocess mode (`serve --workers N`), copy the values the adapters keep in memory
    (cache hits, hashing refusals, pool use...) into this worker's metrics files every
    PUBLISH_INTERVAL seconds, where a scrape answered by any worker reads them."""
    metrics = container.metrics()
    if metrics is None or not metrics.multiprocess:
        return
    while True:
        await asyncio.sleep(PUBLISH_INTERVAL)
        metrics.publish()


async def _export_schema_periodically(container: Container) -> None:
    """Keep sessionauth_build_info's schema_version and the unknown-migrations gauge current, at
    once and every SCHEMA_INTERVAL seconds; a store that is down leaves the last known values."""
    metrics = container.metrics()
    if metrics is None:
        return
    store = container.store()
    while True:
        # A store that is down: its outage is logged and answered elsewhere.
        with suppress(DomainError):
            metrics.observe_schema(await store.schema_status())
        await asyncio.sleep(SCHEMA_INTERVAL)
