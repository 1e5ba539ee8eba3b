"""Idempotent intake of incoming NTS10 messages and the record of outgoing ones, on nx-27017."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rsf_core.models import RsfTransaction
from rsf_core.transactions import (
    IncomingClaim,
    claim_incoming,
    complete_incoming,
    find_transaction,
    record_incoming,
    release_incoming,
    store_outgoing,
)

pytestmark = pytest.mark.usefixtures("beanie_db")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ondc"


def on_settle() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "nts10_on_settle.json").read_text())
    return data


async def test_first_delivery_is_recorded_a_repeat_is_not() -> None:
    payload = on_settle()
    assert await record_incoming(payload) is True
    assert await record_incoming(payload) is False
    assert await RsfTransaction.find({"context.action": "on_settle"}).count() == 1


async def test_same_ids_with_another_action_are_a_different_message() -> None:
    payload = on_settle()
    assert await record_incoming(payload)
    other = on_settle()
    other["context"]["action"] = "on_report"
    assert await record_incoming(other)


async def test_repeat_while_processing_is_in_progress_and_after_completion_a_duplicate() -> None:
    payload = on_settle()
    assert await claim_incoming(payload, user_id="u1") is IncomingClaim.CLAIMED
    assert await claim_incoming(payload) is IncomingClaim.IN_PROGRESS
    await complete_incoming(payload, {"message": {"ack": {"status": "ACK"}}})
    assert await claim_incoming(payload) is IncomingClaim.DUPLICATE
    stored = await find_transaction("on_settle", *_ids(payload))
    assert stored is not None
    assert stored.ack_status == "ACK"
    assert stored.direction == "incoming"
    assert stored.user_id == "u1"


async def test_released_claim_is_processed_again_on_retry() -> None:
    payload = on_settle()
    assert await claim_incoming(payload) is IncomingClaim.CLAIMED
    await release_incoming(payload)
    assert await claim_incoming(payload) is IncomingClaim.CLAIMED


async def test_outgoing_resend_updates_one_record() -> None:
    payload = json.loads((FIXTURES / "nts10_settle_np_np.json").read_text())
    await store_outgoing(payload, user_id="u1", ack_status="ERROR")
    await store_outgoing(payload, user_id="u1", ack_status="ACK", response={"message": {}})
    records = await RsfTransaction.find({"context.action": "settle"}).to_list()
    assert len(records) == 1
    assert records[0].ack_status == "ACK"
    assert records[0].direction == "outgoing"
    assert records[0].message == payload["message"]


def _ids(payload: dict[str, Any]) -> tuple[str, str]:
    return payload["context"]["transaction_id"], payload["context"]["message_id"]


async def test_a_stale_unfinished_claim_is_taken_over() -> None:
    payload = on_settle()
    assert await claim_incoming(payload) is IncomingClaim.CLAIMED
    # The first processor died without completing or releasing its claim.
    stored = await find_transaction("on_settle", *_ids(payload))
    assert stored is not None
    await stored.set({"created_at": stored.created_at - timedelta(minutes=10)})
    assert await claim_incoming(payload) is IncomingClaim.CLAIMED
    assert await claim_incoming(payload, stale_after=timedelta(minutes=5)) is (
        IncomingClaim.IN_PROGRESS
    )
    assert await RsfTransaction.find({"context.action": "on_settle"}).count() == 1
