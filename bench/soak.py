"""The soak run: `python -m bench.soak` (or `make soak`; not part of CI).

Ten minutes (`--minutes`) of mixed traffic from virtual users against one real `sessionauth serve`
on a fresh PostgreSQL database (BENCH_DATABASE_URL, or the local server on 127.0.0.1:5432; the
database is dropped at the end). Keepers hold one session for the whole run and resolve it
steadily, now and then logging in a second device and revoking it; churners come and go: sign up
(some), mistype the password (some), log in, resolve, list their sessions, then log out (and
replay the dead cookie) or walk away and leave the session to idle expiry and the purge.

Every response is checked against the one status it must have; anything else (a 5xx, a 503 from
the hashing queue, a transport error, any unexpected status) is an error. Per time bucket it
prints requests, errors, latency percentiles, the server's memory and CPU and the row counts of
the tables that churn, then a verdict: no errors, and memory flat after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import platform
import random
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx

from bench.run import (
    BENCH_ENV,
    CREATED,
    PASSWORD,
    ROOT,
    Server,
    drop_databases,
    fresh_database,
    raw_argon2_rate,
    rss_kib,
    sessionauth,
)
from entrypoints.settings import Settings

COOKIE = "session_id"
WRONG_PASSWORD = PASSWORD + "!"
RESOLVE_PATHS = ("/getusers/me", "/protected", "/auth/verify")
KINDS = ("resolve", "login", "signup", "other")

# Production defaults (throttling included), except where said. Time is compressed so that idle
# expiry, the purge and the throttle windows each come round several times within ten minutes.
# Every virtual client has its own address, sent in X-Forwarded-For from a trusted proxy, as
# clients behind a reverse proxy would.
_DEFAULT_THROTTLES = {
    name.upper(): str(Settings.model_fields[name].default)
    for name in (
        "throttle_login_per_address",
        "throttle_login_per_account",
        "throttle_login_per_device",
        "throttle_signup_per_address",
        "throttle_failures_per_address",
    )
}
SOAK_ENV = {
    **_DEFAULT_THROTTLES,
    "LOG_LEVEL": "info",  # access and audit lines too, as in production
    "TRUSTED_PROXIES": "127.0.0.1",
    "SESSION_IDLE_TIMEOUT": "120",
    "THROTTLE_WINDOW": "120",
    "PURGE_INTERVAL": "60",
}
# OWASP's first choice for argon2id (m=19 MiB, t=2, p=1): a cost production may run, at which a
# soak fits hundreds of logins a minute; `--default-cost` keeps argon2-cffi's (64 MiB, t=3, p=4).
OWASP_ARGON2 = {"ARGON2_TIME_COST": "2", "ARGON2_MEMORY_COST": "19456", "ARGON2_PARALLELISM": "1"}

# uvicorn closes a keep-alive connection idle this long (its default, which serve keeps). A request
# sent on it at that very instant fails with "server disconnected"; browsers retry such a request,
# httpx does not, so no virtual user idles on an open connection that long.
KEEP_ALIVE_SECONDS = 5.0
MEMORY_BOUND_PERCENT = 5.0  # the RSS floor may grow this much from the first to the last third
RSS_SAMPLE_EVERY = 0.25  # seconds


@dataclass
class Plan:
    """The offered load: a closed loop of virtual users with random (exponential) think times."""

    keepers: int = 20
    churners: int = 40
    keeper_think: float = 0.1  # mean seconds between a keeper's requests
    keeper_list_share: float = 0.03  # a keeper's requests that list its sessions (the rest resolve)
    churner_think: float = 0.5  # mean seconds between a churner's resolves
    churner_pause: float = 1.0  # mean seconds between a churner's visits
    resolves_per_visit: tuple[int, int] = (5, 25)
    signup_share: float = 0.3  # visits that begin with a sign-up (a churner's first always does)
    wrong_password_share: float = 0.2  # visits that begin with a mistyped password
    list_share: float = 0.3  # visits that list the sessions
    logout_share: float = 0.5  # the other visits walk away from their session
    second_device_every: float = (
        60.0  # mean seconds between a keeper's second-device login + revoke
    )

    def nominal(self) -> dict[str, float]:
        """Requests per second the plan offers when responses take no time."""
        resolves = sum(self.resolves_per_visit) / 2
        visit = resolves * self.churner_think + self.churner_pause
        visits = self.churners / visit
        keeper = self.keepers / self.keeper_think
        phones = self.keepers / self.second_device_every
        return {
            "resolve": keeper * (1 - self.keeper_list_share)
            + visits * (resolves + self.logout_share)
            + phones,
            "login": visits * (1 + self.wrong_password_share) + phones,
            "signup": visits * self.signup_share,
            "other": keeper * self.keeper_list_share
            + visits * (self.list_share + self.logout_share)
            + phones * 2,
            "hashes": visits * (1 + self.wrong_password_share + self.signup_share) + phones,
        }


@dataclass
class Bucket:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    errors: int = 0
    lag_ms: list[float] = field(default_factory=list)  # the load generator's own event-loop delays
    rss_kib: list[int] = field(default_factory=list)
    server_cpu: float = 0.0  # percent of one core
    client_cpu: float = 0.0
    load: float = 0.0
    tables: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())


class Recorder:
    def __init__(self, seconds: float, bucket_seconds: float) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.bucket_seconds = bucket_seconds
        self.buckets = [Bucket() for _ in range(math.ceil(seconds / bucket_seconds))]
        self.failures: Counter[str] = Counter()
        self.counts: Counter[str] = Counter()

    @property
    def running(self) -> bool:
        return time.monotonic() < self.deadline

    def bucket(self) -> Bucket:
        index = int((time.monotonic() - self.started) / self.bucket_seconds)
        return self.buckets[min(index, len(self.buckets) - 1)]

    def record(self, kind: str, what: str, seconds: float, failure: str | None) -> None:
        bucket = self.bucket()
        bucket.latencies[kind].append(seconds * 1000)
        self.counts[what] += 1
        if failure is not None:
            self.fail(f"{what}: {failure}")

    def fail(self, failure: str) -> None:
        self.bucket().errors += 1
        self.failures[failure] += 1


class Unexpected(Exception):
    """A response other than the one expected: recorded already; the user starts over."""


class VirtualUser:
    def __init__(
        self, url: str, recorder: Recorder, rng: random.Random, plan: Plan, name: str
    ) -> None:
        self.url, self.recorder, self.rng, self.plan, self.name = url, recorder, rng, plan, name

    def client(self, address: str) -> httpx.AsyncClient:
        """One browser: its own connection and cookie jar, from its own address."""
        return httpx.AsyncClient(
            base_url=self.url,
            timeout=10,
            headers={"X-Forwarded-For": address, "User-Agent": f"soak/{self.name}"},
        )

    async def call(
        self,
        client: httpx.AsyncClient,
        kind: str,
        what: str,
        expect: int,
        method: str,
        path: str,
        **kwargs,
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            response = await client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            self.recorder.record(kind, what, time.perf_counter() - started, type(error).__name__)
            raise Unexpected from None
        failure = None if response.status_code == expect else str(response.status_code)
        self.recorder.record(kind, what, time.perf_counter() - started, failure)
        if failure:
            raise Unexpected
        return response

    async def think(self, mean: float) -> None:
        await asyncio.sleep(min(self.rng.expovariate(1 / mean), mean * 10, KEEP_ALIVE_SECONDS - 1))

    async def resolve(self, client: httpx.AsyncClient, expect: int = 200) -> None:
        path = self.rng.choice(RESOLVE_PATHS)
        await self.call(client, "resolve", f"GET {path} {expect}", expect, "GET", path)

    async def sign_up(self, client: httpx.AsyncClient, username: str) -> None:
        await self.call(
            client,
            "signup",
            "POST /signup",
            201,
            "POST",
            "/signup",
            json={"username": username, "password": PASSWORD},
        )

    async def log_in(
        self, client: httpx.AsyncClient, username: str, password: str = PASSWORD
    ) -> None:
        expect, what = (
            (200, "POST /login") if password == PASSWORD else (401, "POST /login wrong password")
        )
        if self.rng.random() < 0.5:  # HTTP Basic, as the tutorial's clients do; else a JSON body
            await self.call(
                client, "login", what, expect, "POST", "/login", auth=(username, password)
            )
        else:
            await self.call(
                client,
                "login",
                what,
                expect,
                "POST",
                "/login",
                json={"username": username, "password": password},
            )


class Keeper(VirtualUser):
    """Signs up, logs in once and keeps the session for the whole run, resolving it steadily;
    lists its sessions now and then, and now and then logs in a second device and revokes it."""

    async def run(self, address: str) -> None:
        username = f"keeper-{self.name}"
        async with self.client(address) as client:
            while self.recorder.running:
                try:
                    await self.sign_up(client, username)
                    break
                except Unexpected:
                    await self.think(1.0)
            next_device = time.monotonic() + self.rng.expovariate(1 / self.plan.second_device_every)
            while self.recorder.running:
                try:
                    await self.log_in(client, username)
                    while self.recorder.running:
                        await self.think(self.plan.keeper_think)
                        if time.monotonic() >= next_device:
                            next_device += self.rng.expovariate(1 / self.plan.second_device_every)
                            await self.second_device(client, username, address)
                        elif self.rng.random() < self.plan.keeper_list_share:
                            await self.call(
                                client, "other", "GET /sessions", 200, "GET", "/sessions"
                            )
                        else:
                            await self.resolve(client)
                except Unexpected:
                    await self.think(1.0)  # log in again

    async def second_device(self, client: httpx.AsyncClient, username: str, address: str) -> None:
        async with self.client(address) as phone:
            await self.log_in(phone, username)
            listed = (
                await self.call(client, "other", "GET /sessions", 200, "GET", "/sessions")
            ).json()
            others = [s for s in listed if not s["current"]]
            if not others:
                self.recorder.fail("GET /sessions: the second device's session is missing")
                raise Unexpected
            await self.call(
                client,
                "other",
                "DELETE /sessions/{id}",
                204,
                "DELETE",
                f"/sessions/{others[0]['id']}",
            )
            await self.resolve(phone, expect=401)


class Churner(VirtualUser):
    """Visit after visit, each from a new browser and address: sometimes a new account, else one
    of its earlier ones; sometimes a mistyped password first; then a log-in, resolves, maybe a
    look at the sessions, and a logout (replaying the dead cookie after it) or walking away."""

    async def run(self, addresses: AddressBook) -> None:
        accounts: list[str] = []
        plan = self.plan
        while self.recorder.running:
            async with self.client(addresses.next()) as client:
                try:
                    if not accounts or self.rng.random() < plan.signup_share:
                        username = f"churner-{self.name}-{len(accounts)}"
                        await self.sign_up(client, username)
                        accounts.append(username)
                    else:
                        username = self.rng.choice(accounts)
                    if self.rng.random() < plan.wrong_password_share:
                        await self.log_in(client, username, WRONG_PASSWORD)
                    await self.log_in(client, username)
                    for _ in range(self.rng.randint(*plan.resolves_per_visit)):
                        await self.think(plan.churner_think)
                        await self.resolve(client)
                    if self.rng.random() < plan.list_share:
                        await self.call(client, "other", "GET /sessions", 200, "GET", "/sessions")
                    if self.rng.random() < plan.logout_share:
                        token = client.cookies[COOKIE]
                        await self.call(client, "other", "POST /logout", 200, "POST", "/logout")
                        client.cookies.set(COOKIE, token)  # a copy of the cookie, kept after logout
                        await self.resolve(client, expect=401)
                except Unexpected:
                    pass
            await self.think(plan.churner_pause)


class AddressBook:
    """A new client address for every visit (10.0.0.0/8, in order)."""

    def __init__(self) -> None:
        self._next = 1

    def next(self) -> str:
        n, self._next = self._next, self._next + 1
        return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"


def process_tree(root: int) -> list[int]:
    """The serve process and its descendants (uvicorn's workers with --workers)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(text.rsplit(")", 1)[1].split()[1])
    tree, frontier = [root], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def tree_rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):  # a worker that just exited
            total += rss_kib(pid)
    return total


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


async def table_rows(connection: asyncpg.Connection) -> dict[str, int]:
    row = await connection.fetchrow(
        "SELECT (SELECT count(*) FROM sessions) AS sessions, (SELECT count(*) FROM users) AS users,"
        " (SELECT count(*) FROM attempt_counters) AS counters,"
        " pg_total_relation_size('sessions') AS sessions_bytes"
    )
    return dict(row)


async def watch(server: Server, database_url: str, recorder: Recorder) -> None:
    """Samples the server's RSS every RSS_SAMPLE_EVERY seconds; at each bucket's end, its CPU,
    the client's CPU, the load average and the table sizes."""
    connection = await asyncpg.connect(database_url)
    try:
        pids = process_tree(server.process.pid)
        server_cpu, client_cpu = cpu_seconds(pids), time.process_time()
        for index, bucket in enumerate(recorder.buckets):
            end = recorder.started + (index + 1) * recorder.bucket_seconds
            while (now := time.monotonic()) < end:
                bucket.rss_kib.append(tree_rss_kib(pids))
                await asyncio.sleep(min(RSS_SAMPLE_EVERY, end - now))
            pids = process_tree(server.process.pid)
            server_now, client_now = cpu_seconds(pids), time.process_time()
            bucket.server_cpu = (server_now - server_cpu) / recorder.bucket_seconds * 100
            bucket.client_cpu = (client_now - client_cpu) / recorder.bucket_seconds * 100
            server_cpu, client_cpu = server_now, client_now
            bucket.load = os.getloadavg()[0]
            bucket.tables = await table_rows(connection)
    finally:
        await connection.close()


async def drive(
    server: Server,
    database_url: str,
    plan: Plan,
    seconds: float,
    bucket_seconds: float,
    ramp: float,
    seed: int,
) -> Recorder:
    """Start the virtual users spread over `ramp` seconds (sixty sign-ups at one instant would
    overflow the hashing queue, which is the storm test's business, not this one's)."""
    recorder = Recorder(seconds, bucket_seconds)
    addresses = AddressBook()
    run = uuid.uuid4().hex[:6]
    users = [
        Keeper(server.url, recorder, random.Random(f"{seed}-k{i}"), plan, f"{run}-{i}").run(
            f"192.168.{i >> 8}.{i & 255}"
        )
        for i in range(plan.keepers)
    ] + [
        Churner(server.url, recorder, random.Random(f"{seed}-c{i}"), plan, f"{run}-{i}").run(
            addresses
        )
        for i in range(plan.churners)
    ]
    stagger = random.Random(seed)
    tasks = [asyncio.create_task(_after(stagger.uniform(0, ramp), user)) for user in users]
    tasks.append(asyncio.create_task(loop_lag(recorder)))
    try:
        await watch(server, database_url, recorder)
    finally:
        # At the deadline: requests in flight are abandoned, not counted.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return recorder


async def loop_lag(recorder: Recorder, every: float = 0.01) -> None:
    """How late the client's event loop wakes up: a measured latency includes this much of the
    client's own delay, not the server's."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every)
        recorder.bucket().lag_ms.append((time.perf_counter() - started - every) * 1000)


async def _after(delay: float, work) -> None:
    await asyncio.sleep(delay)
    await work


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / var * 60 if var else 0.0


@dataclass
class Verdict:
    errors: int
    first_mib: float
    last_mib: float
    growth_percent: float
    slope_mib_per_min: float

    @property
    def memory_flat(self) -> bool:
        return self.growth_percent < MEMORY_BOUND_PERCENT

    @property
    def passed(self) -> bool:
        return self.errors == 0 and self.memory_flat


def judge(recorder: Recorder, warmup: float) -> Verdict:
    """Memory: the RSS floor of each bucket (its lowest sample, between argon2 buffers), after the
    warm-up; the mean of the last third against the mean of the first third, and a linear fit."""
    floors = [
        ((i + 0.5) * recorder.bucket_seconds, min(b.rss_kib) / 1024)
        for i, b in enumerate(recorder.buckets)
        if i * recorder.bucket_seconds >= warmup and b.rss_kib
    ]
    third = max(1, len(floors) // 3)
    first = sum(v for _, v in floors[:third]) / third
    last = sum(v for _, v in floors[-third:]) / third
    return Verdict(
        sum(recorder.failures.values()),
        first,
        last,
        (last - first) / first * 100,
        slope_per_minute(floors),
    )


@dataclass
class ServerLog:
    levels: Counter[str]
    purges: int = 0
    purged: int = 0  # sessions the periodic purge deleted

    @property
    def bad(self) -> int:
        """Lines at error level or above, and lines that are not our JSON (a raw traceback)."""
        return sum(
            n for level, n in self.levels.items() if level in ("error", "critical", "not json")
        )


def read_server_log(server: Server) -> ServerLog:
    log = ServerLog(Counter())
    server.log.seek(0)
    for raw in server.log:
        try:
            line = json.loads(raw)
        except ValueError:
            log.levels["not json"] += 1
            continue
        log.levels[line.get("level", "?")] += 1
        if line.get("message") == "purged expired sessions":
            log.purges += 1
            log.purged += int(line.get("purged", 0))
    return log


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


READING = """\
`python -m bench.soak` (`make soak`): one real `sessionauth serve` on a fresh PostgreSQL database,
driven by virtual users from one Python process (asyncio + httpx, one connection and cookie jar per
browser). Keepers hold one session for the whole run and resolve it (`/getusers/me`, `/protected`,
`/auth/verify`) about ten times a second each, list their sessions now and then, and about once a
minute log in a second device and revoke it from the first (`DELETE /sessions/{id}`, then the
second device must get 401). Churners come back visit after visit, each time from a new browser
and client address: a sign-up (their first visit, then 30 %), a mistyped password first (20 %,
must get 401), a login, 5 to 25 resolves, a look at `/sessions` (30 %), then a logout followed by
a replay of the dead cookie (50 %, must get 401) or walking away, leaving the session to idle
expiry and the purge. Every response must have the one status expected; a 5xx, a 503 from the
hashing queue, a transport error or any other status is an error.

Memory is the server's VmRSS (the serve process and any workers), sampled four times a second;
each row shows the lowest and highest sample in it. The verdict compares the lowest samples
(the heap that stays, between argon2 buffers) after the warm-up: the mean of the last third
against the mean of the first third, with a linear fit over the same rows.

Other agents' processes share this 2-core machine (see the load average column and before and
after the run), and the load generator runs on the same cores: absolute latencies are noisy and
include the client's own scheduling delay (the client lag column is how late its event loop woke).
Compare the rows with one another, not with `bench/RESULTS.md`.
"""


def report(
    recorder: Recorder,
    verdict: Verdict,
    warmup: float,
    context: dict[str, str],
    plan: Plan,
    log: ServerLog,
    hash_rate: float,
) -> str:
    seconds = recorder.deadline - recorder.started
    total = sum(b.requests for b in recorder.buckets)
    by_kind = {kind: sum(len(b.latencies[kind]) for b in recorder.buckets) for kind in KINDS}
    hashes = sum(
        n for what, n in recorder.counts.items() if what.startswith(("POST /login", "POST /signup"))
    )
    nominal = plan.nominal()
    lines = [f"Run of {context['date']}: {minutes(seconds)} of traffic.", ""]
    lines += [f"- **{key}**: {value}" for key, value in context.items() if key != "date"]
    lines += [
        f"- **Offered load** (closed loop, {plan.keepers} keepers + {plan.churners} churners, started over "
        f"the first {warmup / 2:.0f} s, exponential think times: keepers {plan.keeper_think} s, churners "
        f"{plan.churner_think} s between resolves and {plan.churner_pause} s between visits): nominal "
        f"{sum(v for k, v in nominal.items() if k in KINDS):.0f} req/s ({nominal['resolve']:.0f} resolves, "
        f"{nominal['login']:.1f} logins, {nominal['signup']:.1f} sign-ups, {nominal['other']:.1f} other), "
        f"{nominal['hashes']:.1f} argon2 hashes/s",
        f"- **Achieved**: {total:,} requests, {total / seconds:.0f} req/s ("
        + ", ".join(f"{by_kind[k] / seconds:.1f} {k}" for k in KINDS)
        + f"); {hashes / seconds:.1f} argon2 hashes/s, {hashes / seconds / hash_rate * 100:.0f} % "
        "of what one core alone verifies",
        f"- **Server log**: {sum(log.levels.values()):,} lines ("
        + ", ".join(f"{level} {n:,}" for level, n in sorted(log.levels.items()))
        + ")",
        "",
        "| t (m:s) | requests | req/s | errors | resolve p50 / p99 ms | login p50 / p99 ms | sign-up p99 ms "
        "| client lag p99 ms | server RSS floor / peak MiB | server CPU % | client CPU % | load 1 min "
        "| sessions | users | throttle rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, b in enumerate(recorder.buckets):
        start = i * recorder.bucket_seconds
        end = min(seconds, start + recorder.bucket_seconds)
        label = minutes(end) + (" (warm-up)" if start < warmup else "")
        resolve, login = b.latencies["resolve"], b.latencies["login"]
        rss = f"{min(b.rss_kib) / 1024:.1f} / {max(b.rss_kib) / 1024:.1f}" if b.rss_kib else "-"
        lines.append(
            f"| {label} | {b.requests:,} | {b.requests / (end - start):.0f} | {b.errors} "
            f"| {percentile(resolve, 50):.1f} / {percentile(resolve, 99):.1f} "
            f"| {percentile(login, 50):.0f} / {percentile(login, 99):.0f} | {percentile(b.latencies['signup'], 99):.0f} "
            f"| {percentile(b.lag_ms, 99):.1f} | {rss} | {b.server_cpu:.0f} | {b.client_cpu:.0f} | {b.load:.2f} "
            f"| {b.tables.get('sessions', 0):,} | {b.tables.get('users', 0):,} | {b.tables.get('counters', 0):,} |"
        )
    after = [
        b.tables
        for i, b in enumerate(recorder.buckets)
        if i * recorder.bucket_seconds >= warmup and b.tables
    ]
    if after:
        peak = max(after, key=lambda t: t["sessions"])
        lines += [
            "",
            f"**Tables.** Sessions after the warm-up: {after[0]['sessions']:,} rows, at most {peak['sessions']:,}, "
            f"{after[-1]['sessions']:,} at the end ({after[-1]['sessions_bytes'] / 1024:,.0f} KiB with indexes); "
            f"{recorder.counts['POST /login']:,} logins made sessions, {recorder.counts['POST /logout']:,} logouts and "
            f"{recorder.counts['DELETE /sessions/{id}']:,} revocations deleted theirs, and the periodic purge deleted "
            f"{log.purged:,} idle ones in {log.purges} rounds. Users grow with every "
            f"sign-up, as they should. Throttle counters: {max(t['counters'] for t in after):,} rows at most, "
            f"{after[-1]['counters']:,} at the end.",
        ]
    lines += ["", "Responses by kind and expected status:", ""]
    lines += [f"- {what}: {n:,}" for what, n in sorted(recorder.counts.items())]
    lines += ["", "Errors:" + (" none." if not recorder.failures else "\n")]
    lines += [f"- {what}: {n:,}" for what, n in sorted(recorder.failures.items())]
    lines += [
        "",
        f"**Verdict: {'PASS' if verdict.passed else 'FAIL'}.** Errors: {verdict.errors}. Memory "
        f"({'flat' if verdict.memory_flat else 'NOT flat'}): the server's RSS floor after the warm-up "
        f"({minutes(warmup)}) averaged {verdict.first_mib:.1f} MiB over the first third and "
        f"{verdict.last_mib:.1f} MiB over the last third ({verdict.growth_percent:+.1f} %, bound "
        f"< {MEMORY_BOUND_PERCENT:.0f} %); linear fit {verdict.slope_mib_per_min:+.3f} MiB/min "
        f"({verdict.slope_mib_per_min * 60:+.1f} MiB/hour if it went on).",
    ]
    return "\n".join(lines)


NOTES = "\n## Notes\n"  # from here on, the file is written by hand and kept by --out


def document(text: str, previous: str) -> str:
    notes = previous[previous.index(NOTES) :] if NOTES in previous else ""
    return f"# Soak run\n\n{READING}\n## Latest run\n\n{text}\n{notes}"


def machine(database_url: str) -> dict[str, str]:
    async def postgres_version() -> str:
        connection = await asyncpg.connect(database_url)
        try:
            return (await connection.fetchval("SHOW server_version")).split()[0]
        finally:
            await connection.close()

    memory = Path("/proc/meminfo").read_text().split()[1]
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.machine(),
    )
    return {
        "Machine": f"{model}, {len(os.sched_getaffinity(0))} usable cores, {int(memory) / 1024 / 1024:.0f} GiB; "
        f"Linux {platform.release()}; Python {platform.python_version()}; "
        f"PostgreSQL {asyncio.run(postgres_version())} on 127.0.0.1",
    }


def code_version() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip()

    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"commit {git('rev-parse', '--short', 'HEAD') or 'unknown'}" + (
        " with uncommitted changes" if changed else ""
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--quick", action="store_true", help="one minute, to check the harness")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers")
    parser.add_argument("--keepers", type=int, default=Plan.keepers)
    parser.add_argument("--churners", type=int, default=Plan.churners)
    parser.add_argument(
        "--default-cost", action="store_true", help="argon2-cffi's default cost instead of OWASP's"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--out", type=Path, help="also write the report here as markdown")
    args = parser.parse_args()
    if args.quick:
        args.minutes = 1.0
    try:
        soak(args)
    finally:
        if CREATED:
            drop_databases(args.database_url)


def soak(args: argparse.Namespace) -> None:
    seconds = args.minutes * 60
    bucket_seconds = max(3.0, seconds / 20)
    warmup = 60.0 if seconds >= 300 else seconds / 5
    plan = Plan(keepers=args.keepers, churners=args.churners)
    argon2 = {} if args.default_cost else OWASP_ARGON2
    env = {**SOAK_ENV, **argon2}
    context = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Code": code_version(),
        **machine(args.database_url),
    }
    hash_rate = raw_argon2_rate(3, {**argon2, "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"})
    database_url = fresh_database(args.database_url)
    context["Load before the run"] = (
        "load average " + " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"
    )
    with sessionauth(
        "soak", {**env, "DATABASE_URL": database_url}, "--workers", str(args.workers), pin=False
    ) as server:
        runner = asyncio.Runner(loop_factory=_event_loop_factory())
        with runner:
            recorder = runner.run(
                drive(server, database_url, plan, seconds, bucket_seconds, warmup / 2, args.seed)
            )
        log = read_server_log(server)
    context["Load after the run"] = "load average " + " / ".join(
        f"{x:.2f}" for x in os.getloadavg()
    )
    context["Settings"] = (
        f"`sessionauth serve --workers {args.workers}`, unpinned (every core), session cache on, "
        + ", ".join(f"{k}={v}" for k, v in {**BENCH_ENV, **env}.items())
        + "; everything else at its default"
        + (
            " (argon2-cffi's default cost)"
            if args.default_cost
            else " (argon2id at OWASP's minimum cost)"
        )
        + f". Argon2 verifies on one core alone, measured just before: {hash_rate:.0f}/s"
    )
    if log.bad:
        recorder.failures["server log: lines at error level, or not JSON"] += log.bad
    verdict = judge(recorder, warmup)
    text = report(recorder, verdict, warmup, context, plan, log, hash_rate)
    print(text)
    if args.out:
        args.out.write_text(document(text, args.out.read_text() if args.out.exists() else ""))
    if not verdict.passed:
        raise SystemExit(1)


def _event_loop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


if __name__ == "__main__":
    main()
