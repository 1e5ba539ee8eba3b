"""The tax engine against the spec's worked example and each rule branch."""

from __future__ import annotations

from decimal import Decimal

import pytest
from rsf_core.enums import Applicability, CollectedBy
from rsf_core.models import ReconBreakdown
from rsf_core.tax import OrderAmounts, TaxRates, applies, recon_strategy, user_strategy

D = Decimal
BOTH_ONE_PERCENT = TaxRates(D(1), D(1), Applicability.BOTH, Applicability.BOTH)


def _order(
    collected_by: CollectedBy = CollectedBy.BAP, domain: str = "ONDC:RET10", msn: bool = False
) -> OrderAmounts:
    # total 1000 = item 850 + item tax 50 + delivery 100; 3% fee on 950 = 28.50, +18% GST
    return OrderAmounts(
        total=D("1000.00"),
        item_tax=D("50.00"),
        buyer_finder_fee=D("33.63"),
        withholding_amount=D("60.00"),
        collected_by=collected_by,
        domain=domain,
        msn=msn,
    )


def _figures(order: OrderAmounts, rates: TaxRates) -> tuple[str, ...]:
    a = user_strategy(order, rates)
    return tuple(
        str(x) for x in (a.commission, a.tcs, a.tds, a.inter_np_settlement, a.collector_settlement)
    )


def test_spec_worked_example() -> None:
    assert _figures(_order(), BOTH_ONE_PERCENT) == ("33.63", "9.50", "9.50", "947.37", "52.63")
    amounts = user_strategy(_order(), BOTH_ONE_PERCENT)
    assert amounts.withholding_amount == D("60.00")
    assert amounts.total_order_value == D("1000.00")


def test_bpp_collected_pays_only_the_fee_to_the_buyer_app() -> None:
    figures = _figures(_order(CollectedBy.BPP), BOTH_ONE_PERCENT)
    assert figures == ("33.63", "9.50", "9.50", "33.63", "966.37")


def test_ret11_non_msn_moves_item_tax_to_the_collector() -> None:
    figures = _figures(_order(domain="ONDC:RET11"), BOTH_ONE_PERCENT)
    assert figures == ("33.63", "9.50", "9.50", "897.37", "102.63")


def test_ret11_msn_keeps_item_tax_with_the_receiver() -> None:
    figures = _figures(_order(domain="ONDC:RET11", msn=True), BOTH_ONE_PERCENT)
    assert figures == ("33.63", "9.50", "9.50", "947.37", "52.63")


def test_msn_and_isn_applicability() -> None:
    msn_only = TaxRates(D(1), D(2), Applicability.MSN, Applicability.ISN)
    # order is MSN: TCS (MSN) applies, TDS (ISN) does not
    assert _figures(_order(msn=True), msn_only) == ("33.63", "9.50", "0.00", "956.87", "43.13")
    # order is not MSN: the other way round, TDS at 2%
    assert _figures(_order(msn=False), msn_only) == ("33.63", "0.00", "19.00", "947.37", "52.63")


def test_none_applicability_levies_nothing() -> None:
    none = TaxRates(D(1), D(1), Applicability.NONE, Applicability.NONE)
    assert _figures(_order(), none) == ("33.63", "0.00", "0.00", "966.37", "33.63")


def test_levies_round_half_up_to_paise() -> None:
    order = OrderAmounts(D("950.50"), D("0"), D("0"), D("0"), CollectedBy.BAP, "ONDC:RET10", False)
    amounts = user_strategy(order, TaxRates(D(1), D("0.5"), Applicability.BOTH, Applicability.BOTH))
    assert (amounts.tcs, amounts.tds) == (D("9.51"), D("4.75"))  # 9.505 -> 9.51; 4.7525 -> 4.75
    assert amounts.inter_np_settlement + amounts.collector_settlement == D("950.50")


@pytest.mark.parametrize(
    ("applicability", "msn", "expected"),
    [
        (Applicability.BOTH, True, True),
        (Applicability.BOTH, False, True),
        (Applicability.ISN, False, True),
        (Applicability.ISN, True, False),
        (Applicability.MSN, True, True),
        (Applicability.MSN, False, False),
        (Applicability.NONE, True, False),
        (Applicability.NONE, False, False),
    ],
)
def test_applicability_table(applicability: Applicability, msn: bool, expected: bool) -> None:
    assert applies(applicability, msn) is expected


def test_recon_strategy_takes_agreed_figures_and_leaves_collector_zero() -> None:
    agreed = ReconBreakdown(
        amount=D("940.00"),
        commission=D("30.00"),
        withholding_amount=D("0"),
        tcs=D("9.5"),
        tds=D("9.5"),
    )
    amounts = recon_strategy(D("1000"), agreed)
    assert amounts.inter_np_settlement == D("940.00")
    assert amounts.commission == D("30.00")
    assert (amounts.tcs, amounts.tds) == (D("9.50"), D("9.50"))
    assert amounts.collector_settlement == D("0.00")
    assert amounts.total_order_value == D("1000.00")
