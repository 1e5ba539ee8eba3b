"""The SDK's default :class:`~rsf_observability.alert_store.AlertStore`: bounded, in memory.

Keeps the newest ``max_records`` alerts; the oldest are dropped first. A repeat delivery of a
record still held is ignored; one whose original was already dropped is stored again.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime

from rsf_observability.alert_store import AlertPage, AlertQuery, AlertRecord

_Key = tuple[str, datetime, str]


class InMemoryAlertStore:
    """An ``AlertStore`` for one process; nothing survives a restart."""

    def __init__(self, max_records: int = 10_000) -> None:
        if max_records < 1:
            raise ValueError("max_records must be at least 1")
        self.max_records = max_records
        self._records: OrderedDict[_Key, AlertRecord] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    async def save(self, record: AlertRecord) -> bool:
        if record.key in self._records:
            return False
        self._records[record.key] = record
        while len(self._records) > self.max_records:
            self._records.popitem(last=False)
        return True

    async def query(self, query: AlertQuery) -> AlertPage:
        matching = [
            record
            for record in reversed(self._records.values())
            if (query.status is None or record.status == query.status)
            and (query.severity is None or record.severity == query.severity)
            and (query.alertname is None or record.alertname == query.alertname)
        ]
        matching.sort(key=lambda record: record.received_at, reverse=True)
        start = (max(query.page, 1) - 1) * query.limit
        return AlertPage(
            items=matching[start : start + query.limit],
            total=len(matching),
            page=query.page,
            limit=query.limit,
        )
