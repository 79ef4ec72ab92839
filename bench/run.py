"""The benchmark: `python -m bench.run` (or `make bench`). Prints a markdown table of every goal of
the performance issue as ratios to a baseline measured in the same run.

Layout on a machine with two or more cores: every server on CPU 0; wrk and PostgreSQL on CPU 1
(PostgreSQL's processes are moved there for the run and back afterwards). Each measurement is
repeated `--rounds` times, interleaved, and the table shows the median of the per-round ratios, so
slow drift of the machine cancels out.
"""

from __future__ import annotations

import argparse
import base64
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
SESSIONAUTH = str(Path(PYTHON).parent / "sessionauth")
PASSWORD = "correct horse battery staple"
SERVER_CPU, LOAD_CPU = "0", "1"
# The benchmark's own limits: throttling off (through its settings, as any operator could).
BENCH_ENV = {
    "SESSION_COOKIE_SECURE": "false",
    "LOG_LEVEL": "warning",
    "THROTTLE_LOGIN_PER_ADDRESS": "0",
    "THROTTLE_LOGIN_PER_ACCOUNT": "0",
    "THROTTLE_LOGIN_PER_DEVICE": "0",
    "THROTTLE_SIGNUP_PER_ADDRESS": "0",
    "THROTTLE_FAILURES_PER_ADDRESS": "0",
    # every load client is 127.0.0.1: without this one address could take only a quarter of the
    # hashing queue, and the benchmark would measure the share, not the service
    "HASH_SHARE_PER_ADDRESS": "0",
    "PURGE_INTERVAL": "0",
}


def two_cores() -> bool:
    return len(os.sched_getaffinity(0)) >= 2


def pinned(cpu: str, command: list[str]) -> list[str]:
    return ["taskset", "-c", cpu, *command] if two_cores() else command


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen
    start_rss_kib: int = 0
    log: IO[bytes] | None = None  # the server's stdout and stderr


@contextmanager
def start(
    name: str,
    command: list[str],
    port: int,
    env: dict[str, str],
    *,
    pin: bool = True,
    ready_path: str = "/healthz",
) -> Iterator[Server]:
    """Run a server until the block ends, once `ready_path` answers 200; `pin=False` leaves it on
    every core."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            pinned(SERVER_CPU, command) if pin else command,
            env={**os.environ, **BENCH_ENV, **env},
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise SystemExit(f"{name} exited: {log.read().decode()[-2000:]}")
                try:
                    if httpx.get(url + ready_path, timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"{name} did not start")
                time.sleep(0.1)
            yield Server(name, url, process, rss_kib(process.pid), log)
        finally:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def sessionauth(name: str, env: dict[str, str], *args: str, pin: bool = True) -> Iterator[Server]:
    port = free_port()
    # /readyz: serve opens its port before its store is up (migrated, on Postgres).
    command = [SESSIONAUTH, "serve", "--port", str(port), *args]
    return start(name, command, port, env, pin=pin, ready_path="/readyz")


def baseline() -> Iterator[Server]:
    port = free_port()
    command = [PYTHON, "-m", "bench.baseline", "--port", str(port)]
    return start("baseline", command, port, {}, ready_path="/hello")


def session_cookie(server: Server, username: str) -> str:
    with httpx.Client(base_url=server.url) as client:
        client.post("/signup", json={"username": username, "password": PASSWORD})
        response = client.post("/login", auth=(username, PASSWORD))
        response.raise_for_status()
        return f"session_id={response.cookies['session_id']}"


@dataclass
class Load:
    rate: float  # requests per second
    p99_ms: float
    errors: int


def wrk(
    url: str,
    *,
    seconds: float = 5,
    connections: int = 32,
    headers: dict[str, str] | None = None,
    script: str | None = None,
    timeout: float = 10,
) -> Load:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{round(seconds)}s",
        "--latency",
        f"--timeout={round(timeout)}s",
    ]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script:
        command += ["-s", script]
    output = subprocess.run(
        pinned(LOAD_CPU, [*command, url]), capture_output=True, text=True, check=True
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", output)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", output))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Load(
        rate, float(p99.group(1)) * scale, errors + (int(non_2xx.group(1)) if non_2xx else 0)
    )


@contextmanager
def postgres_on_load_cpu() -> Iterator[None]:
    """Move PostgreSQL's processes to the load CPU for the run; new backends inherit it."""
    pids = subprocess.run(
        ["pgrep", "-x", "postgres"], capture_output=True, text=True
    ).stdout.split()
    if not two_cores() or not pids or os.geteuid() != 0:
        yield
        return
    for pid in pids:
        subprocess.run(["taskset", "-a", "-cp", LOAD_CPU, pid], capture_output=True)
    try:
        yield
    finally:
        everything = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
        for pid in subprocess.run(
            ["pgrep", "-x", "postgres"], capture_output=True, text=True
        ).stdout.split():
            subprocess.run(["taskset", "-a", "-cp", everything, pid], capture_output=True)


CREATED: list[str] = []  # databases this run made, dropped when it ends


def drop_databases(admin_url: str) -> None:
    import asyncio

    import asyncpg

    async def drop() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            for name in CREATED:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()

    asyncio.run(drop())


def fresh_database(admin_url: str) -> str:
    import asyncio

    import asyncpg

    name = f"sessionauth_bench_{os.getpid()}_{len(CREATED)}"
    CREATED.append(name)

    async def create() -> None:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(create())
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def raw_argon2_rate(seconds: float, env: dict[str, str]) -> float:
    """Verifies per second of argon2-cffi alone, on the server CPU, with the serve settings' cost."""
    code = (
        "import os, time, argon2\n"
        "h = argon2.PasswordHasher(time_cost=int(os.environ.get('ARGON2_TIME_COST', argon2.DEFAULT_TIME_COST)),"
        " memory_cost=int(os.environ.get('ARGON2_MEMORY_COST', argon2.DEFAULT_MEMORY_COST)),"
        " parallelism=int(os.environ.get('ARGON2_PARALLELISM', argon2.DEFAULT_PARALLELISM)))\n"
        "digest = h.hash('correct horse battery staple'); n = 0; start = time.perf_counter()\n"
        f"while time.perf_counter() - start < {seconds}:\n"
        "    h.verify(digest, 'correct horse battery staple'); n += 1\n"
        "print(n / (time.perf_counter() - start))\n"
    )
    result = subprocess.run(
        pinned(SERVER_CPU, [PYTHON, "-c", code]),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return float(result.stdout)


def login_script(username: str) -> str:
    basic = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    path = Path(tempfile.mkstemp(suffix=".lua")[1])
    path.write_text(f'wrk.method = "POST"\nwrk.headers["Authorization"] = "Basic {basic}"\n')
    return str(path)


def median(values: list[float]) -> float:
    return statistics.median(values)


class Results:
    """Per-round ratios and figures, reduced to medians for the table."""

    def __init__(self) -> None:
        self.ratios: dict[str, list[float]] = {}
        self.figures: dict[str, list[float]] = {}
        self.rows: list[tuple[str, str, str, str]] = []

    def note(self, key: str, ratio: float, figure: float) -> None:
        self.ratios.setdefault(key, []).append(ratio)
        self.figures.setdefault(key, []).append(figure)

    def row(self, goal: str, key: str, target: str, unit: str = "req/s", ratio: str = "x") -> None:
        if key in self.ratios:
            measured = f"{median(self.ratios[key]):.2f}{ratio}"
            self.rows.append((goal, measured, target, f"{median(self.figures[key]):,.1f} {unit}"))

    def fact(self, goal: str, measured: str, target: str, figure: str = "") -> None:
        self.rows.append((goal, measured, target, figure))


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def hot_paths(
    results: Results, servers: list[Server], cookies: dict[str, str], base: Server, seconds: float
) -> None:
    """Goals 1 and 2: authenticated GETs against a bare FastAPI GET, in the same round."""
    hello = wrk(base.url + "/hello", seconds=seconds)
    results.note("baseline", 1.0, hello.rate)
    for server in servers:
        for path in ("/protected", "/auth/verify"):
            got = wrk(server.url + path, seconds=seconds, headers={"Cookie": cookies[server.name]})
            results.note(f"{path}-{server.name}", got.rate / hello.rate, got.rate)
            if got.errors:
                print(f"warning: {got.errors} errors on {server.name} {path}", file=sys.stderr)


def logins(results: Results, server: Server, cookie: str, raw_rate: float, seconds: float) -> None:
    """Goal 4 (login rate against raw argon2) and goal 5 (a login storm beside authenticated GETs)."""
    script = login_script("bench")
    quiet_login = wrk(server.url + "/login", seconds=seconds * 2, connections=4, script=script)
    results.note(f"login-{server.name}", quiet_login.rate / raw_rate, quiet_login.rate)

    quiet = wrk(
        server.url + "/protected", seconds=seconds, connections=8, headers={"Cookie": cookie}
    )
    storm = subprocess.Popen(
        pinned(
            LOAD_CPU,
            [
                "wrk",
                "-t1",
                "-c8",
                f"-d{round(seconds) + 2}s",
                "--latency",
                "--timeout=5s",
                "-s",
                script,
                server.url + "/login",
            ],
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(1)
    during = wrk(
        server.url + "/protected", seconds=seconds, connections=8, headers={"Cookie": cookie}
    )
    storm_out = storm.communicate()[0]
    storm_total = int(re.search(r"(\d+) requests in", storm_out).group(1))
    storm_secs = float(re.search(r"requests in ([\d.]+)s", storm_out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", storm_out)
    timeouts = re.search(r"timeout (\d+)", storm_out)
    ok_rate = (storm_total - (int(non_2xx.group(1)) if non_2xx else 0)) / storm_secs
    results.note(f"storm-p99-{server.name}", during.p99_ms / quiet.p99_ms, during.p99_ms)
    results.note(f"storm-success-{server.name}", ok_rate / quiet_login.rate * 100, ok_rate)
    results.note(
        f"storm-timeouts-{server.name}", float(timeouts.group(1)) if timeouts else 0.0, 0.0
    )
    time.sleep(4)  # let queued hashes drain, so the next measurement starts quiet
    peak, after = rss_kib(server.process.pid, "VmHWM"), rss_kib(server.process.pid)
    results.note(
        f"storm-memory-{server.name}",
        (peak - server.start_rss_kib) / 1024,
        (after - server.start_rss_kib) / 1024,
    )


async def fill_sessions(database_url: str, total: int) -> dict[str, float]:
    """Add sessions (10 per user, a few hundred distinct user agents) until the table holds
    `total`; return bytes per session of the heap and of each index."""
    import secrets
    import uuid
    from datetime import UTC, datetime, timedelta

    import asyncpg

    connection = await asyncpg.connect(database_url)
    try:
        have = await connection.fetchval("SELECT count(*) FROM sessions")
        missing = total - have
        if missing > 0:
            users = [uuid.uuid4() for _ in range(missing // 10 + 1)]
            now = datetime.now(UTC)
            await connection.copy_records_to_table(
                "users",
                records=[(u, f"u{u.hex}", f"u{u.hex}", "$argon2id$x", now) for u in users],
                columns=["id", "username", "username_canonical", "password_hash", "created_at"],
            )
            agents = [
                await connection.fetchval(
                    "SELECT sessionauth_user_agent_id($1)", f"Mozilla/5.0 bench {i}"
                )
                for i in range(300)
            ]
            later = now + timedelta(hours=8)
            await connection.copy_records_to_table(
                "sessions",
                records=(
                    (
                        now,
                        now,
                        later,
                        uuid.uuid4(),
                        users[i // 10],
                        agents[i % 300],
                        secrets.token_bytes(32),
                        f"10.{i % 250}.{i // 250 % 250}.{i % 97}",
                    )
                    for i in range(missing)
                ),
                columns=[
                    "created_at",
                    "last_seen_at",
                    "expires_at",
                    "id",
                    "user_id",
                    "user_agent_id",
                    "token_hash",
                    "ip",
                ],
            )
            await connection.execute("VACUUM ANALYZE sessions")
        count = await connection.fetchval("SELECT count(*) FROM sessions")
        sizes = {"heap": await connection.fetchval("SELECT pg_relation_size('sessions')")}
        # Every index of the table, by name, so that one a migration adds is counted too.
        for row in await connection.fetch(
            "SELECT c.relname, pg_relation_size(i.indexrelid) AS size FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'sessions'::regclass ORDER BY 1"
        ):
            sizes[
                row["relname"].removeprefix("sessions_").removesuffix("_idx").replace("_", " ")
                + " index"
            ] = row["size"]
        return {name: size / count for name, size in sizes.items()}
    finally:
        await connection.close()


def memory_bytes_per_session(count: int = 100_000) -> float:
    """What one session costs the in-memory store (tracemalloc, in a fresh interpreter)."""
    code = f"""
import asyncio, secrets, tracemalloc, uuid
from datetime import UTC, datetime, timedelta
from adapters.memory import InMemoryStore
from domain.session import Session, hash_token
from domain.user import User, Username
store = InMemoryStore(); now = datetime.now(UTC)
user = User(str(uuid.uuid4()), Username.parse("bench"), "h", now)
asyncio.run(store.users.add(user))
tracemalloc.start()
before = tracemalloc.get_traced_memory()[0]
for i in range({count}):
    asyncio.run(store.sessions.add(Session(str(uuid.uuid4()), user.id, hash_token(secrets.token_urlsafe(32)), now, now,
        now + timedelta(hours=8), "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"[: 40 + i % 30], "192.0.2.1"), password_hash="h"))
print((tracemalloc.get_traced_memory()[0] - before) / {count})
"""
    result = subprocess.run(
        [PYTHON, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return float(result.stdout)


def peer_fastapi_users(results: Results, admin_url: str, seconds: float, rounds: int) -> None:
    """`--with-peers`: the same GET and login storm against fastapi-users (cookie + database)."""
    try:
        import fastapi_users  # noqa: F401
        import fastapi_users_db_sqlalchemy  # noqa: F401
    except ImportError:
        subprocess.run(
            [PYTHON, "-m", "pip", "install", "--quiet", "fastapi-users[sqlalchemy]>=14,<16"],
            check=True,
        )
    port = free_port()
    env = {"PEER_DATABASE_URL": fresh_database(admin_url)}
    with (
        baseline() as base,
        start(
            "fastapi-users",
            [PYTHON, "-m", "bench.peers.fastapi_users_app", "--port", str(port)],
            port,
            env,
        ) as peer,
    ):
        with httpx.Client(base_url=peer.url) as client:
            client.post("/auth/register", json={"email": "bench@example.com", "password": PASSWORD})
            login = client.post(
                "/auth/cookie/login", data={"username": "bench@example.com", "password": PASSWORD}
            )
            cookie = f"fastapiusersauth={login.cookies['fastapiusersauth']}"
        script = Path(tempfile.mkstemp(suffix=".lua")[1])
        script.write_text(
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\n'
            f'wrk.body = "username=bench%40example.com&password={PASSWORD.replace(" ", "+")}"\n'
        )
        for _ in range(rounds):
            hello = wrk(base.url + "/hello", seconds=seconds)
            got = wrk(peer.url + "/protected", seconds=seconds, headers={"Cookie": cookie})
            results.note("peer-protected", got.rate / hello.rate, got.rate)
            quiet = wrk(
                peer.url + "/protected", seconds=seconds, connections=8, headers={"Cookie": cookie}
            )
            storm = subprocess.Popen(
                pinned(
                    LOAD_CPU,
                    [
                        "wrk",
                        "-t1",
                        "-c8",
                        f"-d{round(seconds) + 2}s",
                        "--timeout=5s",
                        "-s",
                        str(script),
                        peer.url + "/auth/cookie/login",
                    ],
                ),
                stdout=subprocess.DEVNULL,
            )
            time.sleep(1)
            during = wrk(
                peer.url + "/protected", seconds=seconds, connections=8, headers={"Cookie": cookie}
            )
            storm.wait()
            results.note("peer-storm", during.p99_ms / quiet.p99_ms, during.p99_ms)
            time.sleep(4)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument(
        "--quick", action="store_true", help="one short round, to check the harness"
    )
    parser.add_argument(
        "--with-peers",
        action="store_true",
        help="also measure fastapi-users (installs it if missing)",
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 2.0
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (Debian's package)")

    try:
        run_all(args)
    finally:
        drop_databases(args.database_url)


def run_all(args: argparse.Namespace) -> None:
    results = Results()
    tunables = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"}  # what `serve` runs with
    with postgres_on_load_cpu(), ExitStack() as stack:
        pg_url = fresh_database(args.database_url)
        base = stack.enter_context(baseline())
        memory = stack.enter_context(sessionauth("memory", {}))
        # The access log's cost: the same server without it, measured in the same rounds.
        no_access_log = stack.enter_context(
            sessionauth("memory-no-access-log", {"ACCESS_LOG": "false"})
        )
        pg = stack.enter_context(sessionauth("postgres", {"DATABASE_URL": pg_url}))
        pg_nocache = stack.enter_context(
            sessionauth("postgres-nocache", {"DATABASE_URL": pg_url, "SESSION_CACHE": "false"})
        )
        servers = [memory, no_access_log, pg, pg_nocache]
        cookies = {s.name: session_cookie(s, "bench") for s in servers}

        for _ in range(args.rounds):
            hot_paths(results, servers, cookies, base, args.seconds)
        raw = raw_argon2_rate(args.seconds * 2, tunables)
        for _ in range(args.rounds):
            for server in (memory, pg):
                logins(results, server, cookies[server.name], raw, args.seconds)

        # Goal 6: the uncached path with 1,000 sessions, then with 1,000,000.
        import asyncio

        stack.close()
        stack.enter_context(postgres_on_load_cpu())
        pg_url = fresh_database(args.database_url)
        scale = stack.enter_context(
            sessionauth("postgres-nocache", {"DATABASE_URL": pg_url, "SESSION_CACHE": "false"})
        )
        cookie = session_cookie(scale, "bench")
        asyncio.run(fill_sessions(pg_url, 1_000))
        few = [
            wrk(scale.url + "/protected", seconds=args.seconds, headers={"Cookie": cookie}).rate
            for _ in range(args.rounds)
        ]
        many_count = 100_000 if args.quick else 1_000_000
        large = asyncio.run(fill_sessions(pg_url, many_count))
        many = [
            wrk(scale.url + "/protected", seconds=args.seconds, headers={"Cookie": cookie}).rate
            for _ in range(args.rounds)
        ]
        results.note("scale", median(many) / median(few), median(many))
        sizes = large

        # Goal 7: two workers beside one, on Postgres with the cache, both spread over every core.
        rates = {}
        for workers in (1, 2):
            with sessionauth(
                f"workers-{workers}", {"DATABASE_URL": pg_url}, "--workers", str(workers), pin=False
            ) as server:
                worker_cookie = session_cookie(server, "bench")
                rates[workers] = median(
                    [
                        wrk(
                            server.url + "/protected",
                            seconds=args.seconds,
                            headers={"Cookie": worker_cookie},
                        ).rate
                        for _ in range(args.rounds)
                    ]
                )

    # the bound of goal 5: hashing concurrency (one core: one thread) x argon2's memory cost
    hash_budget_mib = 64  # servers run on one core: one hashing thread x 64 MiB (argon2 default)
    results.row("baseline: bare FastAPI GET", "baseline", "1.00x")
    results.row("1. GET /protected, in-memory store", "/protected-memory", ">= 0.9x")
    results.row(
        "1. GET /protected, in-memory store, ACCESS_LOG=false",
        "/protected-memory-no-access-log",
        ">= 0.9x",
    )
    results.row("1. GET /protected, Postgres, session cache on", "/protected-postgres", ">= 0.9x")
    results.row(
        "1. GET /protected, Postgres, session cache off", "/protected-postgres-nocache", ">= 0.6x"
    )
    results.row("2. GET /auth/verify, in-memory store", "/auth/verify-memory", ">= 1.5x")
    results.row(
        "2. GET /auth/verify, in-memory store, ACCESS_LOG=false",
        "/auth/verify-memory-no-access-log",
        ">= 1.5x",
    )
    results.row(
        "2. GET /auth/verify, Postgres, session cache on", "/auth/verify-postgres", ">= 1.0x"
    )
    results.row(
        "2. GET /auth/verify, Postgres, session cache off",
        "/auth/verify-postgres-nocache",
        "(no goal)",
    )
    results.fact(
        "4. raw argon2-cffi verify, default cost, one core", "1.00x", "", f"{raw:.2f} verifies/s"
    )
    for name in ("memory", "postgres"):
        results.row(f"4. POST /login throughput, {name}", f"login-{name}", ">= 0.95x", "logins/s")
    for name in ("memory", "postgres"):
        results.row(
            f"5. GET p99 during a login storm, x quiet p99, {name}",
            f"storm-p99-{name}",
            "<= 2x",
            "ms",
        )
        results.row(
            f"5. logins succeeding during the storm, % of quiet rate, {name}",
            f"storm-success-{name}",
            ">= 10%",
            "logins/s",
            "%",
        )
        results.row(
            f"5. login client time-outs (5 s) during the storm, {name}",
            f"storm-timeouts-{name}",
            "0",
            "",
            "",
        )
        results.row(
            f"5. peak memory over start-up, MiB, {name}",
            f"storm-memory-{name}",
            f"< {hash_budget_mib} MiB",
            "MiB of it still held after the storm (heap growth, not hashing)",
            "",
        )

    if args.with_peers:
        with postgres_on_load_cpu():
            peer_fastapi_users(results, args.database_url, args.seconds, args.rounds)
        results.row(
            "peer: fastapi-users (cookie + database strategy), GET /protected",
            "peer-protected",
            "(compare 1.)",
        )
        results.row(
            "peer: fastapi-users, GET p99 during a login storm, x quiet p99",
            "peer-storm",
            "(compare 5.)",
            "ms",
        )
    results.row(
        f"6. GET /protected, cache off, {many_count:,} sessions vs 1,000", "scale", ">= 0.90x"
    )
    total = sum(sizes.values())
    results.fact(
        "6. bytes per session row in Postgres, indexes included",
        f"{total:.0f} B",
        "<= 200 B",
        ", ".join(f"{name} {size:.0f} B" for name, size in sizes.items()),
    )
    results.fact(
        "6. bytes per session in the in-memory store",
        f"{memory_bytes_per_session():.0f} B",
        "(report)",
    )
    results.fact(
        "7. serve --workers 2 on Postgres, GET /protected",
        f"{rates[2] / rates[1]:.2f}x of 1 worker",
        "(report)",
        f"{rates[2]:,.0f} vs {rates[1]:,.0f} req/s",
    )

    print(
        f"\n{len(os.sched_getaffinity(0))} CPUs usable; {platform.processor() or platform.machine()}; "
        f"Python {platform.python_version()}; {args.rounds} rounds of {args.seconds:.0f} s\n"
    )
    print("| goal | measured (median) | target | figure |")
    print("|---|---:|---:|---:|")
    for goal, measured, target, figure in results.rows:
        print(f"| {goal} | {measured} | {target} | {figure} |")


if __name__ == "__main__":
    main()
