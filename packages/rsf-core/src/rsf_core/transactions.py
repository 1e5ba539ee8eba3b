"""The raw NTS10 messages (``rsf_transactions``): idempotent intake and the record of what was sent.

The unique index on (context.transaction_id, context.action, context.message_id) is the
idempotency key. An incoming message is *claimed* by inserting it before processing; a message
whose processing failed is released again, so the sender's retry is processed rather than
ACKed unseen ("ACK only when processing succeeded"). While a claim is being processed a repeat
is told to come back later (NACK 503); once processed, a repeat is ACKed and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Any

from pymongo.errors import DuplicateKeyError

from rsf_core.datetime_writes import set_document_fields, set_fields
from rsf_core.models import RsfTransaction, utcnow

__all__ = [
    "ACK_STATUS_ACK",
    "ACK_STATUS_ERROR",
    "ACK_STATUS_NACK",
    "DEFAULT_STALE_CLAIM",
    "DIRECTION_INCOMING",
    "DIRECTION_OUTGOING",
    "IncomingClaim",
    "claim_incoming",
    "complete_incoming",
    "find_transaction",
    "message_key",
    "record_incoming",
    "release_incoming",
    "store_outgoing",
]

DIRECTION_INCOMING = "incoming"
DIRECTION_OUTGOING = "outgoing"
ACK_STATUS_ACK = "ACK"
ACK_STATUS_NACK = "NACK"
ACK_STATUS_ERROR = "ERROR"  # sent, but no answer (timeout, connection refused, 5xx)
DEFAULT_STALE_CLAIM = timedelta(minutes=5)


class IncomingClaim(StrEnum):
    CLAIMED = "CLAIMED"  # new: process it
    DUPLICATE = "DUPLICATE"  # processed before: ACK, do not process again
    IN_PROGRESS = "IN_PROGRESS"  # being processed right now: NACK 503, the sender retries


def message_key(payload: Mapping[str, Any]) -> tuple[str, str, str]:
    """``(transaction_id, action, message_id)`` of a message (empty strings when absent)."""
    context = payload.get("context") or {}
    return (
        str(context.get("transaction_id") or ""),
        str(context.get("action") or ""),
        str(context.get("message_id") or ""),
    )


def _key_filter(transaction_id: str, action: str, message_id: str) -> dict[str, str]:
    return {
        "context.transaction_id": transaction_id,
        "context.action": action,
        "context.message_id": message_id,
    }


async def find_transaction(
    action: str, transaction_id: str, message_id: str
) -> RsfTransaction | None:
    return await RsfTransaction.find_one(_key_filter(transaction_id, action, message_id))


async def claim_incoming(
    payload: Mapping[str, Any],
    *,
    user_id: str | None = None,
    stale_after: timedelta = DEFAULT_STALE_CLAIM,
) -> IncomingClaim:
    """Insert an incoming message unless its key is already stored; say which case it was.

    A claim left unfinished for longer than ``stale_after`` (the process died mid-way, or the
    database failed while completing it) is taken over, so the sender's retry is processed
    instead of being told "in progress" forever.
    """
    transaction_id, action, message_id = message_key(payload)
    for _ in range(2):
        document = RsfTransaction(
            context=dict(payload.get("context") or {}),
            message=payload.get("message"),
            error=payload.get("error"),
            user_id=user_id,
            direction=DIRECTION_INCOMING,
        )
        try:
            await document.insert()
        except DuplicateKeyError:
            existing = await find_transaction(action, transaction_id, message_id)
            if existing is None:
                continue  # released meanwhile: claim it now
            if existing.ack_status is not None:
                return IncomingClaim.DUPLICATE
            if existing.created_at > utcnow() - stale_after:
                return IncomingClaim.IN_PROGRESS
            await RsfTransaction.get_pymongo_collection().delete_one(
                {"_id": existing.id, "ack_status": None}
            )
            continue
        return IncomingClaim.CLAIMED
    return IncomingClaim.IN_PROGRESS


async def record_incoming(payload: Mapping[str, Any], *, user_id: str | None = None) -> bool:
    """``False`` when the message was stored before: the caller ACKs and does not process it."""
    return await claim_incoming(payload, user_id=user_id) is IncomingClaim.CLAIMED


async def complete_incoming(
    payload: Mapping[str, Any], response: dict[str, Any], *, user_id: str | None = None
) -> None:
    """Mark a claimed message processed, with the answer it got."""
    transaction_id, action, message_id = message_key(payload)
    fields: dict[str, Any] = {
        "ack_status": ACK_STATUS_ACK,
        "response": response,
        "updated_at": utcnow(),
    }
    if user_id is not None:
        fields["user_id"] = user_id
    await set_fields(
        RsfTransaction.get_pymongo_collection(),
        _key_filter(transaction_id, action, message_id),
        fields,
    )


async def release_incoming(payload: Mapping[str, Any]) -> None:
    """Forget a claim whose processing failed, so the sender's retry is processed."""
    transaction_id, action, message_id = message_key(payload)
    await RsfTransaction.get_pymongo_collection().delete_one(
        {
            **_key_filter(transaction_id, action, message_id),
            "direction": DIRECTION_INCOMING,
            "ack_status": None,
        }
    )


async def store_outgoing(
    payload: dict[str, Any],
    *,
    user_id: str | None,
    ack_status: str,
    response: Any = None,
) -> RsfTransaction:
    """Record a message this NP sent and the answer it got (a resend updates the same record).

    Written as find-then-insert-or-update rather than an upsert: nx-27017 ignores
    ``$setOnInsert`` on upserts, and a ``$set`` of ``context`` would clash with the upsert's
    ``context.*`` equality filter on real MongoDB.
    """
    transaction_id, action, message_id = message_key(payload)
    fields: dict[str, Any] = {
        "message": payload.get("message"),
        "error": payload.get("error"),
        "user_id": user_id,
        "direction": DIRECTION_OUTGOING,
        "ack_status": ack_status,
        "response": response if isinstance(response, dict) else None,
        "updated_at": utcnow(),
    }
    for _ in range(2):
        existing = await find_transaction(action, transaction_id, message_id)
        if existing is not None:
            await set_document_fields(existing, fields)
            return existing
        document = RsfTransaction(context=dict(payload.get("context") or {}), **fields)
        try:
            await document.insert()
        except DuplicateKeyError:
            continue  # inserted concurrently: update that record instead
        return document
    raise RuntimeError("could not store the outgoing message")  # pragma: no cover
