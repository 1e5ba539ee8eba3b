"""The tax engine: settlement amounts from an order, as pure functions on Decimals.

Strategy USER uses the participant's TCS / TDS rates; strategy RECON takes the figures agreed
in a reconciliation. Every figure is rounded half-up to paise before it is combined, so the
parts always add up to what is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from rsf_core.enums import Applicability, CollectedBy
from rsf_core.models import ReconBreakdown
from rsf_core.money import ZERO, to_money

RET11 = "ONDC:RET11"


@dataclass(frozen=True)
class OrderAmounts:
    """The order figures the engine needs (``buyer_finder_fee`` already includes GST)."""

    total: Decimal
    item_tax: Decimal
    buyer_finder_fee: Decimal
    withholding_amount: Decimal
    collected_by: CollectedBy
    domain: str
    msn: bool


@dataclass(frozen=True)
class TaxRates:
    np_tcs: Decimal = ZERO
    np_tds: Decimal = ZERO
    tcs_applicability: Applicability = Applicability.NONE
    tds_applicability: Applicability = Applicability.NONE


@dataclass(frozen=True)
class SettlementAmounts:
    total_order_value: Decimal
    commission: Decimal
    tcs: Decimal
    tds: Decimal
    withholding_amount: Decimal
    inter_np_settlement: Decimal
    collector_settlement: Decimal


def applies(applicability: Applicability, msn: bool) -> bool:
    """BOTH always; ISN for a non-MSN order; MSN for an MSN order; NONE never."""
    return (
        applicability is Applicability.BOTH
        or (applicability is Applicability.ISN and not msn)
        or (applicability is Applicability.MSN and msn)
    )


def _levy(base: Decimal, rate: Decimal, applicability: Applicability, msn: bool) -> Decimal:
    return to_money(base * rate / 100) if applies(applicability, msn) else ZERO


def user_strategy(order: OrderAmounts, rates: TaxRates) -> SettlementAmounts:
    """Amounts from the participant's rates (the spec's strategy USER)."""
    total, item_tax = to_money(order.total), to_money(order.item_tax)
    bff = to_money(order.buyer_finder_fee)
    taxable = total - item_tax
    tcs = _levy(taxable, rates.np_tcs, rates.tcs_applicability, order.msn)
    tds = _levy(taxable, rates.np_tds, rates.tds_applicability, order.msn)
    if order.collected_by is CollectedBy.BAP:
        inter_np = total - bff - tcs - tds
        collector = bff + tcs + tds
        if order.domain == RET11 and not order.msn:
            inter_np -= item_tax
            collector += item_tax
    else:
        inter_np = bff
        collector = total - inter_np
    return SettlementAmounts(
        total_order_value=total,
        commission=bff,
        tcs=tcs,
        tds=tds,
        withholding_amount=to_money(order.withholding_amount),
        inter_np_settlement=inter_np,
        collector_settlement=collector,
    )


def recon_strategy(total: Decimal, agreed: ReconBreakdown) -> SettlementAmounts:
    """Amounts agreed in a recon (the spec's strategy RECON): nothing left for the collector."""
    return SettlementAmounts(
        total_order_value=to_money(total),
        commission=to_money(agreed.commission),
        tcs=to_money(agreed.tcs),
        tds=to_money(agreed.tds),
        withholding_amount=to_money(agreed.withholding_amount),
        inter_np_settlement=to_money(agreed.amount),
        collector_settlement=ZERO,
    )
