"""The GET response cache through HTTP: per subject, invalidated by writes, bounded, TTL'd."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from rsf_server.app import create_app
from rsf_server.request_identity import bearer_identity
from rsf_server.response_cache import ResponseCache, ResponseCacheMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.perf_server import (
    JWT_SECRET,
    PARTICIPANT,
    add_participants,
    bearer,
    running_server,
    serve,
    server_settings,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(mongo_uri: str, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_server(mongo_uri, db_name) as http:
        yield http


async def test_second_get_is_a_hit_with_the_same_body(client: httpx.AsyncClient) -> None:
    await add_participants(client, 2)
    alice = bearer("alice")
    first = await client.get("/ui/users?page=1", headers=alice)
    second = await client.get("/ui/users?page=1", headers=alice)
    assert first.headers["x-cache"] == "MISS"
    assert second.headers["x-cache"] == "HIT"
    assert second.json() == first.json()
    assert second.headers["x-correlation-id"] != first.headers["x-correlation-id"]
    other_query = await client.get("/ui/users?page=2", headers=alice)
    assert other_query.headers["x-cache"] == "MISS"


async def test_one_subject_never_gets_anothers_entry(client: httpx.AsyncClient) -> None:
    alice, bob = bearer("alice"), bearer("bob")
    await client.get("/ui/users", headers=alice)
    assert (await client.get("/ui/users", headers=alice)).headers["x-cache"] == "HIT"
    assert (await client.get("/ui/users", headers=bob)).headers["x-cache"] == "MISS"
    anonymous = await client.get("/ui/users")
    assert anonymous.status_code == 401
    assert "x-cache" not in anonymous.headers


async def test_a_write_invalidates_for_every_subject(client: httpx.AsyncClient) -> None:
    alice, bob = bearer("alice"), bearer("bob")
    for who in (alice, bob):
        await client.get("/ui/users", headers=who)
        assert (await client.get("/ui/users", headers=who)).headers["x-cache"] == "HIT"
    created = await client.post("/ui/users", json=PARTICIPANT, headers=alice)
    assert created.status_code == 201
    for who in (alice, bob):
        fresh = await client.get("/ui/users", headers=who)
        assert fresh.headers["x-cache"] == "MISS"
        assert [user["title"] for user in fresh.json()["data"]] == [PARTICIPANT["title"]]


async def test_errors_are_not_cached(client: httpx.AsyncClient) -> None:
    alice = bearer("alice")
    for _ in range(2):
        missing = await client.get("/ui/orders/no-such-participant", headers=alice)
        assert missing.status_code == 404
        assert missing.headers["x-cache"] == "MISS"


async def test_health_and_metrics_are_never_cached(client: httpx.AsyncClient) -> None:
    alice = bearer("alice")
    for path in ("/ui/health", "/ui/health/db", "/health", "/metrics"):
        for _ in range(2):
            assert "x-cache" not in (await client.get(path, headers=alice)).headers


async def test_no_cache_request_goes_to_the_route(client: httpx.AsyncClient) -> None:
    alice = bearer("alice")
    await client.get("/ui/users", headers=alice)
    forced = await client.get("/ui/users", headers={**alice, "Cache-Control": "no-cache"})
    assert forced.headers["x-cache"] == "MISS"


async def test_gzip_and_identity_answers_are_kept_apart(client: httpx.AsyncClient) -> None:
    await add_participants(client, 8)
    alice = bearer("alice")
    zipped = await client.get("/ui/users", headers={**alice, "Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    plain = await client.get("/ui/users", headers={**alice, "Accept-Encoding": "identity"})
    assert plain.headers["x-cache"] == "MISS"
    assert "content-encoding" not in plain.headers
    again = await client.get("/ui/users", headers={**alice, "Accept-Encoding": "gzip"})
    assert again.headers["x-cache"] == "HIT"
    assert again.headers["content-encoding"] == "gzip"
    assert again.json() == plain.json()


async def test_admin_clear_drops_entries_and_needs_a_token(client: httpx.AsyncClient) -> None:
    alice, bob = bearer("alice"), bearer("bob")
    await client.get("/ui/users", headers=alice)
    await client.get("/ui/users", headers=bob)
    refused = await client.post("/admin/cache/clear")
    assert refused.status_code == 401
    cleared = await client.post("/admin/cache/clear", headers=alice)
    assert cleared.status_code == 200
    assert cleared.json()["data"] == {"cleared": 2}
    assert (await client.get("/ui/users", headers=alice)).headers["x-cache"] == "MISS"
    again = await client.post("/admin/cache/clear", headers=alice)
    assert again.json()["data"] == {"cleared": 1}


async def test_entries_expire_after_the_ttl(mongo_uri: str, db_name: str) -> None:
    app = create_app(server_settings(mongo_uri, db_name, response_cache_ttl_seconds=5))
    clock = FakeClock()
    app.state.response_cache.clock = clock
    alice = bearer("alice")
    async with serve(app) as client:
        await client.get("/ui/users", headers=alice)
        clock.now += 4.5
        hit = await client.get("/ui/users", headers=alice)
        assert hit.headers["x-cache"] == "HIT"
        assert hit.headers["age"] == "4"
        clock.now += 1
        assert (await client.get("/ui/users", headers=alice)).headers["x-cache"] == "MISS"


async def test_cache_can_be_switched_off(mongo_uri: str, db_name: str) -> None:
    async with running_server(mongo_uri, db_name, response_cache_enabled=False) as client:
        alice = bearer("alice")
        for _ in range(2):
            response = await client.get("/ui/users", headers=alice)
            assert response.status_code == 200
            assert "x-cache" not in response.headers


# --- the middleware on a small app of its own: answers the server's routes never give ------


async def _no_store(request: Request) -> Response:
    return JSONResponse({"secret": True}, headers={"Cache-Control": "no-store"})


async def _text(request: Request) -> Response:
    return PlainTextResponse("plain")


async def _item(request: Request) -> Response:
    return JSONResponse({"item": request.path_params["n"]})


@pytest.fixture
async def small_app_client() -> AsyncIterator[tuple[httpx.AsyncClient, ResponseCache]]:
    cache = ResponseCache(max_entries=2)
    app = Starlette(
        routes=[
            Route("/ui/no-store", _no_store),
            Route("/ui/text", _text),
            Route("/ui/items/{n}", _item),
        ]
    )
    app.add_middleware(ResponseCacheMiddleware, cache=cache, identify=bearer_identity(JWT_SECRET))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as client:
        yield client, cache


async def test_no_store_and_non_json_answers_are_not_kept(
    small_app_client: tuple[httpx.AsyncClient, ResponseCache],
) -> None:
    client, cache = small_app_client
    alice = bearer("alice")
    for path in ("/ui/no-store", "/ui/text"):
        for _ in range(2):
            assert (await client.get(path, headers=alice)).headers["x-cache"] == "MISS"
    assert len(cache) == 0


async def test_the_least_recently_used_entry_goes_first(
    small_app_client: tuple[httpx.AsyncClient, ResponseCache],
) -> None:
    client, cache = small_app_client
    alice = bearer("alice")
    await client.get("/ui/items/1", headers=alice)
    await client.get("/ui/items/2", headers=alice)
    assert (await client.get("/ui/items/1", headers=alice)).headers["x-cache"] == "HIT"
    await client.get("/ui/items/3", headers=alice)
    assert len(cache) == 2
    assert (await client.get("/ui/items/1", headers=alice)).headers["x-cache"] == "HIT"
    assert (await client.get("/ui/items/2", headers=alice)).headers["x-cache"] == "MISS"
