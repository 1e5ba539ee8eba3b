"""Order ingestion from retail on_confirm / on_status / on_update / on_cancel.

Each message is stored once per matching Participant (BAP by bap_uri, BPP by bpp_uri, same
domain). An existing order is overwritten only by a message with a later ``updated_at``; what a
message does not say (e.g. withholding and msn, which only on_confirm carries) is kept.

nx-27017 ignores ``$setOnInsert`` in ``find_one_and_update(upsert=True)`` and has no
transactions, so the upsert is: find, then insert (a ``DuplicateKeyError`` means a concurrent
insert won: retry as an update) or ``replace_one`` guarded by the ``updated_at`` that was read
(compare-and-swap: if another write landed in between, re-read and compare again).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from beanie.odm.utils.dump import get_dict
from pymongo.errors import DuplicateKeyError

from rsf_core.enums import Role
from rsf_core.errors import NotFound
from rsf_core.models import Order, Participant, utcnow
from rsf_core.order_facts import OrderFacts, order_facts
from rsf_core.participants import normalise_url

IngestStatus = Literal["inserted", "updated", "stale"]
_ATTEMPTS = 3


@dataclass(frozen=True)
class IngestOutcome:
    user_id: str
    role: Role
    status: IngestStatus


@dataclass(frozen=True)
class IngestResult:
    action: str
    order_id: str
    outcomes: list[IngestOutcome] = field(default_factory=list)


class UnknownParticipant(NotFound):
    """No Participant matches the message's BAP or BPP (NACK 70030 on the network API)."""

    default_code = "PARTICIPANT_NOT_FOUND"


async def matching_participants(facts: OrderFacts) -> list[Participant]:
    """Participants whose (role, subscriber_url, domain) is the message's BAP or BPP."""
    query = {
        "$or": [
            {
                "role": Role.BAP.value,
                "subscriber_url": normalise_url(facts.bap_uri),
                "domain": facts.domain,
            },
            {
                "role": Role.BPP.value,
                "subscriber_url": normalise_url(facts.bpp_uri),
                "domain": facts.domain,
            },
        ]
    }
    return await Participant.find(query).sort("created_at").to_list()


def _apply(order: Order, facts: OrderFacts) -> Order:
    """``order`` with everything ``facts`` says; unsaid fields keep their stored values."""
    order.bap_id, order.bap_uri = facts.bap_id, facts.bap_uri
    order.bpp_id, order.bpp_uri = facts.bpp_id, facts.bpp_uri
    order.domain, order.state, order.updated_at = facts.domain, facts.state, facts.updated_at
    optional = {
        "provider_id": facts.provider_id,
        "quote": facts.quote,
        "item_tax": facts.item_tax,
        "collected_by": facts.collected_by,
        "buyer_finder_fee_type": facts.buyer_finder_fee_type,
        "buyer_finder_fee_amount": facts.buyer_finder_fee_amount,
        "settlement_basis": facts.settlement_basis,
        "settlement_window": facts.settlement_window,
        "withholding_amount": facts.withholding_amount,
        "msn": facts.msn,
        "due_date": facts.due_date,
    }
    for name, value in optional.items():
        if value is not None:
            setattr(order, name, value)
    return order


def _new_order(participant: Participant, facts: OrderFacts) -> Order:
    counterparty = facts.bpp_id if participant.role is Role.BAP else facts.bap_id
    order = Order(
        order_id=facts.order_id,
        user_id=str(participant.id),
        bap_id=facts.bap_id,
        bap_uri=facts.bap_uri,
        bpp_id=facts.bpp_id,
        bpp_uri=facts.bpp_uri,
        domain=facts.domain,
        counterparty_id=counterparty,
        state=facts.state,
        created_at=facts.created_at or utcnow(),
        updated_at=facts.updated_at,
    )
    return _apply(order, facts)


async def _upsert(participant: Participant, facts: OrderFacts) -> IngestStatus:
    user_id = str(participant.id)
    for _ in range(_ATTEMPTS):
        existing = await Order.find_one({"order_id": facts.order_id, "user_id": user_id})
        if existing is None:
            try:
                await _new_order(participant, facts).insert()
            except DuplicateKeyError:
                continue  # a concurrent ingest inserted it first: compare timestamps instead
            return "inserted"
        if facts.updated_at <= existing.updated_at:
            return "stale"
        stored_updated_at = existing.updated_at
        replacement = get_dict(_apply(existing, facts), to_db=True)
        result = await Order.get_pymongo_collection().replace_one(
            {"_id": existing.id, "updated_at": stored_updated_at}, replacement
        )
        if result.matched_count:
            return "updated"
        # Someone wrote in between: re-read and compare again.
    return "stale"


async def ingest_order(payload: Mapping[str, Any]) -> IngestResult:
    """Store a retail order message for every matching participant.

    Raises ``ValidationFailed`` for an unusable message and :class:`UnknownParticipant` when
    neither side is a configured participant.
    """
    facts = order_facts(payload)
    participants = await matching_participants(facts)
    if not participants:
        raise UnknownParticipant(
            f"No participant for {facts.bap_uri} (BAP) or {facts.bpp_uri} (BPP) in {facts.domain}",
            details={"bap_uri": facts.bap_uri, "bpp_uri": facts.bpp_uri, "domain": facts.domain},
        )
    outcomes = [IngestOutcome(str(p.id), p.role, await _upsert(p, facts)) for p in participants]
    return IngestResult(action=facts.action, order_id=facts.order_id, outcomes=outcomes)
