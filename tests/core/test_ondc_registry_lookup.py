"""Public keys from an ONDC registry served on loopback; a signed message verified through it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from rsf_core.processors import handle_network_request
from rsf_core.registry_lookup import RegistryKeyLookup
from rsf_core.signing import StaticKeyLookup, generate_keypair, sign_request
from rsf_server.embedded_store import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.polling import wait_until

KEYS = generate_keypair()


class Registry:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.down = False

    async def lookup(self, request: Request) -> Response:
        query = await request.json()
        self.calls.append(query)
        if self.down:
            return JSONResponse({"error": "maintenance"}, status_code=503)
        if query == {"subscriber_id": "seller.example.com", "ukId": "k1"}:
            return JSONResponse(
                [
                    {
                        "subscriber_id": "seller.example.com",
                        "ukId": "k1",
                        "signing_public_key": KEYS.public_key_b64,
                        "status": "SUBSCRIBED",
                    }
                ]
            )
        return JSONResponse([])


@pytest.fixture
def registry() -> Iterator[tuple[Registry, str]]:
    state = Registry()
    port = free_port()
    app = Starlette(routes=[Route("/lookup", state.lookup, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    try:
        yield state, f"http://127.0.0.1:{port}/lookup"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def test_key_is_fetched_once_and_cached(registry: tuple[Registry, str]) -> None:
    state, url = registry
    lookup = RegistryKeyLookup(url)
    try:
        assert await lookup("seller.example.com", "k1") == KEYS.public_key_b64
        assert await lookup("seller.example.com", "k1") == KEYS.public_key_b64
        assert len(state.calls) == 1
        assert await lookup("seller.example.com", "other-key") is None
    finally:
        await lookup.aclose()


async def test_registry_down_means_no_key(registry: tuple[Registry, str]) -> None:
    state, url = registry
    state.down = True
    lookup = RegistryKeyLookup(url)
    try:
        assert await lookup("seller.example.com", "k1") is None
    finally:
        await lookup.aclose()


async def test_configured_keys_are_asked_first(registry: tuple[Registry, str]) -> None:
    state, url = registry
    lookup = RegistryKeyLookup(url, fallback=StaticKeyLookup({"sa.example.com": "c2E="}))
    try:
        assert await lookup("sa.example.com", "any") == "c2E="
        assert state.calls == []
    finally:
        await lookup.aclose()


async def test_network_request_verified_through_the_registry(
    registry: tuple[Registry, str],
) -> None:
    _, url = registry
    lookup = RegistryKeyLookup(url)
    body = b'{"context": {}}'
    try:
        signed = sign_request(body, "seller.example.com", "k1", KEYS.private_key_b64)
        answer = await handle_network_request("on_settle", body, signed, key_lookup=lookup)
        # Signature accepted: the message goes on to schema validation (and fails there).
        assert answer["error"]["code"] == "70002"
        forged = sign_request(body, "seller.example.com", "k1", generate_keypair().private_key_b64)
        answer = await handle_network_request("on_settle", body, forged, key_lookup=lookup)
        assert answer["error"]["code"] == "70001"
    finally:
        await lookup.aclose()
