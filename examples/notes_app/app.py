"""A notes application of "your own": each user keeps private notes, kept in memory. It embeds
sessionauth for sign-up, login and sessions, and protects its own endpoints with
`auth.current_user`. The in-memory store by default; PostgreSQL when DATABASE_URL is set.

    SESSION_COOKIE_SECURE=false python -m examples.notes_app        # http://127.0.0.1:8001

    curl -si localhost:8001/auth/signup -H 'content-type: application/json' \\
         -d '{"username": "alice", "password": "correct horse battery staple"}'
    curl -si -c jar -X POST localhost:8001/auth/login -u 'alice:correct horse battery staple'
    curl -si -b jar localhost:8001/notes -H 'content-type: application/json' -d '{"text": "milk"}'
    curl -si -b jar localhost:8001/notes
"""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field

from sessionauth import CurrentUser, SessionAuth


@dataclass(frozen=True, slots=True)
class Note:
    id: str
    text: str
    created_at: datetime


class NoteBook:
    """Every user's notes, by user id: this application's own state, not sessionauth's."""

    def __init__(self) -> None:
        self._by_user: dict[str, dict[str, Note]] = {}

    def add(self, user_id: str, text: str) -> Note:
        note = Note(id=str(uuid.uuid4()), text=text, created_at=datetime.now(UTC))
        self._by_user.setdefault(user_id, {})[note.id] = note
        return note

    def of(self, user_id: str) -> list[Note]:
        return sorted(
            self._by_user.get(user_id, {}).values(), key=lambda note: note.created_at, reverse=True
        )

    def remove(self, user_id: str, note_id: str) -> bool:
        return self._by_user.get(user_id, {}).pop(note_id, None) is not None


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=2000)


def create_app(auth: SessionAuth) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # This app's own start-up. `auth.install` runs sessionauth around it: its store is
        # already open here, and closes only after this has finished.
        app.state.notes = NoteBook()
        yield

    app = FastAPI(title="Notes", lifespan=lifespan)
    auth.install(
        app, prefix="/auth"
    )  # /auth/signup, /auth/login, /auth/logout, /auth/sessions, ...

    async def notebook(request: Request) -> NoteBook:
        return request.app.state.notes

    User = Annotated[CurrentUser, Depends(auth.current_user)]
    Notes = Annotated[NoteBook, Depends(notebook)]

    @app.get("/me")
    async def me(user: User) -> CurrentUser:
        return user  # holds no secret: user_id, username, created_at, session_id

    @app.get("/notes")
    async def list_notes(user: User, notes: Notes) -> list[Note]:
        return notes.of(user.user_id)

    @app.post("/notes", status_code=201)
    async def add_note(body: NoteIn, user: User, notes: Notes) -> Note:
        return notes.add(user.user_id, body.text)

    @app.delete("/notes/{note_id}", status_code=204)
    async def delete_note(note_id: str, user: User, notes: Notes) -> Response:
        if not notes.remove(user.user_id, note_id):
            raise HTTPException(404, "No such note")  # another user's note looks the same
        return Response(status_code=204)

    return app


def create_app_from_env() -> FastAPI:
    """For `uvicorn --factory`: sessionauth reads the same variables as `sessionauth serve`."""
    return create_app(SessionAuth.from_env())
