"""Preparing settlements: one Settlement per order, amounts from the tax engine.

Everything is checked before anything is written, so a bad request changes nothing. Reads are
batched (one ``$in`` query each for the orders, their existing settlements and, for RECON, their
reconciliations) and so are the writes: one ``insert_many`` for new settlements, then one
``update_many`` for the orders' ``settle_status`` (nx-27017 has no multi-document transactions,
so a settlement is always written before its order is marked). A prepared settlement can be
prepared again (it is replaced in place, keeping its ``settlement_id``), one that was sent cannot.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from beanie import Document, PydanticObjectId
from beanie.odm.utils.dump import get_dict
from pymongo.errors import BulkWriteError

from rsf_core.enums import CollectedBy, SettlementStatus, SettlementType, SettleStatus, Strategy
from rsf_core.errors import BusinessRuleViolation, Conflict, NotFound, ValidationFailed
from rsf_core.models import Order, Participant, Reconciliation, Settlement, utcnow
from rsf_core.participants import get_participant
from rsf_core.tax import OrderAmounts, SettlementAmounts, TaxRates, recon_strategy, user_strategy

DocT = TypeVar("DocT", bound=Document)


@dataclass(frozen=True)
class PrepareRequest:
    order_id: str
    strategy: Strategy = Strategy.USER


@dataclass(frozen=True)
class _Plan:
    order: Order
    existing: Settlement | None
    settlement: Settlement


def rates_of(participant: Participant) -> TaxRates:
    return TaxRates(
        np_tcs=participant.np_tcs,
        np_tds=participant.np_tds,
        tcs_applicability=participant.tcs_applicability,
        tds_applicability=participant.tds_applicability,
    )


def _refuse(order_id: str, message: str, code: str) -> BusinessRuleViolation:
    return BusinessRuleViolation(
        f"Order {order_id}: {message}", code=code, details={"order_id": order_id}
    )


def _user_amounts(order: Order, participant: Participant) -> SettlementAmounts:
    if order.quote is None or order.collected_by is None:
        raise ValidationFailed(
            f"Order {order.order_id}: no quote or collected_by to settle on",
            code="ORDER_INCOMPLETE",
            details={"order_id": order.order_id},
        )
    amounts = OrderAmounts(
        total=order.quote.total_order_value,
        item_tax=order.item_tax,
        buyer_finder_fee=order.buyer_finder_fee_amount,
        withholding_amount=order.withholding_amount,
        collected_by=order.collected_by,
        domain=order.domain,
        msn=order.msn,
    )
    return user_strategy(amounts, rates_of(participant))


def _recon_amounts(
    order: Order, recon: Reconciliation | None
) -> tuple[SettlementAmounts, Reconciliation]:
    agreed = recon and (recon.on_recon_breakdown or recon.recon_breakdown)
    if recon is None or agreed is None:
        raise _refuse(order.order_id, "no agreed reconciliation to settle on", "NO_AGREED_RECON")
    return recon_strategy(order.total_order_value, agreed), recon


def _parties(order: Order) -> tuple[str, str]:
    if order.collected_by is CollectedBy.BPP:
        return order.bpp_id, order.bap_id
    return order.bap_id, order.bpp_id


def _plan(
    participant: Participant,
    request: PrepareRequest,
    order: Order | None,
    existing: Settlement | None,
    recon: Reconciliation | None,
) -> _Plan:
    user_id = str(participant.id)
    if order is None:
        raise NotFound(
            f"No order {request.order_id} for this participant",
            code="ORDER_NOT_FOUND",
            details={"order_id": request.order_id},
        )
    if existing is not None and existing.status is not SettlementStatus.PREPARED:
        raise _refuse(
            order.order_id, f"its settlement is already {existing.status.value}", "ALREADY_SETTLING"
        )
    collector_id, receiver_id = _parties(order)
    if request.strategy is Strategy.USER:
        if order.settle_status is SettleStatus.RECON:
            raise _refuse(order.order_id, "is in RECON: prepare it with strategy RECON", "IN_RECON")
        amounts = _user_amounts(order, participant)
        due_date = order.due_date
    else:
        if order.settle_status is not SettleStatus.RECON:
            raise _refuse(
                order.order_id, "has no agreed reconciliation (not in RECON)", "NOT_IN_RECON"
            )
        amounts, agreed = _recon_amounts(order, recon)
        collector_id, receiver_id = agreed.collector_id, agreed.receiver_id
        due_date = order.due_date or agreed.due_date
    now = utcnow()
    settlement = Settlement(
        settlement_id=existing.settlement_id if existing else str(uuid.uuid4()),
        order_id=order.order_id,
        user_id=user_id,
        collector_id=collector_id,
        receiver_id=receiver_id,
        total_order_value=amounts.total_order_value,
        commission=amounts.commission,
        collector_settlement=amounts.collector_settlement,
        tds=amounts.tds,
        tcs=amounts.tcs,
        withholding_amount=amounts.withholding_amount,
        inter_np_settlement=amounts.inter_np_settlement,
        provider_id=order.provider_id,
        due_date=due_date,
        type=SettlementType.NP_NP,
        strategy=request.strategy,
        created_at=existing.created_at if existing else now,
        updated_at=now,
    )
    settlement.id = existing.id if existing is not None else PydanticObjectId()
    return _Plan(order=order, existing=existing, settlement=settlement)


async def _by_order_id(
    document: type[DocT], user_id: str, order_ids: Sequence[str]
) -> dict[str, DocT]:
    """One ``$in`` query instead of one ``find_one`` per order."""
    if not order_ids:
        return {}
    found = await document.find(
        {"user_id": user_id, "order_id": {"$in": list(order_ids)}}
    ).to_list()
    return {doc.order_id: doc for doc in found}


async def _mark_orders(plans: Sequence[_Plan]) -> None:
    # Only settle_status: the order's updated_at is the ONDC message's, used for later-wins.
    if plans:
        await Order.get_pymongo_collection().update_many(
            {"_id": {"$in": [plan.order.id for plan in plans]}},
            {"$set": {"settle_status": SettleStatus.SETTLE.value}},
        )


async def _insert_new(plans: Sequence[_Plan]) -> None:
    """One ordered ``insert_many``; on a duplicate, the settlements written before it keep their
    orders marked, as the per-order writes did, and the request fails with ``Conflict``."""
    if not plans:
        return
    try:
        await Settlement.get_pymongo_collection().insert_many(
            [get_dict(plan.settlement, to_db=True) for plan in plans], ordered=True
        )
    except BulkWriteError as error:
        inserted = int(error.details.get("nInserted", 0))
        await _mark_orders(plans[:inserted])
        order_id = plans[min(inserted, len(plans) - 1)].settlement.order_id
        raise Conflict(
            f"Order {order_id} was prepared concurrently",
            code="CONCURRENT_PREPARE",
            details={"order_id": order_id},
        ) from None
    await _mark_orders(plans)


async def _replace(plan: _Plan) -> None:
    """Re-preparing is rare: one guarded ``replace_one`` each, so a settlement sent meanwhile
    is named in the refusal."""
    assert plan.existing is not None
    settlement = plan.settlement
    result = await Settlement.get_pymongo_collection().replace_one(
        {"_id": plan.existing.id, "status": SettlementStatus.PREPARED.value},
        get_dict(settlement, to_db=True),
    )
    if not result.matched_count:
        raise _refuse(settlement.order_id, "its settlement was sent meanwhile", "ALREADY_SETTLING")
    await _mark_orders([plan])


async def prepare_settlements(user_id: str, requests: Sequence[PrepareRequest]) -> list[Settlement]:
    """Create or replace the settlements of ``requests`` for participant ``user_id``.

    Raises ``NotFound`` (participant or order), ``ValidationFailed`` (empty / repeated order
    ids, order without quote) or ``BusinessRuleViolation`` (already sent, wrong strategy);
    in those cases nothing is written.
    """
    if not requests:
        raise ValidationFailed("Nothing to prepare", code="EMPTY_PREPARE")
    order_ids = [r.order_id for r in requests]
    repeated = sorted(o for o, n in Counter(order_ids).items() if n > 1)
    if repeated:
        raise ValidationFailed(
            f"Order(s) listed twice: {', '.join(repeated)}",
            code="DUPLICATE_ORDER",
            details={"order_ids": repeated},
        )
    participant = await get_participant(user_id)
    user_id = str(participant.id)
    orders = await _by_order_id(Order, user_id, order_ids)
    existing = await _by_order_id(Settlement, user_id, order_ids)
    recon_ids = [r.order_id for r in requests if r.strategy is not Strategy.USER]
    recons = await _by_order_id(Reconciliation, user_id, recon_ids)
    plans = [
        _plan(
            participant,
            request,
            orders.get(request.order_id),
            existing.get(request.order_id),
            recons.get(request.order_id),
        )
        for request in requests
    ]
    await _insert_new([plan for plan in plans if plan.existing is None])
    for plan in plans:
        if plan.existing is not None:
            await _replace(plan)
    return [plan.settlement for plan in plans]
