"""Where received alerts are kept: the :class:`AlertStore` protocol and its record types.

The SDK ships a bounded in-memory store; rsf-core provides a MongoDB one (``AlertLog``).
Storage is idempotent on ``(fingerprint, starts_at, status)``: Alertmanager re-sends a group on
``repeat_interval`` and retries failed deliveries, and a repeat must not make a second record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class AlertRecord:
    alertname: str
    severity: str
    status: str  # "firing" | "resolved"
    fingerprint: str
    starts_at: datetime
    ends_at: datetime | None
    received_at: datetime
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    description: str | None = None
    generator_url: str | None = None
    handled_by: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, datetime, str]:
        """The identity a repeat delivery shares with the original."""
        return (self.fingerprint, self.starts_at, self.status)


@dataclass(frozen=True)
class AlertQuery:
    status: str | None = None
    severity: str | None = None
    alertname: str | None = None
    page: int = 1
    limit: int = 50


@dataclass(frozen=True)
class AlertPage:
    items: list[AlertRecord]
    total: int
    page: int
    limit: int


@runtime_checkable
class AlertStore(Protocol):
    async def save(self, record: AlertRecord) -> bool:
        """Store ``record``; ``False`` (and nothing stored) when its key is already stored."""
        ...

    async def query(self, query: AlertQuery) -> AlertPage:
        """Stored alerts matching ``query``, newest ``received_at`` first."""
        ...
