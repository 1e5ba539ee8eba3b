"""settle / on_settle and report / on_report: sending to the settlement agency, applying answers.

Trigger: the message is checked against the database (every order has a settlement this NP may
send, amounts and parties as prepared), then sent. Only an ACK moves the settlements (to
PENDING, ``initiated_date`` set); a NACK or no answer leaves the statuses as they were and
writes only the ``error`` text, so nothing is ever half-written by a failed send.

Incoming on_settle / on_report: everything is checked first, then written, so a refused message
(NACK) changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from rsf_observability.metrics import RsfMetrics, default_metrics

from rsf_core import business_metrics
from rsf_core.acks import ack, nack
from rsf_core.agency_client import AgencyClient, ExchangeResult, action_url
from rsf_core.datetime_writes import set_fields, set_fields_many
from rsf_core.enums import SettlementStatus, SettlementType
from rsf_core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from rsf_core.models import Participant, RsfTransaction, Settlement, utcnow
from rsf_core.money import money_str, to_money
from rsf_core.participants import get_participant
from rsf_core.payloads import SETTLEABLE_STATUSES, SettlementAgency, check_settle_rules
from rsf_core.transactions import find_transaction
from rsf_core.validation import validate_message

__all__ = [
    "SettleApplication",
    "TriggerResult",
    "process_on_report",
    "process_on_settle",
    "trigger_report",
    "trigger_settle",
]

_PART_FIELDS = {
    "inter_participant": ("status", "settlement_reference"),
    "provider": ("provider_status", "provider_settlement_reference"),
    "self": ("self_status", "self_settlement_reference"),
}
_ANSWERABLE = frozenset(
    {SettlementStatus.PENDING, SettlementStatus.SETTLED, SettlementStatus.NOT_SETTLED}
)


@dataclass(frozen=True)
class TriggerResult:
    """What a trigger did: the exchange, and the orders whose records changed."""

    exchange: ExchangeResult
    order_ids: list[str] = field(default_factory=list)

    @property
    def acked(self) -> bool:
        return self.exchange.acked

    def answer(self) -> dict[str, Any]:
        """The receiver's answer as an ACK / NACK body (a missing answer becomes a NACK 70000)."""
        if self.exchange.acked:
            return ack()
        if self.exchange.error is not None:
            return nack("70000", self.exchange.error)
        result = self.exchange.ack
        return nack(result.error_code or "70000", result.error_message or "NACK", result.error_path)


@dataclass(frozen=True)
class SettleApplication:
    """The settlements an on_settle / on_report changed (order ids, by final status)."""

    user_id: str | None = None
    settled: list[str] = field(default_factory=list)
    not_settled: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)


# --- trigger settle --------------------------------------------------------------------------


def _order_ids(payload: Mapping[str, Any]) -> list[str]:
    orders = payload["message"]["settlement"].get("orders") or []
    return [str(order["id"]) for order in orders]


async def _settlements_in(user_id: str, order_ids: Sequence[str]) -> list[Settlement]:
    found = await Settlement.find(
        {"user_id": user_id, "order_id": {"$in": list(order_ids)}}
    ).to_list()
    by_order = {settlement.order_id: settlement for settlement in found}
    missing = [order_id for order_id in order_ids if order_id not in by_order]
    if missing:
        raise NotFound(f"No settlement for orders: {', '.join(missing)}")
    return [by_order[order_id] for order_id in order_ids]


def _check_payload_matches(payload: Mapping[str, Any], settlements: Sequence[Settlement]) -> None:
    """The message must say what was prepared: parties and amounts are the database's."""
    message = payload["message"]
    first = settlements[0]
    if (message.get("collector_app_id"), message.get("receiver_app_id")) != (
        first.collector_id,
        first.receiver_id,
    ):
        raise BusinessRuleViolation(
            "collector_app_id / receiver_app_id differ from the prepared settlements "
            f"({first.collector_id} -> {first.receiver_id})"
        )
    by_order = {settlement.order_id: settlement for settlement in settlements}
    for order in message["settlement"]["orders"]:
        settlement = by_order[str(order["id"])]
        expected = {
            "inter_participant": settlement.inter_np_settlement,
            "collector": settlement.collector_settlement,
        }
        for part, amount in expected.items():
            sent = ((order.get(part) or {}).get("amount") or {}).get("value")
            if sent is None or to_money(sent) != to_money(amount):
                raise BusinessRuleViolation(
                    f"Order {settlement.order_id}: {part} amount {sent} differs from the "
                    f"prepared {money_str(amount)}"
                )


async def trigger_settle(
    user_id: str,
    payload: dict[str, Any],
    *,
    client: AgencyClient,
    agency: SettlementAgency,
    metrics: RsfMetrics | None = None,
) -> TriggerResult:
    """Send a settle to the agency; on ACK its settlements become PENDING.

    Raises a ``DomainError`` (nothing sent) when the message breaks a rule: schema, unknown or
    unsendable settlements, parties or amounts other than prepared.
    """
    participant = await get_participant(user_id)
    metrics = metrics or default_metrics()
    validate_message("settle", payload)
    settlement_type = payload["message"]["settlement"]["type"]
    order_ids = _order_ids(payload) if settlement_type == SettlementType.NP_NP.value else []
    settlements: list[Settlement] = []
    if order_ids:
        settlements = await _settlements_in(user_id, order_ids)
        check_settle_rules(participant, settlements)
        _check_payload_matches(payload, settlements)
    exchange = await client.send(action_url(agency.url, "settle"), payload, user_id=user_id)
    if not settlements:
        return TriggerResult(exchange)
    if exchange.acked:
        changed = await _mark_pending(user_id, order_ids, exchange.transaction_id)
        for _ in changed:
            business_metrics.record_settle_outcome(
                metrics, SettlementStatus.PENDING.value, participant.role.value
            )
        return TriggerResult(exchange, changed)
    # NACK or no answer: the statuses stay; the reason is kept for the operator.
    await set_fields_many(
        Settlement.get_pymongo_collection(),
        {"user_id": user_id, "order_id": {"$in": order_ids}},
        {"error": exchange.error_text, "updated_at": utcnow()},
    )
    business_metrics.record_settle_outcome(
        metrics, "NACK" if exchange.nacked else "ERROR", participant.role.value
    )
    return TriggerResult(exchange, [])


async def _mark_pending(user_id: str, order_ids: Sequence[str], transaction_id: str) -> list[str]:
    now = utcnow()
    collection = Settlement.get_pymongo_collection()
    changed = []
    for order_id in order_ids:
        modified = await set_fields(
            collection,
            {
                "user_id": user_id,
                "order_id": order_id,
                "status": {"$in": [status.value for status in SETTLEABLE_STATUSES]},
            },
            {
                "status": SettlementStatus.PENDING.value,
                "provider_status": SettlementStatus.PENDING.value,
                "self_status": SettlementStatus.PENDING.value,
                "initiated_date": now,
                "settled_date": None,
                "error": None,
                "updated_at": now,
            },
            push={"transaction_ids": transaction_id},
        )
        if modified:
            changed.append(order_id)
    return changed


# --- incoming on_settle / on_report -----------------------------------------------------------


def _error_text(error: Any) -> str | None:
    if not isinstance(error, Mapping):
        return None
    parts = [str(error[key]) for key in ("code", "message") if error.get(key)]
    return ": ".join(parts) or None


@dataclass
class _Update:
    settlement: Settlement
    fields: dict[str, Any]
    final_status: SettlementStatus | None  # the inter-participant outcome, when reported
    settled_amount: Decimal | None


def _plan_order_update(settlement: Settlement, order: Mapping[str, Any], now: datetime) -> _Update:
    fields: dict[str, Any] = {"updated_at": now}
    final_status: SettlementStatus | None = None
    settled_amount: Decimal | None = None
    errors = []
    for part, (status_field, reference_field) in _PART_FIELDS.items():
        report = order.get(part)
        if not isinstance(report, Mapping) or "status" not in report:
            continue
        status = SettlementStatus(report["status"])
        fields[status_field] = status.value
        if report.get("reference_no"):
            fields[reference_field] = str(report["reference_no"])
        text = _error_text(report.get("error"))
        if text:
            errors.append(f"{part}: {text}")
        if part == "inter_participant":
            final_status = status
            fields["settled_date"] = now
            amount = (report.get("settled_amount") or report.get("amount") or {}).get("value")
            settled_amount = (
                to_money(amount) if amount is not None else settlement.inter_np_settlement
            )
    fields["error"] = "; ".join(errors) if errors else None
    return _Update(settlement, fields, final_status, settled_amount)


async def _apply_settle_answer(
    user_id: str,
    settle: RsfTransaction,
    answer: Mapping[str, Any],
    *,
    metrics: RsfMetrics | None,
) -> SettleApplication:
    """Check every order of ``answer`` against the settle it answers, then write them all."""
    settle_message = settle.message or {}
    settlement_part = settle_message.get("settlement") or {}
    if settlement_part.get("type") != SettlementType.NP_NP.value:
        return SettleApplication(user_id)  # MISC / NIL settles have no settlement records to update
    sent_ids = [str(order["id"]) for order in settlement_part.get("orders") or []]
    settlements = {
        s.order_id: s
        for s in await Settlement.find(
            {"user_id": user_id, "order_id": {"$in": sent_ids}}
        ).to_list()
    }
    now = utcnow()
    updates: list[_Update] = []
    if answer.get("error"):
        text = _error_text(answer["error"]) or "error"
        for order_id in sent_ids:
            settlement = settlements.get(order_id)
            if settlement is None or settlement.status not in _ANSWERABLE:
                continue
            fields = {
                "status": SettlementStatus.NOT_SETTLED.value,
                "provider_status": SettlementStatus.NOT_SETTLED.value,
                "self_status": SettlementStatus.NOT_SETTLED.value,
                "error": text,
                "settled_date": now,
                "updated_at": now,
            }
            updates.append(_Update(settlement, fields, SettlementStatus.NOT_SETTLED, None))
    else:
        orders = ((answer.get("message") or {}).get("settlement") or {}).get("orders") or []
        for order in orders:
            order_id = str(order.get("id"))
            settlement = settlements.get(order_id)
            if order_id not in sent_ids or settlement is None:
                raise BusinessRuleViolation(f"Order {order_id} was not in the settle answered")
            if settlement.status not in _ANSWERABLE:
                raise BusinessRuleViolation(
                    f"Settlement of order {order_id} is {settlement.status.value}, "
                    "not awaiting an answer"
                )
            updates.append(_plan_order_update(settlement, order, now))
    agency = str((settle.context or {}).get("bpp_id") or "unknown")
    participant = await get_participant(user_id)
    return await _write_updates(updates, participant, agency, now, metrics or default_metrics())


async def _write_updates(
    updates: Sequence[_Update],
    participant: Participant,
    agency: str,
    now: datetime,
    metrics: RsfMetrics,
) -> SettleApplication:
    collection = Settlement.get_pymongo_collection()
    settled, not_settled, other = [], [], []
    for update in updates:
        settlement = update.settlement
        await set_fields(collection, {"_id": settlement.id}, update.fields)
        if update.final_status is SettlementStatus.SETTLED:
            settled.append(settlement.order_id)
        elif update.final_status is SettlementStatus.NOT_SETTLED:
            not_settled.append(settlement.order_id)
        else:
            other.append(settlement.order_id)
        if update.final_status is None or update.final_status is settlement.status:
            continue  # a repeat of a known outcome is not a new outcome
        business_metrics.record_settle_outcome(
            metrics, update.final_status.value, participant.role.value
        )
        if update.final_status is SettlementStatus.SETTLED:
            business_metrics.record_settled_volume(
                metrics, update.settled_amount or settlement.inter_np_settlement, agency=agency
            )
        if settlement.status is SettlementStatus.PENDING and settlement.initiated_date:
            business_metrics.observe_settlement_duration(metrics, settlement.initiated_date, now)
    return SettleApplication(str(participant.id), settled, not_settled, other)


async def process_on_settle(
    payload: Mapping[str, Any], *, metrics: RsfMetrics | None = None
) -> SettleApplication:
    """Apply an on_settle to the settlements of the settle it answers (same ids)."""
    context = payload["context"]
    settle = await find_transaction("settle", context["transaction_id"], context["message_id"])
    if settle is None or settle.direction != "outgoing" or not settle.user_id:
        raise NotFound("No settle was sent with this transaction_id and message_id")
    return await _apply_settle_answer(settle.user_id, settle, payload, metrics=metrics)


async def process_on_report(
    payload: Mapping[str, Any], *, metrics: RsfMetrics | None = None
) -> SettleApplication:
    """Apply an on_report: the statuses of the settle its report asked about."""
    context = payload["context"]
    report = await find_transaction("report", context["transaction_id"], context["message_id"])
    if report is None or not report.user_id:
        raise NotFound("No report was sent with this transaction_id and message_id")
    reference = report.message or {}
    settle = await find_transaction(
        "settle", str(reference.get("ref_transaction_id")), str(reference.get("ref_message_id"))
    )
    if settle is None:
        raise NotFound("The settle the report asked about is not stored")
    return await _apply_settle_answer(report.user_id, settle, payload, metrics=metrics)


# --- report ----------------------------------------------------------------------------------


async def trigger_report(
    user_id: str,
    payload: dict[str, Any],
    *,
    client: AgencyClient,
    agency: SettlementAgency,
) -> TriggerResult:
    """Send a report (status query) about an earlier settle to the agency."""
    await get_participant(user_id)
    validate_message("report", payload)
    message = payload["message"]
    if (
        await find_transaction("settle", message["ref_transaction_id"], message["ref_message_id"])
        is None
    ):
        raise ValidationFailed("The report refers to a settle that was never sent")
    exchange = await client.send(action_url(agency.url, "report"), payload, user_id=user_id)
    return TriggerResult(exchange)
