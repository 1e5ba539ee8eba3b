"""``AuditSink`` on the ``rsf_payloads`` collection: the audit trail the UI lists.

The entry arrives already redacted by the audit middleware. ``ack_status`` is lifted out of an
ONDC answer (``message.ack.status``) so "only ACKed exchanges" is a plain indexed filter.
"""

from __future__ import annotations

from typing import Any

from rsf_observability.audit_sink import AuditEntry

from rsf_core.models import RsfPayload


def ack_status_of(response: Any) -> str | None:
    """``"ACK"`` / ``"NACK"`` from ``{"message": {"ack": {"status": ...}}}``, else None."""
    if not isinstance(response, dict):
        return None
    message = response.get("message")
    ack = message.get("ack") if isinstance(message, dict) else None
    status = ack.get("status") if isinstance(ack, dict) else None
    return status if status in ("ACK", "NACK") else None


def payload_from_entry(entry: AuditEntry) -> RsfPayload:
    return RsfPayload(
        operation=entry.operation,
        method=entry.method,
        route=entry.route,
        action=entry.action,
        transaction_id=entry.transaction_id,
        message_id=entry.message_id,
        participant=entry.participant,
        correlation_id=entry.correlation_id,
        status_code=entry.status_code,
        ack_status=ack_status_of(entry.response),
        duration_ms=entry.duration_ms,
        request=entry.request,
        response=entry.response,
        created_at=entry.timestamp,
    )


class RsfPayloadAuditSink:
    """:class:`rsf_observability.audit_sink.AuditSink` writing one ``RsfPayload`` per entry."""

    async def write(self, entry: AuditEntry) -> None:
        await payload_from_entry(entry).insert()
