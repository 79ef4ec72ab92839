"""Bringing the store up beside serving: retried with backoff until ready, each cause logged, the
store opened only once its schema is current, configuration errors told apart and reported once."""

import logging

import pytest

from adapters.memory import InMemoryStore
from domain.errors import MigrationChanged, StoreMisconfigured, StoreUnavailable
from domain.schema import MigrationState, SchemaStatus
from entrypoints.bring_up import Backoff, StoreBringUp
from entrypoints.readiness import Readiness

CURRENT = SchemaStatus((("0001_initial", MigrationState.APPLIED),))
PENDING = SchemaStatus((("0001_initial", MigrationState.PENDING),))
CHANGED = SchemaStatus((("0001_initial", MigrationState.CHANGED),))
NEWER = SchemaStatus(
    (("0001_initial", MigrationState.APPLIED), ("9999_newer", MigrationState.UNKNOWN))
)


class ScriptedStore(InMemoryStore):
    """The in-memory store, whose schema looks (and migrations fail) as a test scripts, and which
    records what was asked of it."""

    def __init__(self, *answers: SchemaStatus | Exception) -> None:
        super().__init__()
        self.answers = list(answers)  # one per schema_status(); the last one stays
        self.calls: list[str] = []

    async def migrate(self) -> list[str]:
        self.calls.append("migrate")
        return []

    async def schema_status(self) -> SchemaStatus:
        self.calls.append("schema_status")
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def open(self) -> None:
        self.calls.append("open")

    def describe(self) -> str:
        return "the scripted store"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def bring_up(store, migrate=True, on_configuration_error=None):
    sleeps = Sleeps()
    readiness = Readiness()
    made = StoreBringUp(
        store,
        readiness,
        migrate=migrate,
        on_configuration_error=on_configuration_error,
        backoff=Backoff(uniform=lambda low, high: high),
        sleep=sleeps,
    )
    return made, readiness, sleeps


def test_the_backoff_doubles_from_half_a_second_to_ten_with_jitter_below_it():
    most = Backoff(uniform=lambda low, high: high)
    assert [most.next() for _ in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    least = Backoff(uniform=lambda low, high: low)
    assert [least.next() for _ in range(7)] == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    drawn = Backoff()  # random.uniform
    for nominal in (0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0):
        assert nominal / 2 <= drawn.next() <= nominal


async def test_an_outage_is_retried_with_growing_delays_each_cause_logged(caplog):
    store = ScriptedStore(
        StoreUnavailable(detail="ConnectionRefusedError: refused"),
        StoreUnavailable(detail="no answer in time"),
        CURRENT,
    )
    made, readiness, sleeps = bring_up(store)
    with caplog.at_level(logging.INFO, "sessionauth"):
        await made.run()
    assert sleeps.delays == [0.5, 1.0]
    assert readiness.store_ready and made.up.is_set()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [(r.cause, r.retry_in) for r in warnings] == [
        ("ConnectionRefusedError: refused", 0.5),
        ("no answer in time", 1.0),
    ]
    assert all("next attempt in" in r.getMessage() for r in warnings)
    assert caplog.records[-1].getMessage() == "store ready"


async def test_until_ready_the_readiness_says_why_and_the_store_stays_closed():
    store = ScriptedStore(StoreUnavailable(detail="no answer in time"), CURRENT)
    made, readiness, _ = bring_up(store)
    await made.first()
    assert not readiness.store_ready and readiness.reason == "no answer in time"
    assert "open" not in store.calls
    await made.run()
    assert readiness.store_ready and readiness.reason == ""
    assert store.calls[-1] == "open"


async def test_without_migrating_it_waits_for_the_schema_and_opens_the_store_only_then(caplog):
    store = ScriptedStore(PENDING, PENDING, CURRENT)
    made, readiness, sleeps = bring_up(store, migrate=False)
    await made.run()
    assert "migrate" not in store.calls
    assert store.calls == ["schema_status", "schema_status", "schema_status", "open"]
    assert len(sleeps.delays) == 2 and readiness.store_ready
    hints = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(hints) == 2
    assert all("MIGRATE_ON_START=false" in h and "sessionauth migrate" in h for h in hints)


async def test_migrating_comes_before_the_schema_check():
    store = ScriptedStore(CURRENT)
    made, readiness, _ = bring_up(store, migrate=True)
    await made.run()
    assert store.calls == ["migrate", "schema_status", "open"]
    assert readiness.store_ready


@pytest.mark.parametrize(
    "refusal",
    [
        StoreMisconfigured('the server refused the role or password: for user "app"'),
        CHANGED,
    ],
    ids=["misconfigured", "changed"],
)
async def test_a_configuration_error_is_reported_once_and_attempts_go_on(caplog, refusal):
    store = ScriptedStore(refusal, refusal, refusal, CURRENT)
    reported = []
    made, readiness, sleeps = bring_up(store, on_configuration_error=reported.append)
    await made.run()
    assert len(reported) == 1
    assert reported[0].startswith("the scripted store: ")
    assert ("for user" in reported[0]) or ("0001_initial.sql" in reported[0])
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3 and errors[0].getMessage().startswith("configuration error: ")
    assert len(sleeps.delays) == 3 and readiness.store_ready


@pytest.mark.parametrize(
    ("refusal", "raised"),
    [(StoreMisconfigured("no such database"), StoreMisconfigured), (CHANGED, MigrationChanged)],
    ids=["misconfigured", "changed"],
)
async def test_the_first_attempt_raises_a_configuration_error(refusal, raised):
    made, readiness, _ = bring_up(ScriptedStore(refusal))
    with pytest.raises(raised):
        await made.first()
    assert not readiness.store_ready


async def test_an_unexpected_failure_is_logged_with_its_traceback_and_retried(caplog):
    store = ScriptedStore(RuntimeError("a bug"), CURRENT)
    made, readiness, sleeps = bring_up(store)
    await made.run()
    assert readiness.store_ready and sleeps.delays == [0.5]
    (failure,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert failure.exc_info is not None


async def test_migrations_this_version_does_not_know_are_logged_when_ready(caplog):
    made, readiness, _ = bring_up(ScriptedStore(NEWER))
    await made.run()
    assert readiness.store_ready
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.unknown_migrations == ["9999_newer"]


async def test_a_store_that_does_not_answer_the_readiness_question_is_not_ready():
    class Silent(ScriptedStore):
        async def ping(self) -> bool:
            return False

    made, readiness, _ = bring_up(Silent(CURRENT))
    await made.first()
    assert not readiness.store_ready and "readiness" in readiness.reason
