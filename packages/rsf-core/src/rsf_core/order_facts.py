"""What a retail order message says about settlement: pure derivations from ``message.order``.

Kept apart from storage so each spec rule is a small function with its own test:
breakup lines, item tax, buyer finder fee with GST, withholding, msn and the due date.
Accepts ONDC retail 1.2 shapes (``payment`` object, ``tags[].code``) and 2.0 shapes
(``payments`` list, ``tags[].descriptor.code``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rsf_core.durations import add_duration
from rsf_core.enums import CollectedBy, OrderState
from rsf_core.errors import ValidationFailed
from rsf_core.models import BreakupLine, Quote
from rsf_core.money import ZERO, to_decimal, to_money

GST_RATE = Decimal("0.18")
TAX_LINE = "tax"
ITEM_LINE = "item"
RETAIL_ACTIONS: frozenset[str] = frozenset({"on_confirm", "on_status", "on_update", "on_cancel"})


def _invalid(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"Invalid order message: {path}: {message}",
        code="INVALID_ORDER",
        details={"path": path},
    )


def parse_timestamp(value: Any, path: str) -> datetime:
    """An ISO-8601 timestamp as aware UTC truncated to milliseconds (what BSON keeps)."""
    if not isinstance(value, str):
        raise _invalid(path, "expected an ISO-8601 timestamp")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _invalid(path, "expected an ISO-8601 timestamp") from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _amount(value: Any, path: str) -> Decimal:
    try:
        return to_decimal(value)
    except ValueError:
        raise _invalid(path, "expected a decimal amount") from None


def breakup_lines(quote: Mapping[str, Any]) -> list[BreakupLine]:
    """``{title: @ondc/org/title_type, price: price.value, id: @ondc/org/item_id}`` per line."""
    lines = []
    for index, raw in enumerate(quote.get("breakup") or []):
        path = f"message.order.quote.breakup.{index}"
        if not isinstance(raw, Mapping):
            raise _invalid(path, "expected an object")
        price = raw.get("price") or {}
        lines.append(
            BreakupLine(
                title=str(raw.get("@ondc/org/title_type") or ""),
                price=_amount(price.get("value"), f"{path}.price.value"),
                id=raw.get("@ondc/org/item_id"),
            )
        )
    return lines


def item_tax(lines: Sequence[BreakupLine]) -> Decimal:
    """Sum of ``tax`` lines whose id is the id of an ``item`` line."""
    item_ids = {line.id for line in lines if line.title == ITEM_LINE and line.id is not None}
    return to_money(
        sum((ln.price for ln in lines if ln.title == TAX_LINE and ln.id in item_ids), ZERO)
    )


def buyer_finder_fee(lines: Sequence[BreakupLine], fee_type: str | None, amount: Any) -> Decimal:
    """The finder fee including 18% GST: base (all non-tax lines) * amount / 100 for ``percent``."""
    if amount is None or amount == "":
        return ZERO
    rate = _amount(amount, "message.order.payment.@ondc/org/buyer_app_finder_fee_amount")
    if (fee_type or "").lower() == "percent":
        base = sum((line.price for line in lines if line.title != TAX_LINE), ZERO)
        fee = base * rate / 100
    else:
        fee = rate
    return to_money(fee * (1 + GST_RATE))


def withholding(total: Decimal, percent: Any, tax: Decimal) -> Decimal:
    """``@ondc/org/withholding_amount`` read as a percent of the total, plus the item tax."""
    rate = ZERO if percent in (None, "") else _amount(percent, "withholding_amount")
    return to_money(total * rate / 100 + tax)


def _tag_code(tag: Mapping[str, Any]) -> Any:
    return tag.get("code") or (tag.get("descriptor") or {}).get("code")


def msn_from_tags(tags: Any) -> bool:
    """True when the ``bpp_terms`` tag says ``np_type`` is ``MSN``."""
    for tag in tags if isinstance(tags, list) else []:
        if isinstance(tag, Mapping) and _tag_code(tag) == "bpp_terms":
            for entry in tag.get("list") or []:
                if isinstance(entry, Mapping) and _tag_code(entry) == "np_type":
                    return str(entry.get("value", "")).upper() == "MSN"
    return False


def pickup_time(fulfillments: Any) -> datetime | None:
    """The first fulfillment's ``start.time.timestamp`` (when the shipment was picked up)."""
    for index, fulfillment in enumerate(fulfillments if isinstance(fulfillments, list) else []):
        stamp = (((fulfillment or {}).get("start") or {}).get("time") or {}).get("timestamp")
        if stamp:
            return parse_timestamp(
                stamp, f"message.order.fulfillments.{index}.start.time.timestamp"
            )
    return None


def due_date(
    basis: str | None, window: str | None, updated_at: datetime, picked_up: datetime | None
) -> datetime | None:
    """updated_at + window for basis ``delivery``; pickup time + window for ``shipment``."""
    if not window:
        return None
    start = {"delivery": updated_at, "shipment": picked_up}.get((basis or "").lower())
    if start is None:
        return None
    try:
        return add_duration(start, window)
    except ValueError:
        raise _invalid(
            "message.order.payment.@ondc/org/settlement_window", "not an ISO-8601 duration"
        ) from None


@dataclass(frozen=True)
class OrderFacts:
    """Everything one message says; ``None`` means "this message does not say"."""

    action: str
    order_id: str
    domain: str
    bap_id: str
    bap_uri: str
    bpp_id: str
    bpp_uri: str
    state: OrderState
    updated_at: datetime
    created_at: datetime | None
    provider_id: str | None
    quote: Quote | None
    item_tax: Decimal | None
    collected_by: CollectedBy | None
    buyer_finder_fee_type: str | None
    buyer_finder_fee_amount: Decimal | None
    settlement_basis: str | None
    settlement_window: str | None
    withholding_amount: Decimal | None  # on_confirm only
    msn: bool | None  # on_confirm only
    due_date: datetime | None


def _payment(order: Mapping[str, Any]) -> Mapping[str, Any]:
    payment = order.get("payment")
    if isinstance(payment, Mapping):
        return payment
    payments = order.get("payments")
    if isinstance(payments, list) and payments and isinstance(payments[0], Mapping):
        return payments[0]
    return {}


def _required_str(mapping: Mapping[str, Any], key: str, path: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(f"{path}.{key}", "required")
    return value.strip()


def order_facts(payload: Mapping[str, Any]) -> OrderFacts:
    """Read a retail on_confirm / on_status / on_update / on_cancel; ``ValidationFailed`` if unusable."""
    context = payload.get("context")
    message = payload.get("message")
    if not isinstance(context, Mapping):
        raise _invalid("context", "required")
    action = _required_str(context, "action", "context")
    if action not in RETAIL_ACTIONS:
        raise _invalid("context.action", f"not a retail order action: {action}")
    order = message.get("order") if isinstance(message, Mapping) else None
    if not isinstance(order, Mapping):
        raise _invalid("message.order", "required")
    try:
        state = OrderState(str(order.get("state")))
    except ValueError:
        raise _invalid("message.order.state", "unknown order state") from None

    stamp = order.get("updated_at") or context.get("timestamp")
    updated_at = parse_timestamp(stamp, "message.order.updated_at")
    created_raw = order.get("created_at")
    created_at = parse_timestamp(created_raw, "message.order.created_at") if created_raw else None

    quote_raw = order.get("quote")
    quote = lines = None
    if isinstance(quote_raw, Mapping):
        lines = breakup_lines(quote_raw)
        total = _amount(
            (quote_raw.get("price") or {}).get("value"), "message.order.quote.price.value"
        )
        quote = Quote(total_order_value=to_money(total), breakup=lines)
    tax = item_tax(lines) if lines is not None else None

    payment = _payment(order)
    fee_type = payment.get("@ondc/org/buyer_app_finder_fee_type")
    fee = (
        buyer_finder_fee(lines, fee_type, payment.get("@ondc/org/buyer_app_finder_fee_amount"))
        if lines is not None and "@ondc/org/buyer_app_finder_fee_amount" in payment
        else None
    )
    collected_raw = payment.get("collected_by")
    try:
        collected_by = CollectedBy(collected_raw) if collected_raw else None
    except ValueError:
        raise _invalid("message.order.payment.collected_by", "must be BAP or BPP") from None

    on_confirm = action == "on_confirm"
    withholding_amount = msn = None
    if on_confirm:
        msn = msn_from_tags(order.get("tags"))
        if quote is not None and tax is not None:
            withholding_amount = withholding(
                quote.total_order_value, payment.get("@ondc/org/withholding_amount"), tax
            )

    basis = payment.get("@ondc/org/settlement_basis")
    window = payment.get("@ondc/org/settlement_window")
    due = None
    if state is OrderState.COMPLETED:
        due = due_date(basis, window, updated_at, pickup_time(order.get("fulfillments")))

    return OrderFacts(
        action=action,
        order_id=_required_str(order, "id", "message.order"),
        domain=_required_str(context, "domain", "context"),
        bap_id=_required_str(context, "bap_id", "context"),
        bap_uri=_required_str(context, "bap_uri", "context"),
        bpp_id=_required_str(context, "bpp_id", "context"),
        bpp_uri=_required_str(context, "bpp_uri", "context"),
        state=state,
        updated_at=updated_at,
        created_at=created_at,
        provider_id=((order.get("provider") or {}).get("id")),
        quote=quote,
        item_tax=tax,
        collected_by=collected_by,
        buyer_finder_fee_type=fee_type,
        buyer_finder_fee_amount=fee,
        settlement_basis=basis,
        settlement_window=window,
        withholding_amount=withholding_amount,
        msn=msn,
        due_date=due,
    )
