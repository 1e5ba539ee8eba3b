"""The audit sink protocol: how an app persists the audit middleware's records.

rsf-core implements it on ``RsfPayload`` (the audit trail of every /api and /ui exchange).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class AuditEntry:
    """One RSF operation: the guide's "RSF Operation" record plus its outcome."""

    operation: str  # the request path
    method: str
    route: str | None  # the matched route template, when known
    timestamp: datetime  # when the request arrived (UTC)
    correlation_id: str | None
    participant: str | None  # context.bap_id or context.bpp_id
    transaction_id: str | None
    message_id: str | None
    action: str | None
    status_code: int
    duration_ms: float
    request: Any  # the parsed JSON request body, secrets redacted; None when not JSON
    response: Any  # the parsed JSON response body, secrets redacted; None when not JSON


@runtime_checkable
class AuditSink(Protocol):
    async def write(self, entry: AuditEntry) -> None:
        """Persist ``entry``. Called after the response is sent; errors are logged, not raised."""
        ...
