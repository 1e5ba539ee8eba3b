"""Response compression through HTTP: gzip above 1024 bytes, never for ``x-no-compression``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.perf_server import add_participants, bearer, running_server

GZIP = {"Accept-Encoding": "gzip"}


@pytest.fixture
async def client(mongo_uri: str, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    # The cache is off so each answer here comes from the route, through the compressor.
    async with running_server(mongo_uri, db_name, response_cache_enabled=False) as http:
        yield http


async def test_large_json_is_gzipped_and_decodes_to_the_same_data(
    client: httpx.AsyncClient,
) -> None:
    await add_participants(client, 8)
    response = await client.get("/ui/users", headers={**GZIP, **bearer("ui")})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "accept-encoding" in response.headers["vary"].lower()
    assert int(response.headers["content-length"]) < len(response.content)
    assert len(response.content) > 1024
    assert len(response.json()["data"]) == 8
    assert response.headers["x-correlation-id"]


async def test_small_answers_stay_uncompressed(client: httpx.AsyncClient) -> None:
    response = await client.get("/ui/users", headers={**GZIP, **bearer("ui")})
    assert response.status_code == 200
    assert len(response.content) < 1024
    assert "content-encoding" not in response.headers
    assert response.json()["data"] == []


async def test_x_no_compression_is_never_compressed(client: httpx.AsyncClient) -> None:
    await add_participants(client, 8)
    headers = {**GZIP, **bearer("ui"), "x-no-compression": "1"}
    response = await client.get("/ui/users", headers=headers)
    assert response.status_code == 200
    assert "content-encoding" not in response.headers
    assert int(response.headers["content-length"]) == len(response.content) > 1024


async def test_clients_without_gzip_get_identity(client: httpx.AsyncClient) -> None:
    await add_participants(client, 8)
    headers = {"Accept-Encoding": "identity", **bearer("ui")}
    response = await client.get("/ui/users", headers=headers)
    assert "content-encoding" not in response.headers
    assert len(response.json()["data"]) == 8


async def test_metrics_are_gzipped_once(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.get("/health")
    response = await client.get("/metrics", headers=GZIP)
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    # httpx removes one gzip layer: a second one would leave binary here, not exposition text.
    assert response.text.startswith("# HELP")
    assert "http_requests_total" in response.text


async def test_compression_can_be_switched_off(mongo_uri: str, db_name: str) -> None:
    async with running_server(mongo_uri, db_name, compression_enabled=False) as client:
        await add_participants(client, 8)
        response = await client.get("/ui/users", headers={**GZIP, **bearer("ui")})
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        assert len(response.json()["data"]) == 8
