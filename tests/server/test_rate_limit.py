"""The adaptive rate limit through HTTP, with tiny limits: 3 anonymous, 4 per subject, 6 premium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from rsf_server.config import ServerSettings

from tests.support.perf_server import bearer, running_server

LIMITS: dict[str, Any] = {
    "rate_limit_window_seconds": 60,
    "rate_limit_anonymous": 3,
    "rate_limit_authenticated": 4,
    "rate_limit_premium": 6,
}


@pytest.fixture
async def client(mongo_uri: str, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with running_server(mongo_uri, db_name, **LIMITS) as http:
        yield http


async def _spend(client: httpx.AsyncClient, count: int, headers: dict[str, str]) -> None:
    for expected_remaining in reversed(range(count)):
        response = await client.get("/ui/users", headers=headers)
        assert response.status_code != 429, response.text
        assert response.headers["ratelimit-remaining"] == str(expected_remaining)


def _assert_limited(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "Too many requests"
    assert body["success"] is False
    assert body["errorCode"] == "too_many_requests"
    assert body["correlationId"] == response.headers["x-correlation-id"]
    retry_after = int(response.headers["retry-after"])
    assert 0 < retry_after <= 60
    assert body["retryAfter"] == retry_after
    assert response.headers["ratelimit-limit"] == str(limit)
    assert response.headers["ratelimit-remaining"] == "0"
    assert 0 <= int(response.headers["ratelimit-reset"]) <= 60
    assert not any(name.startswith("x-ratelimit") for name in response.headers)


async def test_anonymous_callers_get_429_after_the_limit(client: httpx.AsyncClient) -> None:
    first = await client.get("/ui/users")
    assert first.status_code == 401
    assert first.headers["ratelimit-limit"] == "3"
    assert first.headers["ratelimit-policy"] == "3;w=60"
    assert first.headers["ratelimit-remaining"] == "2"
    for _ in range(2):
        assert (await client.get("/ui/users")).status_code == 401
    _assert_limited(await client.get("/ui/users"), 3)
    # Anonymous means per client address, whatever the route.
    _assert_limited(await client.post("/ui/auth/sign-token", json={"client_id": "x"}), 3)


async def test_each_subject_has_its_own_window(client: httpx.AsyncClient) -> None:
    alice, bob = bearer("alice"), bearer("bob")
    await _spend(client, 4, alice)
    _assert_limited(await client.get("/ui/users", headers=alice), 4)
    response = await client.get("/ui/users", headers=bob)
    assert response.status_code == 200
    assert response.headers["ratelimit-remaining"] == "3"
    # Anonymous requests from the same address are counted apart from the tokens.
    assert (await client.get("/ui/users")).headers["ratelimit-remaining"] == "2"


async def test_premium_tokens_get_the_higher_limit(client: httpx.AsyncClient) -> None:
    premium = bearer("carol", tier="premium")
    await _spend(client, 6, premium)
    _assert_limited(await client.get("/ui/users", headers=premium), 6)


async def test_invalid_tokens_count_as_anonymous(client: httpx.AsyncClient) -> None:
    forged = {"Authorization": "Bearer not.a.token"}
    response = await client.get("/ui/users", headers=forged)
    assert response.status_code == 401
    assert response.headers["ratelimit-limit"] == "3"


async def test_429s_are_measured_like_other_answers(client: httpx.AsyncClient) -> None:
    for _ in range(4):
        await client.get("/ui/users")
    metrics = (await client.get("/metrics")).text
    limited = [
        line
        for line in metrics.splitlines()
        if line.startswith("http_requests_total{") and 'status_code="429"' in line
    ]
    assert limited, "the 429 never reached the HTTP metrics"
    assert float(limited[0].rsplit(" ", 1)[1]) == 1.0


async def test_health_metrics_and_alert_webhook_are_never_limited(
    client: httpx.AsyncClient,
) -> None:
    alert = {"receiver": "rsf", "status": "firing", "alerts": []}
    for _ in range(6):
        for response in (
            await client.get("/health"),
            await client.get("/health/live"),
            await client.get("/ui/health"),
            await client.get("/ui/health/db"),
            await client.get("/metrics"),
            await client.post("/api/webhooks/alerts", json=alert),
        ):
            assert response.status_code != 429, response.request.url
            assert "ratelimit-limit" not in response.headers
    # None of those spent the anonymous budget.
    assert (await client.get("/ui/users")).headers["ratelimit-remaining"] == "2"


async def test_rate_limit_can_be_switched_off(mongo_uri: str, db_name: str) -> None:
    async with running_server(
        mongo_uri, db_name, **{**LIMITS, "rate_limit_enabled": False}
    ) as client:
        for _ in range(5):
            response = await client.get("/ui/users")
            assert response.status_code == 401
            assert "ratelimit-limit" not in response.headers


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    monkeypatch.setenv("RATE_LIMIT_WINDOW_SECONDS", "120")
    monkeypatch.setenv("RATE_LIMIT_ANONYMOUS", "7")
    monkeypatch.setenv("RATE_LIMIT_AUTHENTICATED", "70")
    monkeypatch.setenv("RATE_LIMIT_PREMIUM", "700")
    settings = ServerSettings()
    assert settings.rate_limit_enabled is False
    assert settings.rate_limit_window_seconds == 120
    assert (
        settings.rate_limit_anonymous,
        settings.rate_limit_authenticated,
        settings.rate_limit_premium,
    ) == (7, 70, 700)
    fields = ServerSettings.model_fields
    guide = {"window_seconds": 900, "anonymous": 100, "authenticated": 500, "premium": 1000}
    assert {name: fields[f"rate_limit_{name}"].default for name in guide} == guide
