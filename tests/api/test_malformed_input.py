"""Bad input of every kind gets a clear 4xx JSON error, never a 500, and loses nothing."""

import pytest

from tests.api.client import log_in, sign_up
from tests.constants import PASSWORD

JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "content", "headers"),
    [
        ("/signup", b"{not json", JSON),
        ("/signup", b"", JSON),
        ("/signup", b"[]", JSON),
        ("/signup", b"null", JSON),
        ("/signup", b'"a string"', JSON),
        ("/signup", b'{"username": 5, "password": "correct horse battery"}', JSON),
        ("/signup", b'{"username": "alice", "password": ["a"]}', JSON),
        ("/signup", b'{"username": "alice"}', JSON),
        ("/signup", b'{"username": "al\xffice", "password": "correct horse"}', JSON),
        ("/signup", b"\xff\xfe\x00garbage", JSON),
        (
            "/signup",
            b"username=alice&password=x",
            {"content-type": "application/x-www-form-urlencoded"},
        ),
        (
            "/signup",
            b'{"username": "alice", "password": "correct horse"}',
            {"content-type": "text/plain"},
        ),
        ("/login", b"{not json", JSON),
        ("/login", b"[1, 2]", JSON),
        ("/login", b'{"username": null, "password": "x"}', JSON),
        ("/login", b"\xff\xfe\x00garbage", JSON),
        ("/login", b'{"username": "al\xffice", "password": "correct horse"}', JSON),
    ],
)
async def test_malformed_bodies_get_a_4xx_json_error(client, path, content, headers):
    response = await client.post(path, content=content, headers=headers)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    if response.status_code == 422:
        assert all(set(issue) == {"loc", "msg", "type"} for issue in detail)
    else:
        assert isinstance(detail, str) and detail


async def test_422_never_echoes_the_input(client):
    secret = "my secret password value"
    response = await client.post(
        "/signup", json={"username": ["x"], "password": secret, "extra": secret}
    )
    assert response.status_code == 422
    assert secret not in response.text
    assert all(set(issue) == {"loc", "msg", "type"} for issue in response.json()["detail"])


async def test_a_body_over_64_kib_is_413_by_content_length(client):
    response = await client.post("/signup", content=b"{" + b" " * 70_000 + b"}", headers=JSON)
    assert response.status_code == 413
    assert response.json()["detail"].startswith("Request body too large")


async def test_a_chunked_body_over_64_kib_is_413(client):
    async def chunks():
        for _ in range(20):
            yield b" " * 8192

    response = await client.post("/login", content=chunks(), headers=JSON)
    assert response.status_code == 413


async def test_a_body_of_exactly_64_kib_is_read(client):
    body = b'{"username": "alice", "password": "correct horse battery staple"' + b" " * 10 + b"}"
    body = body[:-1] + b" " * (64 * 1024 - len(body)) + b"}"
    assert len(body) == 64 * 1024
    response = await client.post("/signup", content=body, headers=JSON)
    assert response.status_code == 201


async def test_a_bad_content_length_is_400(client):
    response = await client.post(
        "/signup", content=b"{}", headers={**JSON, "content-length": "abc"}
    )
    assert response.status_code == 400


async def test_bad_input_loses_nothing(client):
    await sign_up(client)
    await log_in(client)
    await client.post("/signup", content=b"\xff" * 100, headers=JSON)
    await client.post("/login", headers={"authorization": "Basic %%%"})
    assert (await client.get("/getusers/me")).status_code == 200
    client.cookies.clear()
    assert (await client.post("/login", auth=("alice", PASSWORD))).status_code == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_wrong_method_is_405_json(client, method):
    response = await client.request(method, "/signup")
    assert response.status_code == 405 and "detail" in response.json()


async def test_unknown_path_is_404_json(client):
    response = await client.get("/nope")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}
