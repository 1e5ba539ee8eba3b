"""Builders of the NTS10 messages this NP sends: settle (NP-NP, MISC, NIL), recon, on_recon, report.

Builders are pure: they take documents already loaded and return the message as a dict, raising
a :class:`~rsf_core.errors.DomainError` naming the broken rule. The ``generate_*`` functions
load what a builder needs for one participant (what the UI's "generate" routes call); nothing
here writes to the database: sending and the status changes that follow live in the processors.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rsf_core.enums import ReconStatus, Role, SettlementStatus, SettlementType
from rsf_core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from rsf_core.models import (
    Order,
    Participant,
    ReconBreakdown,
    Reconciliation,
    RsfTransaction,
    Settlement,
)
from rsf_core.money import ZERO, money_str, to_money
from rsf_core.participants import get_participant

__all__ = [
    "CURRENCY",
    "NTS10_DOMAIN",
    "NTS10_VERSION",
    "RECON_BLOCKING_STATUSES",
    "SETTLEABLE_STATUSES",
    "MiscItem",
    "OnReconAnswer",
    "ReconRequest",
    "SettlementAgency",
    "build_context",
    "build_on_recon",
    "build_recon",
    "build_report",
    "build_settle_misc",
    "build_settle_nil",
    "build_settle_np_np",
    "check_settle_rules",
    "counterparty_uri",
    "generate_on_recon",
    "generate_recon",
    "generate_report",
    "generate_settle_misc",
    "generate_settle_nil",
    "generate_settle_np_np",
    "iso_timestamp",
    "money_amount",
    "new_id",
    "recon_status_of",
]

NTS10_DOMAIN = "ONDC:NTS10"
NTS10_VERSION = "2.0.0"
CURRENCY = "INR"
MESSAGE_TTL = "P1D"

SETTLEABLE_STATUSES: frozenset[SettlementStatus] = frozenset(
    {SettlementStatus.PREPARED, SettlementStatus.NOT_SETTLED}
)
"""A settle may (re)send a settlement only in these statuses: never one in flight or done."""

RECON_BLOCKING_STATUSES: frozenset[ReconStatus] = frozenset(
    {
        ReconStatus.SENT_PENDING,
        ReconStatus.RECEIVED_PENDING,
        ReconStatus.SENT_ACCEPTED,
        ReconStatus.RECEIVED_ACCEPTED,
    }
)
"""A new recon for an order is refused while one is pending or already accepted."""

_FIGURES = ("amount", "commission", "withholding_amount", "tcs", "tds")


@dataclass(frozen=True)
class SettlementAgency:
    """The settlement agency settle and report go to (``POST {url}/settle``)."""

    subscriber_id: str
    url: str


@dataclass(frozen=True)
class MiscItem:
    """One MISC line: money for a provider (paid to its bank account) and/or the NP itself."""

    provider_id: str | None = None
    provider_amount: Decimal | None = None
    self_amount: Decimal | None = None


@dataclass(frozen=True)
class ReconRequest:
    """What the NP claims for one order; figures default to the settlement's own."""

    order_id: str
    figures: ReconBreakdown | None = None
    payment_id: str | None = None
    due_date: datetime | None = None


@dataclass(frozen=True)
class OnReconAnswer:
    """The answer to one order of a received recon.

    With ``recon_accord`` the recon's figures are confirmed and ``due_date`` is required;
    without it ``figures`` carries this NP's counter values.
    """

    order_id: str
    recon_accord: bool
    due_date: datetime | None = None
    figures: ReconBreakdown | None = None


# --- small helpers ---------------------------------------------------------------------------


def new_id() -> str:
    return str(uuid.uuid4())


def iso_timestamp(moment: datetime | None = None) -> str:
    """``2025-08-19T06:04:45.046Z``: UTC with milliseconds, as ONDC contexts carry it."""
    value = (moment or datetime.now(UTC)).astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def money_amount(value: object) -> dict[str, str]:
    return {"currency": CURRENCY, "value": money_str(value)}


def _non_negative(value: object, what: str) -> Decimal:
    amount = to_money(value)
    if amount < ZERO:
        raise BusinessRuleViolation(f"{what} is negative ({money_str(amount)})")
    return amount


def build_context(
    action: str,
    *,
    bap_id: str,
    bap_uri: str,
    bpp_id: str,
    bpp_uri: str,
    transaction_id: str | None = None,
    message_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    return {
        "domain": NTS10_DOMAIN,
        "location": {"country": {"code": "IND"}, "city": {"code": "*"}},
        "version": NTS10_VERSION,
        "action": action,
        "bap_id": bap_id,
        "bap_uri": bap_uri,
        "bpp_id": bpp_id,
        "bpp_uri": bpp_uri,
        "transaction_id": transaction_id or new_id(),
        "message_id": message_id or new_id(),
        "timestamp": iso_timestamp(now),
        "ttl": MESSAGE_TTL,
    }


def _agency_context(
    action: str,
    participant: Participant,
    subscriber_id: str,
    agency: SettlementAgency,
    now: datetime | None,
) -> dict[str, Any]:
    return build_context(
        action,
        bap_id=subscriber_id,
        bap_uri=participant.subscriber_url,
        bpp_id=agency.subscriber_id,
        bpp_uri=agency.url,
        now=now,
    )


def counterparty_uri(participant: Participant, context: Mapping[str, Any] | Order) -> str:
    """The other NP's base URL: the BPP's for a BAP participant, the BAP's for a BPP."""
    if isinstance(context, Order):
        return context.bpp_uri if participant.role == Role.BAP else context.bap_uri
    key = "bpp_uri" if participant.role == Role.BAP else "bap_uri"
    return str(context.get(key) or "")


def recon_status_of(settlement: Settlement | None) -> str:
    """The settlement status a recon claims, in the recon message's vocabulary."""
    if settlement is None or settlement.status == SettlementStatus.PREPARED:
        return "TO_BE_INITIATED"
    if settlement.status == SettlementStatus.SETTLED:
        return "SETTLED"
    if settlement.status == SettlementStatus.NOT_SETTLED:
        return "NOT_SETTLED"
    return "PENDING"


# --- settle ----------------------------------------------------------------------------------


def check_settle_rules(participant: Participant, settlements: Sequence[Settlement]) -> None:
    """The settle rules, shared by the builder and by the trigger (which re-checks a payload)."""
    if not settlements:
        raise ValidationFailed("A settle needs at least one order")
    seen: set[str] = set()
    for settlement in settlements:
        if settlement.order_id in seen:
            raise ValidationFailed(f"Order {settlement.order_id} appears twice")
        seen.add(settlement.order_id)
        if settlement.user_id != str(participant.id):
            raise NotFound(f"Order {settlement.order_id} has no settlement for this participant")
        if settlement.type != SettlementType.NP_NP:
            raise BusinessRuleViolation(
                f"Settlement of order {settlement.order_id} is {settlement.type.value}, not NP-NP"
            )
        if settlement.status not in SETTLEABLE_STATUSES:
            raise BusinessRuleViolation(
                f"Settlement of order {settlement.order_id} is {settlement.status.value}; "
                "only PREPARED or NOT_SETTLED settlements can be sent"
            )
    pairs = {(s.collector_id, s.receiver_id) for s in settlements}
    if len(pairs) > 1:
        listed = ", ".join(f"{c} -> {r}" for c, r in sorted(pairs))
        raise BusinessRuleViolation(
            f"One settle carries one (collector, receiver) pair; these orders have {listed}"
        )
    collector, receiver = next(iter(pairs))
    if collector == receiver:
        raise BusinessRuleViolation(f"Collector and receiver are the same app ({collector})")


def build_settle_np_np(
    participant: Participant,
    settlements: Sequence[Settlement],
    *,
    subscriber_id: str,
    agency: SettlementAgency,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A settle for prepared NP-NP settlements of one (collector, receiver) pair."""
    check_settle_rules(participant, settlements)
    orders = []
    for settlement in settlements:
        inter_np = _non_negative(
            settlement.inter_np_settlement, f"Inter-NP amount of order {settlement.order_id}"
        )
        collector = _non_negative(
            settlement.collector_settlement, f"Collector amount of order {settlement.order_id}"
        )
        orders.append(
            {
                "id": settlement.order_id,
                "inter_participant": {"amount": money_amount(inter_np)},
                "collector": {"amount": money_amount(collector)},
            }
        )
    return {
        "context": _agency_context("settle", participant, subscriber_id, agency, now),
        "message": {
            "collector_app_id": settlements[0].collector_id,
            "receiver_app_id": settlements[0].receiver_id,
            "settlement": {"type": SettlementType.NP_NP.value, "id": new_id(), "orders": orders},
        },
    }


def build_settle_misc(
    participant: Participant,
    items: Sequence[MiscItem],
    *,
    subscriber_id: str,
    agency: SettlementAgency,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A MISC settle: payments to the participant's providers and/or to itself."""
    if not items:
        raise ValidationFailed("A MISC settle needs at least one line")
    banks = {detail.provider_id: detail for detail in participant.provider_details}
    orders: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        line: dict[str, Any] = {}
        if item.provider_amount is not None and to_money(item.provider_amount) != ZERO:
            amount = _non_negative(item.provider_amount, f"Provider amount of line {index}")
            if not item.provider_id or item.provider_id not in banks:
                raise NotFound(f"Provider {item.provider_id!r} has no bank details on record")
            bank = banks[item.provider_id]
            line["provider"] = {
                "id": bank.provider_id,
                "name": bank.provider_name,
                "bank_details": {"account_no": bank.account_number, "ifsc_code": bank.ifsc_code},
                "amount": money_amount(amount),
            }
        if item.self_amount is not None and to_money(item.self_amount) != ZERO:
            amount = _non_negative(item.self_amount, f"Self amount of line {index}")
            line["self"] = {"amount": money_amount(amount)}
        if not line:
            raise ValidationFailed(f"Line {index} has neither a provider nor a self amount")
        orders.append(line)
    return {
        "context": _agency_context("settle", participant, subscriber_id, agency, now),
        "message": {
            "settlement": {"type": SettlementType.MISC.value, "id": new_id(), "orders": orders}
        },
    }


def build_settle_nil(
    participant: Participant,
    *,
    subscriber_id: str,
    agency: SettlementAgency,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A NIL settle: tells the agency there is nothing to settle for the period."""
    return {
        "context": _agency_context("settle", participant, subscriber_id, agency, now),
        "message": {"settlement": {"type": SettlementType.NIL.value, "id": new_id()}},
    }


# --- recon -----------------------------------------------------------------------------------


def _figures_of(settlement: Settlement) -> ReconBreakdown:
    return ReconBreakdown(
        amount=settlement.inter_np_settlement,
        commission=settlement.commission,
        withholding_amount=settlement.withholding_amount,
        tcs=settlement.tcs,
        tds=settlement.tds,
    )


def _figure_amounts(figures: ReconBreakdown, what: str) -> dict[str, dict[str, str]]:
    return {
        name: money_amount(_non_negative(getattr(figures, name), f"{name} of {what}"))
        for name in _FIGURES
    }


def build_recon(
    participant: Participant,
    entries: Sequence[tuple[Order, Settlement, Reconciliation | None, ReconRequest]],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """A recon to the counterparty for orders of one (collector, receiver) pair.

    Each entry is the order, its settlement, the order's existing recon (if any) and the
    request. Refused while a recon for an order is pending or accepted.
    """
    if not entries:
        raise ValidationFailed("A recon needs at least one order")
    first_order = entries[0][0]
    pairs = {(s.collector_id, s.receiver_id) for _, s, _, _ in entries}
    if len(pairs) > 1:
        raise BusinessRuleViolation("One recon carries orders of one (collector, receiver) pair")
    orders = []
    seen: set[str] = set()
    for order, settlement, recon, request in entries:
        if order.order_id in seen:
            raise ValidationFailed(f"Order {order.order_id} appears twice")
        seen.add(order.order_id)
        if (order.bap_uri, order.bpp_uri) != (first_order.bap_uri, first_order.bpp_uri):
            raise BusinessRuleViolation("One recon goes to one counterparty")
        if recon is not None and recon.recon_status in RECON_BLOCKING_STATUSES:
            raise BusinessRuleViolation(
                f"Order {order.order_id} already has a recon {recon.recon_status.value}"
            )
        figures = request.figures or _figures_of(settlement)
        entry: dict[str, Any] = {
            "id": settlement.settlement_id,
            "status": recon_status_of(settlement),
            **_figure_amounts(figures, f"order {order.order_id}"),
            "updated_at": iso_timestamp(now),
        }
        if request.payment_id:
            entry["payment_id"] = request.payment_id
        if request.due_date is not None:
            entry["due_date"] = iso_timestamp(request.due_date)
        if settlement.settlement_reference:
            entry["settlement_ref_no"] = settlement.settlement_reference
        orders.append(
            {
                "id": order.order_id,
                "amount": money_amount(
                    _non_negative(order.total_order_value, f"Total of order {order.order_id}")
                ),
                "settlements": [entry],
            }
        )
    context = build_context(
        "recon",
        bap_id=first_order.bap_id,
        bap_uri=first_order.bap_uri,
        bpp_id=first_order.bpp_id,
        bpp_uri=first_order.bpp_uri,
        now=now,
    )
    return {"context": context, "message": {"orders": orders}}


def _diff(counter: Decimal, original: Decimal) -> str:
    return money_str(abs(to_money(counter) - to_money(original)))


def build_on_recon(
    recon_message: Mapping[str, Any],
    recons: Mapping[str, Reconciliation],
    answers: Sequence[OnReconAnswer],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The answer to a received recon: same transaction_id and message_id, one entry per order.

    ``recons`` maps order id to this participant's RECEIVED_PENDING recon of that message;
    every one of them must be answered.
    """
    if not answers:
        raise ValidationFailed("An on_recon needs at least one answer")
    by_order = {answer.order_id: answer for answer in answers}
    if len(by_order) != len(answers):
        raise ValidationFailed("An order is answered twice")
    unanswered = sorted(set(recons) - set(by_order))
    if unanswered:
        raise ValidationFailed(f"Orders of the recon not answered: {', '.join(unanswered)}")
    message_orders = {
        str(order.get("id")): order for order in (recon_message.get("message") or {})["orders"]
    }
    orders = []
    for answer in answers:
        recon = recons.get(answer.order_id)
        if recon is None:
            raise NotFound(f"No received recon pending for order {answer.order_id}")
        if recon.recon_status != ReconStatus.RECEIVED_PENDING:
            raise BusinessRuleViolation(
                f"Recon of order {answer.order_id} is {recon.recon_status.value}, "
                "not RECEIVED_PENDING"
            )
        original = recon.recon_breakdown
        if original is None:
            raise BusinessRuleViolation(f"Recon of order {answer.order_id} has no figures")
        claimed_order = message_orders.get(answer.order_id, {})
        order_amount = (claimed_order.get("amount") or {}).get("value", "0.00")
        settlement: dict[str, Any] = {
            "id": recon.settlement_id or new_id(),
            "status": "PENDING",
            "updated_at": iso_timestamp(now),
        }
        if recon.payment_id:
            settlement["payment_id"] = recon.payment_id
        if answer.recon_accord:
            if answer.due_date is None:
                raise ValidationFailed(f"Order {answer.order_id}: accord needs a due_date")
            settlement["due_date"] = iso_timestamp(answer.due_date)
            settlement.update(_figure_amounts(original, f"order {answer.order_id}"))
        else:
            if answer.figures is None:
                raise ValidationFailed(
                    f"Order {answer.order_id}: no accord needs the counter figures"
                )
            for name in _FIGURES:
                counter = _non_negative(
                    getattr(answer.figures, name), f"{name} of {answer.order_id}"
                )
                settlement[name] = {
                    **money_amount(counter),
                    "diff_value": _diff(counter, getattr(original, name)),
                }
        orders.append(
            {
                "id": answer.order_id,
                "amount": money_amount(order_amount),
                "recon_accord": answer.recon_accord,
                "settlements": [settlement],
            }
        )
    source = recon_message["context"]
    context = build_context(
        "on_recon",
        bap_id=source["bap_id"],
        bap_uri=source["bap_uri"],
        bpp_id=source["bpp_id"],
        bpp_uri=source["bpp_uri"],
        transaction_id=source["transaction_id"],
        message_id=source["message_id"],
        now=now,
    )
    return {"context": context, "message": {"orders": orders}}


# --- report ----------------------------------------------------------------------------------


def build_report(
    participant: Participant,
    *,
    ref_transaction_id: str,
    ref_message_id: str,
    subscriber_id: str,
    agency: SettlementAgency,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Ask the agency for the status of an earlier settle."""
    return {
        "context": _agency_context("report", participant, subscriber_id, agency, now),
        "message": {"ref_transaction_id": ref_transaction_id, "ref_message_id": ref_message_id},
    }


# --- generate: load, then build --------------------------------------------------------------


async def _settlements_for(user_id: str, order_ids: Iterable[str]) -> list[Settlement]:
    wanted = list(dict.fromkeys(order_ids))
    found = await Settlement.find({"user_id": user_id, "order_id": {"$in": wanted}}).to_list()
    by_order = {settlement.order_id: settlement for settlement in found}
    missing = [order_id for order_id in wanted if order_id not in by_order]
    if missing:
        raise NotFound(f"No settlement for orders: {', '.join(missing)}")
    return [by_order[order_id] for order_id in wanted]


async def generate_settle_np_np(
    user_id: str,
    order_ids: Sequence[str],
    *,
    subscriber_id: str,
    agency: SettlementAgency,
) -> dict[str, Any]:
    participant = await get_participant(user_id)
    settlements = await _settlements_for(user_id, order_ids)
    return build_settle_np_np(participant, settlements, subscriber_id=subscriber_id, agency=agency)


async def generate_settle_misc(
    user_id: str, items: Sequence[MiscItem], *, subscriber_id: str, agency: SettlementAgency
) -> dict[str, Any]:
    participant = await get_participant(user_id)
    return build_settle_misc(participant, items, subscriber_id=subscriber_id, agency=agency)


async def generate_settle_nil(
    user_id: str, *, subscriber_id: str, agency: SettlementAgency
) -> dict[str, Any]:
    participant = await get_participant(user_id)
    return build_settle_nil(participant, subscriber_id=subscriber_id, agency=agency)


async def generate_recon(user_id: str, requests: Sequence[ReconRequest]) -> dict[str, Any]:
    participant = await get_participant(user_id)
    order_ids = [request.order_id for request in requests]
    settlements = await _settlements_for(user_id, order_ids)
    orders = {
        order.order_id: order
        for order in await Order.find(
            {"user_id": user_id, "order_id": {"$in": order_ids}}
        ).to_list()
    }
    recons = {
        recon.order_id: recon
        for recon in await Reconciliation.find(
            {"user_id": user_id, "order_id": {"$in": order_ids}}
        ).to_list()
    }
    entries = []
    for request, settlement in zip(requests, settlements, strict=True):
        order = orders.get(request.order_id)
        if order is None:
            raise NotFound(f"Order {request.order_id} not found")
        entries.append((order, settlement, recons.get(request.order_id), request))
    return build_recon(participant, entries)


async def _received_recon_message(recon: Reconciliation) -> RsfTransaction:
    stored = await RsfTransaction.find_one(
        {
            "context.action": "recon",
            "context.transaction_id": recon.transaction_id,
            "context.message_id": recon.message_id,
        }
    )
    if stored is None:
        raise NotFound(f"The recon message for order {recon.order_id} is not stored")
    return stored


async def generate_on_recon(user_id: str, answers: Sequence[OnReconAnswer]) -> dict[str, Any]:
    """Answer the received recon the first answered order belongs to (its whole message)."""
    await get_participant(user_id)
    if not answers:
        raise ValidationFailed("An on_recon needs at least one answer")
    first = await Reconciliation.find_one({"user_id": user_id, "order_id": answers[0].order_id})
    if first is None or first.transaction_id is None:
        raise NotFound(f"No received recon for order {answers[0].order_id}")
    stored = await _received_recon_message(first)
    recons = {
        recon.order_id: recon
        for recon in await Reconciliation.find(
            {
                "user_id": user_id,
                "transaction_id": first.transaction_id,
                "message_id": first.message_id,
                "recon_status": ReconStatus.RECEIVED_PENDING.value,
            }
        ).to_list()
    }
    message = {"context": stored.context, "message": stored.message}
    return build_on_recon(message, recons, answers)


async def generate_report(
    user_id: str,
    *,
    ref_transaction_id: str,
    ref_message_id: str,
    subscriber_id: str,
    agency: SettlementAgency,
) -> dict[str, Any]:
    participant = await get_participant(user_id)
    settle = await RsfTransaction.find_one(
        {
            "context.action": "settle",
            "context.transaction_id": ref_transaction_id,
            "context.message_id": ref_message_id,
        }
    )
    if settle is None:
        raise NotFound("No settle was sent with that transaction_id and message_id")
    return build_report(
        participant,
        ref_transaction_id=ref_transaction_id,
        ref_message_id=ref_message_id,
        subscriber_id=subscriber_id,
        agency=agency,
    )
