"""A stateful property test: the in-memory and the Postgres stores agree on any sequence of
operations of the repository contract."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from adapters.memory import InMemoryStore
from adapters.postgres import PostgresStore
from domain.errors import NotAuthenticated, UsernameTaken
from domain.session import Session, hash_token
from domain.user import User, Username
from tests.postgres_provider import truncate_all

T0 = datetime(2026, 5, 1, tzinfo=UTC)
IDLE = timedelta(minutes=10)
NAMES = ["alice", "Alice", "bob", "ＢＯＢ"]  # two accounts, so that sessions often share a user


def outcome(call):
    """The result, or the kind of error: what both stores must agree on."""
    try:
        return call()
    except (UsernameTaken, NotAuthenticated) as error:
        return type(error).__name__


def comparable_session(session):
    return (
        None
        if session is None
        else (
            session.id,
            session.user_id,
            session.token_hash,
            session.last_seen_at,
            session.expires_at,
        )
    )


def test_memory_and_postgres_agree_on_any_sequence(migrated_database_url):
    loop = asyncio.new_event_loop()
    run = loop.run_until_complete
    postgres = PostgresStore(migrated_database_url, max_size=2)
    run(postgres.open())

    class StoresAgree(RuleBasedStateMachine):
        users = Bundle("users")
        sessions = Bundle("sessions")

        @initialize()
        def fresh(self):
            run(truncate_all(migrated_database_url))
            self.stores = [InMemoryStore(), postgres]
            self.now = T0
            self.hashes: dict[str, str] = {}

        def both(self, action):
            results = [outcome(lambda s=store: run(action(s))) for store in self.stores]
            assert results[0] == results[1], results
            return results[0]

        @rule(target=users, name=st.sampled_from(NAMES))
        def sign_up(self, name):
            user = User(str(uuid.uuid4()), Username.parse(name), "$argon2id$h0", self.now)
            if self.both(lambda s: s.users.add(user)) is not None:
                return multiple()  # taken: nothing new to log in as
            self.hashes[user.id] = user.password_hash
            return user

        @rule(target=sessions, user=users, offset=st.integers(0, 3600))
        def log_in(self, user, offset):
            session = Session(
                str(uuid.uuid4()),
                user.id,
                hash_token(uuid.uuid4().hex + "x" * 11),
                self.now,
                self.now,
                self.now + timedelta(seconds=offset + 60),
            )
            self.both(lambda s: s.sessions.add(session, password_hash=self.hashes.get(user.id, "")))
            return session

        @rule(session=sessions)
        def resolve(self, session):
            self.both(lambda s: _resolved(s, session))

        @rule(
            session=sessions, uses=st.lists(st.sampled_from([0, 200, 400]), min_size=1, max_size=3)
        )
        def touch(self, session, uses):
            # a few uses in a row, in any order: later ones may be older (requests finish out of order)
            for seconds in uses:
                self.both(
                    lambda s, seconds=seconds: s.sessions.touch(
                        session.token_hash, self.now + timedelta(seconds=seconds)
                    )
                )
            self.both(lambda s: _resolved(s, session))

        @rule(session=sessions)
        def revoke(self, session):
            self.both(lambda s: s.sessions.revoke(session.token_hash))

        @rule(session=sessions)
        def revoke_by_id(self, session):
            self.both(lambda s: s.sessions.revoke_by_id(session.user_id, session.id))

        @rule(session=sessions, keep=st.booleans())
        def revoke_all(self, session, keep):
            kept = session.id if keep else None
            self.both(
                lambda s: s.sessions.revoke_all_for_user(session.user_id, keep_session_id=kept)
            )

        @rule(session=sessions, n=st.integers(1, 1000))
        def change_password(self, session, n):
            new_hash = f"$argon2id$h{n}"
            result = self.both(
                lambda s: s.users.change_password(
                    session.user_id,
                    new_hash,
                    keep_session_id=session.id,
                    new_token_hash=hash_token(f"{n:043d}"),
                )
            )
            if isinstance(result, int):
                self.hashes[session.user_id] = new_hash

        @rule(seconds=st.integers(0, 400))
        def time_passes_and_purge(self, seconds):
            self.now += timedelta(seconds=seconds)
            self.both(lambda s: s.sessions.purge_expired(self.now, IDLE))

        @rule(key=st.sampled_from(["a", "b"]), limit=st.integers(1, 4), window=st.integers(1, 600))
        def count_attempt(self, key, limit, window):
            self.both(lambda s: s.attempts.acquire(key, limit, self.now, timedelta(seconds=window)))

        @rule(key=st.sampled_from(["a", "b"]))
        def give_one_back(self, key):
            counts = run(self.stores[0].attempts.get([key], self.now))
            if key in counts:
                self.both(lambda s: s.attempts.release(key, counts[key].resets_at))

        @invariant()
        def same_users_and_sessions(self):
            for name in NAMES:
                canonical = Username.parse(name).canonical
                found = [run(s.users.get_by_username(canonical)) for s in self.stores]
                assert [u and (u.id, u.password_hash) for u in found] == [
                    found[0] and (found[0].id, found[0].password_hash)
                ] * 2
                if found[0] is not None:
                    listed = [
                        [comparable_session(x) for x in run(s.sessions.list_for_user(found[0].id))]
                        for s in self.stores
                    ]
                    assert sorted(listed[0]) == sorted(listed[1])
            counts = [
                {
                    k: (c.value, c.resets_at)
                    for k, c in run(s.attempts.get(["a", "b"], self.now)).items()
                }
                for s in self.stores
            ]
            assert counts[0] == counts[1]

    async def _resolved(store, session):
        found = await store.sessions.get_with_user(session.token_hash)
        return None if found is None else (comparable_session(found[0]), found[1].id)

    try:
        run_state_machine_as_test(
            StoresAgree,
            settings=settings(
                max_examples=80, stateful_step_count=30, deadline=None, derandomize=True
            ),
        )
    finally:
        run(postgres.close())
        loop.close()
