"""The notes example started the way its docstring says (`python -m examples.notes_app`), on a
fresh Postgres database that it migrates at start."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from tests.constants import PASSWORD
from tests.processes import notes_app


async def usernames(url: str) -> list[str]:
    connection = await asyncpg.connect(url, timeout=10)
    try:
        return [r["username"] for r in await connection.fetch("SELECT username FROM users")]
    finally:
        await connection.close()


def test_served_on_postgres(database_url):
    with notes_app(DATABASE_URL=database_url) as (base, app):
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
        app.stop()
        output = app.output()
    assert "Traceback" not in output, output
    assert PASSWORD not in output
    assert asyncio.run(usernames(database_url)) == ["alice"]  # migrated at start, and kept
