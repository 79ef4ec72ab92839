"""What the browser-page API tests share: posting the forms, and reading a page's redirect and
error message."""

import re

import httpx

from tests.constants import PASSWORD


async def ui_sign_up(client, username="alice", password=PASSWORD) -> httpx.Response:
    return await client.post("/ui/signup", data={"username": username, "password": password})


async def ui_log_in(client, username="alice", password=PASSWORD, **headers) -> httpx.Response:
    return await client.post(
        "/ui/login", data={"username": username, "password": password}, headers=headers
    )


async def logged_in(client, username="alice") -> str:
    """Sign up and log in through the forms; the session token."""
    assert (await ui_sign_up(client, username)).status_code == 303
    response = await ui_log_in(client, username)
    assert response.status_code == 303 and response.headers["location"] == "/ui/"
    return response.cookies["session_id"]


def error_message(response: httpx.Response) -> str:
    match = re.search(r'<p class="error" role="alert" id="form-error">(.*?)</p>', response.text)
    assert match, response.text
    return match.group(1)


def redirect_to(response: httpx.Response) -> str:
    assert response.status_code == 303, (response.status_code, response.text)
    return response.headers["location"]
