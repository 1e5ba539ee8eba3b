"""RsfPayloadAuditSink writes the audit middleware's entries to rsf_payloads."""

from __future__ import annotations

from typing import Any

import pytest
from rsf_core.audit_store import RsfPayloadAuditSink, ack_status_of
from rsf_core.models import RsfPayload, utcnow
from rsf_observability.audit_sink import AuditEntry, AuditSink

from tests.core._ondc_fixtures import load_message

pytestmark = pytest.mark.usefixtures("beanie_db")


def _entry(request: Any, response: Any, status_code: int = 200) -> AuditEntry:
    return AuditEntry(
        operation="/api/on_confirm",
        method="POST",
        route="/api/{action}",
        timestamp=utcnow(),
        correlation_id="corr-1",
        participant="buyer.example.com",
        transaction_id="txn-1",
        message_id="msg-1",
        action="on_confirm",
        status_code=status_code,
        duration_ms=12.5,
        request=request,
        response=response,
    )


async def test_entry_is_stored_with_its_ack() -> None:
    sink = RsfPayloadAuditSink()
    assert isinstance(sink, AuditSink)
    message = load_message("retail_on_confirm")
    ack = {"message": {"ack": {"status": "ACK"}}}
    entry = _entry(message, ack)
    await sink.write(entry)

    stored = await RsfPayload.find_one({"transaction_id": "txn-1"})
    assert stored is not None
    assert stored.ack_status == "ACK"
    assert stored.correlation_id == "corr-1"
    assert stored.route == "/api/{action}"
    assert stored.status_code == 200
    assert stored.duration_ms == 12.5
    # ONDC keys such as "@ondc/org/title_type" survive storage
    assert stored.request == message
    assert stored.response == ack
    assert stored.created_at == entry.timestamp.replace(
        microsecond=entry.timestamp.microsecond // 1000 * 1000
    )


async def test_nack_and_non_json_bodies() -> None:
    sink = RsfPayloadAuditSink()
    nack = {
        "message": {"ack": {"status": "NACK"}},
        "error": {"code": "70001", "message": "bad sig"},
    }
    await sink.write(_entry({"context": {}}, nack))
    await sink.write(_entry(None, None, status_code=415))
    assert await RsfPayload.find({"ack_status": "NACK"}).count() == 1
    plain = await RsfPayload.find_one({"status_code": 415})
    assert plain is not None
    assert (plain.request, plain.response, plain.ack_status) == (None, None, None)


def test_ack_status_only_from_an_ondc_answer() -> None:
    assert ack_status_of({"message": {"ack": {"status": "ACK"}}}) == "ACK"
    assert ack_status_of({"message": {"ack": {"status": "MAYBE"}}}) is None
    assert ack_status_of({"success": True}) is None
    assert ack_status_of(["ACK"]) is None
