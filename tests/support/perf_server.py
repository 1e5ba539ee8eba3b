"""The reference server in tests: settings, lifespan through ASGITransport, tokens, seed data."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from rsf_server.app import create_app
from rsf_server.config import ServerSettings
from rsf_server.tokens import issue_token
from starlette.applications import Starlette

JWT_SECRET = "test-secret-for-the-performance-middleware"

PARTICIPANT: dict[str, Any] = {
    "title": "Buyer NP",
    "role": "BAP",
    "subscriber_url": "https://buyer.example.com/api",
    "domain": "ONDC:RET10",
    "np_tcs": "1",
    "np_tds": "1",
    "tcs_applicability": "BOTH",
    "tds_applicability": "BOTH",
}


def server_settings(uri: str, db: str, **extra: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "mongodb_uri": uri,
        "mongodb_db": db,
        "jwt_secret": JWT_SECRET,
        **extra,
    }
    return ServerSettings(**values)


def bearer(subject: str, **claims: Any) -> dict[str, str]:
    """A valid token for ``subject``, issued the way ``/ui/auth/sign-token`` does."""
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, subject, 600, **claims)}"}


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as client:
            yield client


@contextlib.asynccontextmanager
async def running_server(uri: str, db: str, **extra: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(server_settings(uri, db, **extra))) as client:
        yield client


async def add_participants(client: httpx.AsyncClient, count: int, subject: str = "seed") -> None:
    for index in range(count):
        participant = {
            **PARTICIPANT,
            "title": f"Buyer NP {index}",
            "subscriber_url": f"https://buyer{index}.example.com/api",
        }
        created = await client.post("/ui/users", json=participant, headers=bearer(subject))
        assert created.status_code == 201, created.text
