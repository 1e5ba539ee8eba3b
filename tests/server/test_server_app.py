"""The reference server through HTTP (httpx ASGITransport, lifespan run), on a real nx-27017."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from rsf_server.app import create_app
from rsf_server.config import ServerSettings
from rsf_server.embedded_store import EmbeddedStore

from tests.support.perf_server import PARTICIPANT, server_settings
from tests.support.perf_server import serve as _serve
from tests.support.polling import async_wait_until


def _settings(uri: str, db: str, **extra: Any) -> ServerSettings:
    return server_settings(uri, db, **{"max_body_bytes": 4096, **extra})


@pytest.fixture
async def client(mongo_uri: str, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with _serve(create_app(_settings(mongo_uri, db_name))) as http:
        yield http


async def _token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post("/ui/auth/sign-token", json={"client_id": "test-ui"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def _assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["correlationId"] == response.headers["x-correlation-id"]
    assert "Traceback" not in response.text
    return body


async def test_health_reports_the_database_and_checks(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    assert health.json()["status"] in ("healthy", "degraded")
    detailed = (await client.get("/health/detailed")).json()
    assert detailed["services"]["database"]["status"] == "healthy"
    assert detailed["services"]["settlements"]["details"]["stuckSettlements"] == 0
    db = await client.get("/ui/health/db")
    assert db.status_code == 200
    assert db.json()["status"] == "healthy"


async def test_metrics_show_requests_and_database(client: httpx.AsyncClient) -> None:
    await client.get("/no/such/route")
    await client.get("/health/detailed")
    text = (await client.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="<unmatched>",status_code="404"}' in text
    assert "db_health_status{" in text
    assert 'db_operation_duration_seconds_count{collection="admin",operation="ping"}' in text


async def test_unknown_route_and_wrong_method_are_json_with_correlation_id(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/nope", headers={"x-correlation-id": "trace-me-123"})
    body = _assert_error(missing, 404)
    assert body["correlationId"] == "trace-me-123"
    wrong = await client.put("/ui/auth/sign-token", json={})
    _assert_error(wrong, 405)


async def test_json_route_rejects_bad_bodies(client: httpx.AsyncClient) -> None:
    route = "/ui/auth/sign-token"
    malformed = await client.post(
        route, content=b"{oops", headers={"content-type": "application/json"}
    )
    assert _assert_error(malformed, 400)["errorCode"] == "malformed_json"
    plain = await client.post(route, content=b"client_id=x", headers={"content-type": "text/plain"})
    _assert_error(plain, 415)
    huge = await client.post(route, json={"client_id": "x", "pad": "a" * 40_000})
    _assert_error(huge, 413)
    missing = await client.post(route, json={"expires": "1h"})
    _assert_error(missing, 422)


async def test_network_route_rejects_non_json_and_oversized_bodies(
    client: httpx.AsyncClient,
) -> None:
    route = "/api/on_settle"
    plain = await client.post(route, content=b"context=x", headers={"content-type": "text/plain"})
    _assert_error(plain, 415)
    huge = await client.post(route, json={"context": {}, "pad": "a" * 40_000})
    _assert_error(huge, 413)


async def test_ui_routes_need_a_valid_token(client: httpx.AsyncClient) -> None:
    _assert_error(await client.get("/ui/users"), 401)
    forged = {
        "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4IiwiZXhwIjo5OTk5OTk5OTk5fQ.bad"
    }
    _assert_error(await client.get("/ui/users", headers=forged), 401)
    ok = await client.get("/ui/users", headers=await _token(client))
    assert ok.status_code == 200
    assert ok.json() == {"success": True, "data": [], "message": "OK"}


async def test_participant_crud_and_listings(client: httpx.AsyncClient) -> None:
    auth = await _token(client)
    created = await client.post("/ui/users", json=PARTICIPANT, headers=auth)
    assert created.status_code == 201, created.text
    user = created.json()["data"]
    assert user["title"] == "Buyer NP"
    assert user["np_tcs"] in ("1", "1.00")

    duplicate = await client.post("/ui/users", json=PARTICIPANT, headers=auth)
    _assert_error(duplicate, 409)

    patched = await client.patch(f"/ui/users/{user['id']}", json={"np_tds": "2"}, headers=auth)
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["np_tds"] in ("2", "2.00")

    for path in (f"/ui/orders/{user['id']}", f"/ui/settle/{user['id']}", f"/ui/recon/{user['id']}"):
        listing = await client.get(path, headers=auth)
        assert listing.status_code == 200, listing.text
        assert listing.json()["data"] == {"items": [], "total": 0, "page": 1, "limit": 20}

    bad_filter = await client.get(f"/ui/orders/{user['id']}?state=Lost", headers=auth)
    assert "state" in _assert_error(bad_filter, 422)["message"]
    _assert_error(await client.get("/ui/orders/000000000000000000000000", headers=auth), 404)

    deleted = await client.delete(f"/ui/users/{user['id']}", headers=auth)
    assert deleted.status_code == 200
    _assert_error(await client.delete(f"/ui/users/{user['id']}", headers=auth), 404)


async def test_prepare_of_unknown_order_is_a_clear_error(client: httpx.AsyncClient) -> None:
    auth = await _token(client)
    user = (await client.post("/ui/users", json=PARTICIPANT, headers=auth)).json()["data"]
    empty = await client.post(f"/ui/settle/{user['id']}/prepare", json={}, headers=auth)
    assert "prepare_data" in _assert_error(empty, 422)["message"]
    unknown = await client.post(
        f"/ui/settle/{user['id']}/prepare",
        json={"prepare_data": [{"id": "no-such-order", "strategy": "USER"}]},
        headers=auth,
    )
    assert unknown.status_code in (404, 409, 422)
    _assert_error(unknown, unknown.status_code)


async def test_alert_webhook_stores_and_lists(client: httpx.AsyncClient) -> None:
    alert = {
        "status": "firing",
        "labels": {"alertname": "HighMemoryUsage", "severity": "warning"},
        "annotations": {"description": "Memory usage is 91%"},
        "startsAt": "2026-01-15T10:30:45Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "abc123",
    }
    payload = {
        "version": "4",
        "groupKey": '{}:{alertname="HighMemoryUsage"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "web.hook",
        "groupLabels": {"alertname": "HighMemoryUsage"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "alerts": [alert],
    }
    received = await client.post("/api/webhooks/alerts", json=payload)
    assert received.status_code == 200, received.text
    assert received.json()["received"] == 1
    again = await client.post("/api/webhooks/alerts", json=payload)
    assert again.status_code == 200
    listed = (await client.get("/api/webhooks/alerts")).json()
    names = [item["alertname"] for item in listed["items"]]
    assert names == ["HighMemoryUsage"]
    text = (await client.get("/metrics")).text
    assert 'alerts_total{severity="warning",status="firing"}' in text


async def test_database_outage_gives_503_health_and_json_500(
    private_store: EmbeddedStore, db_name: str
) -> None:
    settings = _settings(private_store.uri, db_name, db_timeout_ms=500)
    app = create_app(settings)
    async with _serve(app) as client:
        auth = await _token(client)
        assert (await client.get("/ui/users", headers=auth)).status_code == 200
        private_store.kill()

        async def unhealthy() -> bool:
            return (await client.get("/health")).status_code == 503

        await async_wait_until(unhealthy, timeout=10)
        crashed = await client.get("/ui/users", headers=auth)
        body = _assert_error(crashed, 500)
        assert body["message"] == "Internal server error"

        private_store.start()

        async def healthy() -> bool:
            return (await client.get("/health")).status_code == 200

        await async_wait_until(healthy, timeout=20)


async def test_ui_exchanges_land_in_the_audit_trail(client: httpx.AsyncClient) -> None:
    auth = await _token(client)
    created = await client.post("/ui/users", json=PARTICIPANT, headers=auth)
    assert created.status_code == 201

    async def audited() -> list[dict[str, Any]]:
        listing = await client.get("/ui/rsf-payloads", headers=auth)
        items: list[dict[str, Any]] = listing.json()["data"]["items"]
        return [item for item in items if item["operation"] == "/ui/users"]

    entries = await async_wait_until(audited, timeout=10)
    entry = entries[0]
    assert entry["method"] == "POST"
    assert entry["status_code"] == 201
    assert entry["correlation_id"] == created.headers["x-correlation-id"]
    assert entry["request"]["title"] == "Buyer NP"


async def test_issued_tokens_never_reach_the_audit_trail(client: httpx.AsyncClient) -> None:
    auth = await _token(client)
    issued = auth["Authorization"].removeprefix("Bearer ")

    async def audited() -> list[dict[str, Any]]:
        listing = await client.get("/ui/rsf-payloads", headers=auth)
        items: list[dict[str, Any]] = listing.json()["data"]["items"]
        return [item for item in items if item["operation"] == "/ui/auth/sign-token"]

    entries = await async_wait_until(audited, timeout=10)
    assert entries[0]["status_code"] == 200
    assert issued not in json.dumps(entries)
