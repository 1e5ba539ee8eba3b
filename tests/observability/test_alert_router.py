"""The Alertmanager webhook router's rules, through real HTTP calls on an ASGI app."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from rsf_observability.alert_handlers import (
    AlertHandlers,
    DebugLoggingHandler,
    default_alert_handlers,
)
from rsf_observability.alert_memory_store import InMemoryAlertStore
from rsf_observability.alert_router import AlertWebhook, alert_webhook_routes
from rsf_observability.alert_store import AlertQuery, AlertRecord
from rsf_observability.correlation import CorrelationIdMiddleware
from rsf_observability.log_setup import get_log_level, set_log_level
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from starlette.applications import Starlette

from tests.support.polling import async_wait_until

URL = "/api/webhooks/alerts"
STARTS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def messages(self, message: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage() == message]


@pytest.fixture
def alert_logs() -> Iterator[_Records]:
    logger = logging.getLogger("rsf.alerts")
    handler = _Records()
    old_level, old_disabled = logger.level, logger.disabled
    logger.setLevel(logging.DEBUG)
    logger.disabled = False
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        logger.disabled = old_disabled


def _alert(
    name: str = "HighMemoryUsage",
    *,
    severity: str | None = "warning",
    status: str = "firing",
    fingerprint: str | None = None,
    starts: datetime = STARTS,
    description: str = "Memory usage is 91%",
) -> dict[str, Any]:
    labels = {"alertname": name, "instance": "rsf-1"}
    if severity is not None:
        labels["severity"] = severity
    return {
        "status": status,
        "labels": labels,
        "annotations": {"description": description, "summary": "summary"},
        "startsAt": starts.isoformat().replace("+00:00", "Z"),
        "endsAt": "0001-01-01T00:00:00Z"
        if status == "firing"
        else (starts + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "generatorURL": "http://prometheus.local/graph?g0.expr=up",
        "fingerprint": fingerprint or f"fp-{name}",
    }


def _payload(*alerts: dict[str, Any], status: str = "firing") -> dict[str, Any]:
    return {
        "version": "4",
        "groupKey": '{}:{alertname="x"}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "rsf-webhook",
        "groupLabels": {"alertname": "x"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.local",
        "alerts": list(alerts),
    }


class _Harness:
    def __init__(self, **settings: Any) -> None:
        self.settings = ObservabilitySettings(**settings)
        self.store = InMemoryAlertStore()
        self.metrics = RsfMetrics()
        self.handlers = AlertHandlers(timeout=self.settings.alert_handler_timeout)
        self.webhook = AlertWebhook(
            self.store, metrics=self.metrics, settings=self.settings, handlers=self.handlers
        )
        self.app = CorrelationIdMiddleware(Starlette(routes=self.webhook.routes))

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://test", **kwargs
        )

    def count(self, severity: str, status: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "alerts_total", {"severity": severity, "status": status}
        )
        return value or 0.0

    async def stored(self, **filters: Any) -> list[AlertRecord]:
        return (await self.store.query(AlertQuery(limit=500, **filters))).items


async def test_alerts_are_logged_counted_stored_and_answered(alert_logs: _Records) -> None:
    h = _Harness()
    payload = _payload(_alert(), _alert("LowSettlementSuccessRate", severity="warning"))
    async with h.client() as client:
        response = await client.post(URL, json=payload)
    assert response.status_code == 200
    assert response.json() == {"received": 2}
    assert h.count("warning", "firing") == 2
    records = await h.stored()
    assert {r.alertname for r in records} == {"HighMemoryUsage", "LowSettlementSuccessRate"}
    record = next(r for r in records if r.alertname == "HighMemoryUsage")
    assert record.starts_at == STARTS
    assert record.ends_at is None, "Go's zero time means no end"
    assert record.description == "Memory usage is 91%"
    assert record.labels["instance"] == "rsf-1"
    assert record.generator_url == "http://prometheus.local/graph?g0.expr=up"

    logged = alert_logs.messages("Alert received")
    assert len(logged) == 2
    first = logged[0]
    assert first.levelno == logging.WARNING
    assert first.alertname == "HighMemoryUsage"  # type: ignore[attr-defined]
    assert first.severity == "warning"  # type: ignore[attr-defined]
    assert first.status == "firing"  # type: ignore[attr-defined]
    assert first.description == "Memory usage is 91%"  # type: ignore[attr-defined]
    assert first.fingerprint == "fp-HighMemoryUsage"  # type: ignore[attr-defined]
    assert first.startsAt == "2026-01-02T03:04:05Z"  # type: ignore[attr-defined]


async def test_control_characters_never_reach_the_log_raw(alert_logs: _Records) -> None:
    h = _Harness()
    async with h.client() as client:
        response = await client.post(
            URL, json=_payload(_alert(description="forged\nERROR admin login\x1b[31m"))
        )
    assert response.status_code == 200
    logged = alert_logs.messages("Alert received")[0]
    assert logged.description == "forged\\nERROR admin login\\x1b[31m"  # type: ignore[attr-defined]


async def test_repeat_delivery_stores_nothing_new_and_does_not_rerun_handlers() -> None:
    h = _Harness()
    calls: list[str] = []

    async def handler(record: AlertRecord) -> None:
        calls.append(record.fingerprint)

    h.handlers.register("RSFUtilityDown", handler)
    payload = _payload(_alert("RSFUtilityDown", severity="critical"))
    async with h.client() as client:
        for _ in range(3):
            response = await client.post(URL, json=payload)
            assert response.json() == {"received": 1}
    await h.handlers.drain(5)
    assert len(await h.stored()) == 1
    assert calls == ["fp-RSFUtilityDown"]
    assert h.count("critical", "firing") == 3, "every delivery is counted"

    resolved = _payload(_alert("RSFUtilityDown", severity="critical", status="resolved"))
    async with h.client() as client:
        await client.post(URL, json=resolved)
    await h.handlers.drain(5)
    assert {r.status for r in await h.stored()} == {"firing", "resolved"}
    assert calls == ["fp-RSFUtilityDown"], "resolved alerts are not dispatched"


async def test_only_critical_firing_alerts_are_dispatched() -> None:
    h = _Harness()
    seen: list[str] = []

    async def handler(record: AlertRecord) -> None:
        seen.append(f"{record.severity}/{record.status}")

    h.handlers.register("X", handler, name="recorder")
    alerts = [
        _alert("X", severity="warning", fingerprint="a"),
        _alert("X", severity="critical", status="resolved", fingerprint="b"),
        _alert("X", severity="critical", fingerprint="c"),
    ]
    async with h.client() as client:
        await client.post(URL, json=_payload(*alerts))
    await h.handlers.drain(5)
    assert seen == ["critical/firing"]
    handled = {r.fingerprint: r.handled_by for r in await h.stored()}
    assert handled == {"a": (), "b": (), "c": ("recorder",)}


async def test_failing_and_slow_handlers_are_logged_never_fail_the_response(
    alert_logs: _Records,
) -> None:
    h = _Harness(alert_handler_timeout=0.2)

    async def broken(record: AlertRecord) -> None:
        raise RuntimeError("restart script missing")

    async def slow(record: AlertRecord) -> None:
        await asyncio.Event().wait()

    h.handlers.register("RSFUtilityDown", broken)
    h.handlers.register("RSFUtilityDown", slow)
    async with h.client() as client:
        response = await client.post(
            URL, json=_payload(_alert("RSFUtilityDown", severity="critical"))
        )
    assert response.status_code == 200
    assert await h.handlers.drain(5)
    failed = alert_logs.messages("Alert handler failed")
    assert len(failed) == 1
    assert failed[0].handler == "broken"  # type: ignore[attr-defined]
    assert failed[0].exc_info is not None
    assert len(alert_logs.messages("Alert handler timed out")) == 1


async def test_high_error_rate_raises_log_level_for_a_while_then_restores() -> None:
    before = get_log_level()
    set_log_level("warn")
    try:
        settings = ObservabilitySettings(alert_debug_duration=0.3)
        handlers = default_alert_handlers(settings)
        h = _Harness()
        webhook = AlertWebhook(h.store, metrics=h.metrics, settings=settings, handlers=handlers)
        app = Starlette(routes=webhook.routes)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.post(
                URL, json=_payload(_alert("HighErrorRate", severity="critical"))
            )
        assert response.status_code == 200
        await handlers.drain(5)
        assert get_log_level() == "debug"
        await async_wait_until(lambda: get_log_level() == "warn", timeout=5)
    finally:
        set_log_level(before)


async def test_database_lost_and_service_down_call_their_hooks(alert_logs: _Records) -> None:
    reconnects: list[str] = []

    async def reconnect() -> None:
        reconnects.append("reconnect")

    handlers = default_alert_handlers(ObservabilitySettings(), reconnect=reconnect)
    h = _Harness()
    webhook = AlertWebhook(h.store, metrics=h.metrics, handlers=handlers)
    app = Starlette(routes=webhook.routes)
    payload = _payload(
        _alert("DatabaseConnectionLost", severity="critical"),
        _alert("RSFUtilityDown", severity="critical"),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        assert (await client.post(URL, json=payload)).status_code == 200
    assert await handlers.drain(5)
    assert reconnects == ["reconnect"]
    noted = alert_logs.messages("No hook configured; alert noted only")
    assert [r.alertname for r in noted] == ["RSFUtilityDown"]  # type: ignore[attr-defined]


async def test_debug_handler_restore_ends_the_window() -> None:
    before = get_log_level()
    set_log_level("info")
    try:
        handler = DebugLoggingHandler(60)
        record = AlertRecord(
            alertname="HighErrorRate",
            severity="critical",
            status="firing",
            fingerprint="f",
            starts_at=STARTS,
            ends_at=None,
            received_at=STARTS,
        )
        await handler(record)
        assert get_log_level() == "debug"
        handler.restore()
        assert get_log_level() == "info"
    finally:
        set_log_level(before)


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (
            b'{"version": "4", "alerts": [',
            {"content-type": "application/json"},
            400,
            "malformed_json",
        ),
        (b"version=4", {"content-type": "application/x-www-form-urlencoded"}, 415, None),
        (b"{}", {"content-type": "text/plain"}, 415, None),
    ],
)
async def test_bad_bodies_get_clear_json_errors_with_correlation_id(
    body: bytes, headers: dict[str, str], status: int, code: str | None
) -> None:
    h = _Harness()
    async with h.client() as client:
        response = await client.post(
            URL, content=body, headers={**headers, "x-correlation-id": "abc-123-def"}
        )
    assert response.status_code == status
    problem = response.json()
    assert problem["success"] is False
    assert problem["correlationId"] == "abc-123-def"
    if code:
        assert problem["errorCode"] == code
    assert await h.stored() == []


async def test_too_large_body_is_413() -> None:
    h = _Harness(alert_webhook_max_bytes=1024)
    big = _payload(*(_alert(fingerprint=f"fp{i}") for i in range(20)))
    async with h.client() as client:
        response = await client.post(URL, json=big)
        assert response.status_code == 413
        assert response.json()["errorCode"] == "payload_too_large"

        async def chunks() -> Any:
            for _ in range(10):
                yield b" " * 200

        streamed = await client.post(
            URL, content=chunks(), headers={"content-type": "application/json"}
        )
    assert streamed.status_code == 413
    assert await h.stored() == []


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts.0.startsAt"),
        (lambda p: p["alerts"][1].update(status="pending"), "alerts.1.status"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts.0.startsAt"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(truncatedAlerts=-1), "truncatedAlerts"),
        (lambda p: p["alerts"][0]["labels"].update(severity=5), "alerts.0.labels.severity"),
    ],
)
async def test_wrong_shape_is_422_naming_the_field(mutate: Any, field: str) -> None:
    h = _Harness()
    payload = _payload(_alert(fingerprint="a"), _alert(fingerprint="b"))
    mutate(payload)
    async with h.client() as client:
        response = await client.post(URL, json=payload)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errorCode"] == "validation_error"
    assert field in [d["field"] for d in problem["details"]]
    assert field in problem["message"]
    assert "correlationId" in problem
    assert await h.stored() == [], "a bad payload stores nothing, not even its valid alerts"


async def test_a_json_array_is_422() -> None:
    h = _Harness()
    async with h.client() as client:
        response = await client.post(URL, json=[1, 2])
    assert response.status_code == 422


async def test_bearer_token_is_required_when_configured() -> None:
    h = _Harness(alert_webhook_token="s3cret-token")
    payload = _payload(_alert())
    async with h.client() as client:
        missing = await client.post(URL, json=payload)
        wrong = await client.post(URL, json=payload, headers={"authorization": "Bearer nope"})
        basic = await client.post(URL, json=payload, auth=("s3cret-token", ""))
        listing = await client.get(URL)
        assert await h.stored() == []
        ok = await client.post(URL, json=payload, headers={"authorization": "Bearer s3cret-token"})
        listed = await client.get(URL, headers={"authorization": "Bearer s3cret-token"})
    for response in (missing, wrong, basic, listing):
        assert response.status_code == 401
        assert response.json()["errorCode"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert ok.status_code == 200
    assert listed.status_code == 200
    assert listed.json()["total"] == 1


async def test_basic_auth_is_required_when_configured() -> None:
    h = _Harness(alert_webhook_username="alertmanager", alert_webhook_password="pw:with:colons")
    payload = _payload(_alert())
    async with h.client() as client:
        wrong = await client.post(URL, json=payload, auth=("alertmanager", "nope"))
        garbage = await client.post(URL, json=payload, headers={"authorization": "Basic %%%"})
        no_colon = await client.post(
            URL,
            json=payload,
            headers={"authorization": "Basic " + base64.b64encode(b"alertmanager").decode()},
        )
        assert await h.stored() == []
        ok = await client.post(URL, json=payload, auth=("alertmanager", "pw:with:colons"))
    for response in (wrong, garbage, no_colon):
        assert response.status_code == 401
    assert ok.status_code == 200
    assert len(await h.stored()) == 1


async def test_unknown_severities_are_counted_as_unknown() -> None:
    h = _Harness()
    alerts = [
        _alert(severity="SEV-1 page the world", fingerprint="a"),
        _alert(severity=None, fingerprint="b"),
        _alert(severity="Critical", fingerprint="c"),
    ]
    async with h.client() as client:
        await client.post(URL, json=_payload(*alerts))
    assert h.count("unknown", "firing") == 2
    assert h.count("critical", "firing") == 1
    stored = {r.fingerprint: r.severity for r in await h.stored()}
    assert stored == {"a": "SEV-1 page the world", "b": "unknown", "c": "Critical"}


async def test_listing_filters_and_paginates() -> None:
    h = _Harness()
    alerts = [
        _alert("A", severity="critical", fingerprint="a1"),
        _alert("A", severity="critical", status="resolved", fingerprint="a1"),
        _alert("B", severity="warning", fingerprint="b1"),
        *(_alert("C", severity="info", fingerprint=f"c{i}") for i in range(5)),
    ]
    async with h.client() as client:
        await client.post(URL, json=_payload(*alerts))
        everything = (await client.get(URL)).json()
        resolved = (await client.get(URL, params={"status": "resolved"})).json()
        critical = (await client.get(URL, params={"severity": "critical"})).json()
        page2 = (await client.get(URL, params={"alertname": "C", "limit": 2, "page": 2})).json()
        page4 = (await client.get(URL, params={"alertname": "C", "limit": 2, "page": 4})).json()
        bad_status = await client.get(URL, params={"status": "pending"})
        bad_limit = await client.get(URL, params={"limit": "1000"})
        bad_page = await client.get(URL, params={"page": "-1"})
    assert everything["total"] == 8
    assert len(everything["items"]) == 8
    assert [i["alertname"] for i in resolved["items"]] == ["A"]
    assert resolved["items"][0]["endsAt"] == "2026-01-02T03:09:05Z"
    assert critical["total"] == 2
    assert page2["total"] == 5
    assert len(page2["items"]) == 2
    assert page2["page"] == 2
    assert page4["items"] == []
    item = everything["items"][0]
    assert set(item) >= {"alertname", "severity", "status", "fingerprint", "startsAt"}
    for response in (bad_status, bad_limit, bad_page):
        assert response.status_code == 422


async def test_a_thousand_alerts_in_one_payload() -> None:
    h = _Harness()
    alerts = [
        _alert(f"Alert{i % 7}", severity="warning", fingerprint=f"{i:016x}") for i in range(1000)
    ]
    body = json.dumps(_payload(*alerts))
    async with h.client(timeout=60) as client:
        response = await client.post(
            URL, content=body, headers={"content-type": "application/json"}
        )
    assert response.status_code == 200
    assert response.json() == {"received": 1000}
    assert len(h.store) == 1000
    assert h.count("warning", "firing") == 1000


async def test_routes_helper_defaults_work_in_a_plain_app() -> None:
    app = Starlette(routes=alert_webhook_routes(metrics=RsfMetrics()))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        posted = await client.post(URL, json=_payload(_alert()))
        listed = await client.get(URL)
    assert posted.json() == {"received": 1}
    assert listed.json()["total"] == 1


async def test_memory_store_is_bounded_and_idempotent() -> None:
    store = InMemoryAlertStore(max_records=3)

    def record(i: int, status: str = "firing") -> AlertRecord:
        return AlertRecord(
            alertname="A",
            severity="info",
            status=status,
            fingerprint=f"f{i}",
            starts_at=STARTS,
            ends_at=None,
            received_at=STARTS + timedelta(seconds=i),
        )

    assert await store.save(record(1))
    assert not await store.save(record(1))
    assert await store.save(record(1, "resolved"))
    for i in range(2, 6):
        assert await store.save(record(i))
    assert len(store) == 3
    page = await store.query(AlertQuery())
    assert [r.fingerprint for r in page.items] == ["f5", "f4", "f3"]
    with pytest.raises(ValueError, match="max_records"):
        InMemoryAlertStore(max_records=0)
