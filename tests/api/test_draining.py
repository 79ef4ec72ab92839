"""The app's side of a graceful shutdown: once the server marks it draining (on SIGTERM), /readyz
answers 503 while every other route is still served."""

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.readiness import LIFESPAN_KEY
from entrypoints.settings import load_settings
from tests.api.client import log_in, sign_up
from tests.constants import FAST_ARGON2


async def test_readyz_answers_503_while_draining_and_everything_else_is_still_served(client):
    await sign_up(client)
    assert (await client.get("/readyz")).status_code == 200
    client.app.state.readiness.draining = True  # what the server does on SIGTERM
    ready = await client.get("/readyz")
    assert ready.status_code == 503 and ready.json() == {"status": "draining"}
    assert (await client.get("/healthz")).status_code == 200
    assert (await log_in(client)).status_code == 200
    assert (await client.get("/getusers/me")).status_code == 200


async def test_the_lifespan_state_hands_the_apps_readiness_to_the_server():
    app = create_app(build_container(load_settings(**FAST_ARGON2)))
    async with app.router.lifespan_context(app) as state:
        assert state[LIFESPAN_KEY] is app.state.readiness
