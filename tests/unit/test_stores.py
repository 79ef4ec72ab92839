"""DATABASE_URL's scheme chooses the store from one table; anything else is a configuration error
that names the variable and never its value."""

import pytest

from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from domain.ports import Store
from entrypoints.container import build_container
from entrypoints.settings import ConfigError, load_settings
from entrypoints.stores import STORES, build_store
from tests.api.client import log_in, running_client, sign_up

PASSWORD_URL = "postgresql://app:hunter2@db.example:5432/auth"


def store_for(database_url):
    return build_store(load_settings(database_url=database_url))


@pytest.mark.parametrize("database_url", [None, "", "memory:", "MEMORY:"])
def test_no_url_or_memory_is_the_in_memory_store(database_url):
    store = store_for(database_url)
    assert isinstance(store, InMemoryStore)
    assert store.shared is False
    assert store.describe() == "the in-memory store"


@pytest.mark.parametrize(
    "database_url", [PASSWORD_URL, "postgres://app@db.example/auth", "PostgreSQL://db/auth"]
)
def test_a_postgres_url_is_the_postgres_store_shared_and_described_without_password(
    database_url,
):
    store = store_for(database_url)  # built, not opened: nothing connects here
    assert isinstance(store, PostgresStore)
    assert store.shared is True
    assert store.describe().startswith("PostgreSQL at ")
    assert "hunter2" not in store.describe()


@pytest.mark.parametrize(
    "database_url",
    ["mysql://app:hunter2@db/auth", "hunter2", "sqlite:///hunter2.db", "memory//hunter2"],
)
def test_an_unknown_scheme_is_a_configuration_error_naming_the_variable_not_the_value(
    database_url,
):
    with pytest.raises(ConfigError) as refused:
        load_settings(database_url=database_url)
    message = str(refused.value)
    assert message.startswith("DATABASE_URL: ")
    assert "hunter2" not in message
    assert all(scheme in message for scheme in STORES)


def test_the_container_serves_the_store_the_table_chose():
    assert isinstance(build_container(load_settings(database_url="memory:")).store(), InMemoryStore)
    container = build_container(load_settings(database_url=PASSWORD_URL))
    assert isinstance(container.store(), PostgresStore)
    assert container.store() is container.store()  # one store per container


@pytest.mark.parametrize("scheme", sorted(STORES))
def test_every_row_builds_an_adapter_of_the_store_port(scheme):
    # Subclassing the Protocol is what lets tests/unit/test_ports_implemented.py check that the
    # adapter has every method the service calls (open, close, ping, migrate, describe...).
    url = "memory:" if scheme == "memory" else f"{scheme}://app@127.0.0.1:9/auth"
    store = store_for(url)
    assert Store in type(store).__mro__
    assert isinstance(store.shared, bool)


class _ThirdStore(InMemoryStore):
    """A store the service has never heard of: here the in-memory adapter under its own class."""


async def test_a_third_store_is_one_row_in_the_table(monkeypatch):
    # The row is the only change: settings accept the scheme, the container builds the store, and
    # the whole app signs up, logs in and resolves the session on it.
    monkeypatch.setitem(STORES, "third", lambda url, settings, metrics: _ThirdStore())
    async with running_client(database_url="third:") as client:
        assert type(client.app.state.container.store()) is _ThirdStore
        await sign_up(client)
        await log_in(client)
        assert (await client.get("/getusers/me")).json()["username"] == "alice"
    with pytest.raises(ConfigError):
        load_settings(database_url="fourth:")
