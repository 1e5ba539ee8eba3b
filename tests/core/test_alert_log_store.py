"""MongoAlertStore keeps each alert once per (fingerprint, startsAt, status) and lists them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rsf_core.alert_log_store import MongoAlertStore
from rsf_core.models import AlertLog, utcnow
from rsf_observability.alert_store import AlertQuery, AlertRecord, AlertStore

pytestmark = pytest.mark.usefixtures("beanie_db")


def _record(
    fingerprint: str = "abc123",
    status: str = "firing",
    severity: str = "critical",
    received_offset: int = 0,
    alertname: str = "SettlementSuccessRateLow",
) -> AlertRecord:
    starts = utcnow() - timedelta(minutes=5)
    return AlertRecord(
        alertname=alertname,
        severity=severity,
        status=status,
        fingerprint=fingerprint,
        starts_at=starts.replace(second=0, microsecond=0),
        ends_at=None,
        received_at=utcnow() + timedelta(seconds=received_offset),
        labels={"alertname": alertname, "severity": severity},
        annotations={"summary": "Settlement success rate below 95%"},
        description="rate 80%",
        generator_url="http://prometheus.example/graph",
        handled_by=("log", "settlement_team"),
    )


async def test_save_is_idempotent_on_key() -> None:
    store = MongoAlertStore()
    assert isinstance(store, AlertStore)
    record = _record()
    assert await store.save(record) is True
    assert await store.save(record) is False  # Alertmanager re-sent the group
    assert await store.save(_record(status="resolved")) is True  # same alert, new status
    assert await AlertLog.count() == 2


async def test_stored_record_round_trips() -> None:
    store = MongoAlertStore()
    record = _record()
    await store.save(record)
    page = await store.query(AlertQuery())
    [stored] = page.items
    assert stored.key == record.key
    assert stored.labels == record.labels
    assert stored.annotations == record.annotations
    assert stored.handled_by == ("log", "settlement_team")
    assert stored.description == "rate 80%"
    assert stored.generator_url == "http://prometheus.example/graph"
    assert stored.starts_at.tzinfo is not None


async def test_query_filters_pages_and_orders_newest_first() -> None:
    store = MongoAlertStore()
    for i in range(5):
        await store.save(_record(fingerprint=f"f{i}", received_offset=i))
    await store.save(_record(fingerprint="w", severity="warning", alertname="HighMemory"))
    await store.save(_record(fingerprint="r", status="resolved"))

    critical = await store.query(AlertQuery(severity="critical", status="firing", limit=2))
    assert critical.total == 5
    assert [r.fingerprint for r in critical.items] == ["f4", "f3"]
    second = await store.query(AlertQuery(severity="critical", status="firing", limit=2, page=2))
    assert [r.fingerprint for r in second.items] == ["f2", "f1"]
    assert (await store.query(AlertQuery(alertname="HighMemory"))).total == 1
    assert (await store.query(AlertQuery(status="resolved"))).items[0].fingerprint == "r"
    assert (await store.query(AlertQuery())).total == 7
