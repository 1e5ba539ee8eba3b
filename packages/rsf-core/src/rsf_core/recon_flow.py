"""recon / on_recon between the two NPs of an order, and move-to-ready.

Sender side: ``trigger_recon`` (ACK -> recon SENT_PENDING, settlement IN_RECON) then the
counterparty's ``on_recon`` arrives (``process_on_recon``: accord -> SENT_ACCEPTED, otherwise
SENT_REJECTED with the counter figures; an ``error`` -> ERROR).
Receiver side: ``process_recon`` (RECEIVED_PENDING) then ``trigger_on_recon`` sends the answer
(ACK -> RECEIVED_ACCEPTED / RECEIVED_REJECTED).
Either way an accepted recon is moved to ready: the settlement is deleted, the order goes to
RECON with the agreed due date, the recon becomes INACTIVE, and the order is prepared again
with the RECON strategy.

Every handler checks the whole message before writing anything; writes are per document
(nx-27017 has no multi-document transactions).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from rsf_observability.metrics import RsfMetrics, default_metrics

from rsf_core import business_metrics
from rsf_core.agency_client import AgencyClient, action_url
from rsf_core.datetime_writes import set_document_fields, set_fields
from rsf_core.enums import CollectedBy, ReconStatus, Role, SettlementStatus, SettleStatus, Strategy
from rsf_core.errors import (
    NACK_NOT_PROCESSABLE,
    BusinessRuleViolation,
    Conflict,
    NotFound,
    ValidationFailed,
)
from rsf_core.models import (
    Order,
    Participant,
    ReconBreakdown,
    Reconciliation,
    Settlement,
    utcnow,
)
from rsf_core.money import ZERO, money_str, to_money
from rsf_core.order_facts import parse_timestamp
from rsf_core.participants import get_participant, normalise_url
from rsf_core.payloads import RECON_BLOCKING_STATUSES, counterparty_uri
from rsf_core.settle_flow import TriggerResult
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements
from rsf_core.transactions import find_transaction
from rsf_core.validation import validate_message

__all__ = [
    "MoveToReadyResult",
    "NotProcessableNow",
    "ReconApplication",
    "move_to_ready",
    "process_on_recon",
    "process_recon",
    "trigger_on_recon",
    "trigger_recon",
]

_FIGURES = ("amount", "commission", "withholding_amount", "tcs", "tds")
_ACCEPTED = frozenset({ReconStatus.SENT_ACCEPTED, ReconStatus.RECEIVED_ACCEPTED})


class NotProcessableNow(Conflict):
    """The message is fine but cannot be taken now (e.g. a recon for the order is open): NACK 503."""

    default_code = "NOT_PROCESSABLE_NOW"
    nack_code = NACK_NOT_PROCESSABLE


@dataclass(frozen=True)
class ReconApplication:
    """Orders a recon message changed, and how (``user_id``: the participant they belong to)."""

    user_id: str | None = None
    accepted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    errored: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class MoveToReadyResult:
    order_ids: list[str]
    settlements: list[Settlement]  # prepared again with the RECON strategy (empty if not asked)


# --- figures ---------------------------------------------------------------------------------


def _figures(settlement_entry: Mapping[str, Any]) -> ReconBreakdown:
    return ReconBreakdown(**{name: to_money(settlement_entry[name]["value"]) for name in _FIGURES})


def _discrepancy(entry: Mapping[str, Any], original: ReconBreakdown) -> Decimal:
    """Sum of the order's diff values; computed as |counter - original| where one is missing."""
    total = ZERO
    for name in _FIGURES:
        figure = entry[name]
        if figure.get("diff_value") is not None:
            total += to_money(figure["diff_value"])
        else:
            total += abs(to_money(figure["value"]) - to_money(getattr(original, name)))
    return to_money(total)


def _same_figures(a: ReconBreakdown, b: ReconBreakdown) -> bool:
    return all(to_money(getattr(a, name)) == to_money(getattr(b, name)) for name in _FIGURES)


def _due_date(entry: Mapping[str, Any], path: str) -> datetime | None:
    value = entry.get("due_date")
    return parse_timestamp(value, path) if value else None


def _pending_recon(
    user_id: str,
    order: Order,
    settlement: Settlement | None,
    claim: Mapping[str, Any],
    *,
    ids: tuple[str | None, str | None],
    status: ReconStatus,
    due_date: datetime | None,
    now: datetime,
) -> Reconciliation:
    """A recon just sent (SENT_PENDING) or just received (RECEIVED_PENDING) for one order."""
    collector_id, receiver_id = _parties(order, settlement)
    return Reconciliation(
        user_id=user_id,
        order_id=order.order_id,
        collector_id=collector_id,
        receiver_id=receiver_id,
        settlement_id=str(claim["id"]),
        payment_id=claim.get("payment_id"),
        transaction_id=ids[0],
        message_id=ids[1],
        recon_status=status,
        recon_breakdown=_figures(claim),
        due_date=due_date,
        recon_date=now,
        created_at=now,
        updated_at=now,
    )


async def _upsert_recon(recon: Reconciliation) -> None:
    """One recon per (user_id, order_id): a new recon replaces a closed or rejected one."""
    existing = await Reconciliation.find_one({"user_id": recon.user_id, "order_id": recon.order_id})
    if existing is None:
        await recon.insert()
        return
    recon.id = existing.id
    recon.created_at = existing.created_at
    await recon.replace()


def _parties(order: Order, settlement: Settlement | None) -> tuple[str, str]:
    if settlement is not None:
        return settlement.collector_id, settlement.receiver_id
    if order.collected_by is CollectedBy.BPP:
        return order.bpp_id, order.bap_id
    return order.bap_id, order.bpp_id


# --- sender: trigger recon, incoming on_recon ------------------------------------------------


async def trigger_recon(
    user_id: str,
    payload: dict[str, Any],
    *,
    client: AgencyClient,
) -> TriggerResult:
    """Send a recon to the counterparty; on ACK the recons are SENT_PENDING, settlements IN_RECON."""
    participant = await get_participant(user_id)
    validate_message("recon", payload)
    orders = payload["message"]["orders"]
    order_ids = [str(order["id"]) for order in orders]
    if len(set(order_ids)) != len(order_ids):
        raise ValidationFailed("An order appears twice in the recon")
    url = counterparty_uri(participant, payload["context"])
    plans = []
    for entry in orders:
        order_id = str(entry["id"])
        order = await Order.find_one({"user_id": user_id, "order_id": order_id})
        settlement = await Settlement.find_one({"user_id": user_id, "order_id": order_id})
        if order is None or settlement is None:
            raise NotFound(f"No order with a settlement {order_id} for this participant")
        if normalise_url(counterparty_uri(participant, order)) != normalise_url(url):
            raise BusinessRuleViolation(
                f"Order {order_id} belongs to another counterparty than the recon is sent to"
            )
        existing = await Reconciliation.find_one({"user_id": user_id, "order_id": order_id})
        if existing is not None and existing.recon_status in RECON_BLOCKING_STATUSES:
            raise BusinessRuleViolation(
                f"Order {order_id} already has a recon {existing.recon_status.value}"
            )
        plans.append((order, settlement, entry))
    if len({(s.collector_id, s.receiver_id) for _, s, _ in plans}) > 1:
        raise BusinessRuleViolation("One recon carries orders of one (collector, receiver) pair")
    exchange = await client.send(action_url(url, "recon"), payload, user_id=user_id)
    if not exchange.acked:
        return TriggerResult(exchange)
    now = utcnow()
    for order, settlement, entry in plans:
        claim = entry["settlements"][0]
        await _upsert_recon(
            _pending_recon(
                user_id,
                order,
                settlement,
                claim,
                ids=(exchange.transaction_id, exchange.message_id),
                status=ReconStatus.SENT_PENDING,
                due_date=_due_date(claim, "due_date"),
                now=now,
            )
        )
        await set_fields(
            Settlement.get_pymongo_collection(),
            {"_id": settlement.id},
            {"status": SettlementStatus.IN_RECON.value, "updated_at": now},
        )
    return TriggerResult(exchange, [order.order_id for order, _, _ in plans])


async def process_on_recon(
    payload: Mapping[str, Any], *, metrics: RsfMetrics | None = None
) -> ReconApplication:
    """Apply the counterparty's answer to a recon this NP sent (same transaction and message)."""
    context = payload["context"]
    sent = await find_transaction("recon", context["transaction_id"], context["message_id"])
    if sent is None or sent.direction != "outgoing" or not sent.user_id:
        raise NotFound("No recon was sent with this transaction_id and message_id")
    user_id = sent.user_id
    pending = {
        recon.order_id: recon
        for recon in await Reconciliation.find(
            {
                "user_id": user_id,
                "transaction_id": context["transaction_id"],
                "message_id": context["message_id"],
                "recon_status": ReconStatus.SENT_PENDING.value,
            }
        ).to_list()
    }
    if not pending:
        raise BusinessRuleViolation("No recon of this message is awaiting an answer")
    now = utcnow()
    if payload.get("error"):
        for open_recon in pending.values():
            await set_document_fields(
                open_recon,
                {
                    "recon_status": ReconStatus.ERROR,
                    "on_recon_error": dict(payload["error"]),
                    "answered_at": now,
                    "updated_at": now,
                },
            )
        return ReconApplication(user_id=user_id, errored=sorted(pending))
    answers = payload["message"]["orders"]
    answered = {str(answer["id"]) for answer in answers}
    unanswered = sorted(set(pending) - answered)
    if unanswered:
        raise BusinessRuleViolation(f"The on_recon does not answer orders: {', '.join(unanswered)}")
    plans: list[tuple[Reconciliation, dict[str, Any], Decimal | None]] = []
    for index, answer in enumerate(answers):
        order_id = str(answer["id"])
        recon = pending.get(order_id)
        if recon is None or recon.recon_breakdown is None:
            raise BusinessRuleViolation(f"Order {order_id} has no recon awaiting an answer")
        entry = answer["settlements"][0]
        counter = _figures(entry)
        path = f"/message/orders/{index}/settlements/0/due_date"
        if answer["recon_accord"]:
            if not _same_figures(counter, recon.recon_breakdown):
                raise BusinessRuleViolation(
                    f"Order {order_id}: accord with figures other than the recon's"
                )
            due_date = _due_date(entry, path)
            if due_date is None:
                raise ValidationFailed(f"Order {order_id}: accord needs a due_date")
            fields = {
                "recon_status": ReconStatus.SENT_ACCEPTED,
                "recon_accord": True,
                "due_date": due_date,
                "on_recon_breakdown": None,
                "discrepancy": ZERO,
            }
            plans.append((recon, fields, None))
        else:
            discrepancy = _discrepancy(entry, recon.recon_breakdown)
            fields = {
                "recon_status": ReconStatus.SENT_REJECTED,
                "recon_accord": False,
                "on_recon_breakdown": counter,
                "discrepancy": discrepancy,
            }
            plans.append((recon, fields, discrepancy))
    return replace(await _write_answers(plans, now, metrics), user_id=user_id)


async def _write_answers(
    plans: Sequence[tuple[Reconciliation, dict[str, Any], Decimal | None]],
    now: datetime,
    metrics: RsfMetrics | None,
) -> ReconApplication:
    metrics = metrics or default_metrics()
    accepted, rejected = [], []
    for recon, fields, discrepancy in plans:
        await set_document_fields(recon, {**fields, "answered_at": now, "updated_at": now})
        business_metrics.observe_recon_duration(metrics, recon.recon_date, now)
        if discrepancy is None:
            accepted.append(recon.order_id)
        else:
            rejected.append(recon.order_id)
            business_metrics.observe_discrepancy(metrics, discrepancy)
    return ReconApplication(accepted=accepted, rejected=rejected)


# --- receiver: incoming recon, trigger on_recon ----------------------------------------------


async def _receiver_for(context: Mapping[str, Any], order_id: str) -> tuple[Participant, Order]:
    """The participant the recon is addressed to: one of its NPs that holds the order."""
    candidates = await Participant.find(
        {
            "$or": [
                {"role": Role.BAP.value, "subscriber_url": normalise_url(str(context["bap_uri"]))},
                {"role": Role.BPP.value, "subscriber_url": normalise_url(str(context["bpp_uri"]))},
            ]
        }
    ).to_list()
    for participant in candidates:
        order = await Order.find_one({"user_id": str(participant.id), "order_id": order_id})
        if order is not None:
            return participant, order
    raise NotFound(f"No participant here holds order {order_id}", code="PARTICIPANT_NOT_FOUND")


async def process_recon(
    payload: Mapping[str, Any], *, metrics: RsfMetrics | None = None
) -> tuple[str, ReconApplication]:
    """Record a counterparty's recon as RECEIVED_PENDING; returns the receiving participant id.

    Each order must belong to a participant here; a SETTLED claim must match a SETTLED
    settlement; an order with a recon pending or accepted is not processable now (NACK 503).
    """
    context = payload["context"]
    plans = []
    user_ids = set()
    for index, entry in enumerate(payload["message"]["orders"]):
        order_id = str(entry["id"])
        participant, order = await _receiver_for(context, order_id)
        user_id = str(participant.id)
        user_ids.add(user_id)
        settlement = await Settlement.find_one({"user_id": user_id, "order_id": order_id})
        claim = entry["settlements"][0]
        if claim["status"] == SettlementStatus.SETTLED.value and (
            settlement is None or settlement.status is not SettlementStatus.SETTLED
        ):
            state = settlement.status.value if settlement else "not prepared"
            raise BusinessRuleViolation(
                f"Order {order_id}: claimed SETTLED but the settlement here is {state}"
            )
        existing = await Reconciliation.find_one({"user_id": user_id, "order_id": order_id})
        if existing is not None and existing.recon_status in RECON_BLOCKING_STATUSES:
            raise NotProcessableNow(
                f"Order {order_id} already has a recon {existing.recon_status.value}"
            )
        due_date = _due_date(claim, f"/message/orders/{index}/settlements/0/due_date")
        plans.append((order, settlement, claim, user_id, due_date))
    if len(user_ids) > 1:
        raise BusinessRuleViolation("One recon must concern one participant's orders")
    now = utcnow()
    for order, settlement, claim, user_id, due_date in plans:
        await _upsert_recon(
            _pending_recon(
                user_id,
                order,
                settlement,
                claim,
                ids=(str(context["transaction_id"]), str(context["message_id"])),
                status=ReconStatus.RECEIVED_PENDING,
                due_date=due_date,
                now=now,
            )
        )
        if settlement is not None:
            await set_fields(
                Settlement.get_pymongo_collection(),
                {"_id": settlement.id},
                {"status": SettlementStatus.IN_RECON.value, "updated_at": now},
            )
    user_id = next(iter(user_ids))
    return user_id, ReconApplication(user_id, pending=[plan[0].order_id for plan in plans])


async def trigger_on_recon(
    user_id: str,
    payload: dict[str, Any],
    *,
    client: AgencyClient,
    metrics: RsfMetrics | None = None,
) -> TriggerResult:
    """Send the answer to a received recon; on ACK the recons are RECEIVED_ACCEPTED / _REJECTED."""
    participant = await get_participant(user_id)
    validate_message("on_recon", payload)
    context = payload["context"]
    received = await find_transaction("recon", context["transaction_id"], context["message_id"])
    if received is None or received.direction != "incoming":
        raise NotFound("No recon was received with this transaction_id and message_id")
    pending = {
        recon.order_id: recon
        for recon in await Reconciliation.find(
            {
                "user_id": user_id,
                "transaction_id": context["transaction_id"],
                "message_id": context["message_id"],
                "recon_status": ReconStatus.RECEIVED_PENDING.value,
            }
        ).to_list()
    }
    answers = payload["message"]["orders"]
    unanswered = sorted(set(pending) - {str(answer["id"]) for answer in answers})
    if unanswered:
        raise ValidationFailed(f"Orders of the recon not answered: {', '.join(unanswered)}")
    plans: list[tuple[Reconciliation, dict[str, Any], Decimal | None]] = []
    for answer in answers:
        order_id = str(answer["id"])
        recon = pending.get(order_id)
        if recon is None or recon.recon_breakdown is None:
            raise NotFound(f"No received recon pending for order {order_id}")
        entry = answer["settlements"][0]
        counter = _figures(entry)
        if answer["recon_accord"]:
            if not _same_figures(counter, recon.recon_breakdown):
                raise BusinessRuleViolation(
                    f"Order {order_id}: accord must repeat the recon's figures"
                )
            fields = {
                "recon_status": ReconStatus.RECEIVED_ACCEPTED,
                "recon_accord": True,
                "due_date": _due_date(entry, "due_date"),
                "on_recon_breakdown": None,
                "discrepancy": ZERO,
            }
            plans.append((recon, fields, None))
        else:
            for name in _FIGURES:
                diff = entry[name].get("diff_value")
                expected = abs(
                    to_money(entry[name]["value"]) - to_money(getattr(recon.recon_breakdown, name))
                )
                if diff is not None and to_money(diff) != expected:
                    raise BusinessRuleViolation(
                        f"Order {order_id}: {name} diff_value {diff} is not {money_str(expected)}"
                    )
            discrepancy = _discrepancy(entry, recon.recon_breakdown)
            fields = {
                "recon_status": ReconStatus.RECEIVED_REJECTED,
                "recon_accord": False,
                "on_recon_breakdown": counter,
                "discrepancy": discrepancy,
            }
            plans.append((recon, fields, discrepancy))
    url = counterparty_uri(participant, context)
    exchange = await client.send(action_url(url, "on_recon"), payload, user_id=user_id)
    if not exchange.acked:
        return TriggerResult(exchange)
    application = await _write_answers(plans, utcnow(), metrics)
    return TriggerResult(exchange, application.accepted + application.rejected)


# --- move to ready ---------------------------------------------------------------------------


async def move_to_ready(
    user_id: str, order_ids: Sequence[str], *, prepare: bool = True
) -> MoveToReadyResult:
    """Close accepted recons: settlement deleted, order RECON with the agreed due date, recon
    INACTIVE; then (``prepare``) the orders are prepared again with the RECON strategy.
    """
    await get_participant(user_id)
    if not order_ids:
        raise ValidationFailed("No orders to move")
    plans = []
    for order_id in dict.fromkeys(order_ids):
        recon = await Reconciliation.find_one({"user_id": user_id, "order_id": order_id})
        if recon is None or recon.recon_status not in _ACCEPTED:
            state = recon.recon_status.value if recon else "no recon"
            raise BusinessRuleViolation(f"Order {order_id}: recon is {state}, not accepted")
        order = await Order.find_one({"user_id": user_id, "order_id": order_id})
        if order is None:
            raise NotFound(f"Order {order_id} not found")
        plans.append((order, recon))
    now = utcnow()
    for order, recon in plans:
        await Settlement.get_pymongo_collection().delete_one(
            {"user_id": user_id, "order_id": order.order_id}
        )
        order_fields: dict[str, Any] = {"settle_status": SettleStatus.RECON.value}
        if recon.due_date is not None:
            order_fields["due_date"] = recon.due_date
        await set_fields(Order.get_pymongo_collection(), {"_id": order.id}, order_fields)
        await set_document_fields(recon, {"recon_status": ReconStatus.INACTIVE, "updated_at": now})
    moved = [order.order_id for order, _ in plans]
    prepared: list[Settlement] = []
    if prepare:
        prepared = await prepare_settlements(
            user_id, [PrepareRequest(order_id, Strategy.RECON) for order_id in moved]
        )
    return MoveToReadyResult(moved, prepared)
