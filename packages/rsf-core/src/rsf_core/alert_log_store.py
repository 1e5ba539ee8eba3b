"""``AlertStore`` on the ``alert_logs`` collection (the SDK keeps alerts in memory otherwise).

Idempotency comes from the unique index on (fingerprint, starts_at, status): a repeated
delivery fails the insert with DuplicateKeyError and ``save`` answers False. Times are stored
to the millisecond, so keys differing below that are the same key.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError
from rsf_observability.alert_store import AlertPage, AlertQuery, AlertRecord

from rsf_core.models import AlertLog

MAX_PAGE_SIZE = 500


def _to_document(record: AlertRecord) -> AlertLog:
    return AlertLog(
        alertname=record.alertname,
        severity=record.severity,
        status=record.status,
        fingerprint=record.fingerprint,
        labels=dict(record.labels),
        annotations=dict(record.annotations),
        description=record.description,
        generator_url=record.generator_url,
        starts_at=record.starts_at,
        ends_at=record.ends_at,
        received_at=record.received_at,
        handled_by=list(record.handled_by),
    )


def _to_record(doc: AlertLog) -> AlertRecord:
    return AlertRecord(
        alertname=doc.alertname,
        severity=doc.severity,
        status=doc.status,
        fingerprint=doc.fingerprint,
        starts_at=doc.starts_at,
        ends_at=doc.ends_at,
        received_at=doc.received_at,
        labels=dict(doc.labels),
        annotations=dict(doc.annotations),
        description=doc.description,
        generator_url=doc.generator_url,
        handled_by=tuple(doc.handled_by),
    )


class MongoAlertStore:
    """:class:`rsf_observability.alert_store.AlertStore` on Beanie's ``AlertLog``."""

    async def save(self, record: AlertRecord) -> bool:
        try:
            await _to_document(record).insert()
        except DuplicateKeyError:
            return False
        return True

    async def query(self, query: AlertQuery) -> AlertPage:
        page = max(query.page, 1)
        limit = min(max(query.limit, 1), MAX_PAGE_SIZE)
        filters: dict[str, Any] = {
            name: value
            for name, value in (
                ("status", query.status),
                ("severity", query.severity),
                ("alertname", query.alertname),
            )
            if value is not None
        }
        found = AlertLog.find(filters)
        total = await found.count()
        docs = await (
            AlertLog.find(filters)
            .sort("-received_at")
            .skip((page - 1) * limit)
            .limit(limit)
            .to_list()
        )
        return AlertPage(items=[_to_record(d) for d in docs], total=total, page=page, limit=limit)
