"""The notes example started the way its docstring says (`python -m examples.notes_app`), on a
fresh Postgres database that it migrates at start."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

from tests.constants import PASSWORD
from tests.processes import CHEAP_ARGON2, free_port

ROOT = Path(__file__).resolve().parents[2]


async def usernames(url: str) -> list[str]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [r["username"] for r in await connection.fetch("SELECT username FROM users")]
    finally:
        await connection.close()


def test_served_on_postgres(database_url):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSION_", "ARGON2_"))}
    env |= CHEAP_ARGON2 | {"DATABASE_URL": database_url, "SESSION_COOKIE_SECURE": "false"}
    with tempfile.TemporaryFile("w+") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "examples.notes_app", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, f"exited with {process.returncode}"
                try:
                    if httpx.get(f"{base}/auth/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the notes app did not become ready in time"
                time.sleep(0.1)

            with httpx.Client(base_url=base, timeout=10) as client:
                assert client.get("/notes").status_code == 401
                assert (
                    client.post(
                        "/auth/signup", json={"username": "alice", "password": PASSWORD}
                    ).status_code
                    == 201
                )
                assert client.post("/auth/login", auth=("alice", PASSWORD)).status_code == 200
                assert client.post("/notes", json={"text": "milk"}).status_code == 201
                assert [n["text"] for n in client.get("/notes").json()] == ["milk"]
                assert client.post("/auth/logout").status_code == 200
                assert client.get("/notes").status_code == 401
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
            log.seek(0)
            output = log.read()
    assert "Traceback" not in output, output
    assert PASSWORD not in output
    assert asyncio.run(usernames(database_url)) == ["alice"]  # migrated at start, and kept
