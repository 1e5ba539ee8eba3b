"""Business KPIs: event counters by value, and the hourly aggregation over nx-27017."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

import pytest
from rsf_core.business_metrics import (
    BusinessMetricsCollector,
    observe_discrepancy,
    observe_recon_duration,
    observe_settlement_duration,
    record_settle_outcome,
    record_settled_volume,
    settled_amount,
)
from rsf_core.enums import ReconStatus, Role, SettlementStatus
from rsf_core.models import ReconBreakdown, Reconciliation, Settlement, utcnow
from rsf_observability.metrics import RsfMetrics

from tests.support.polling import async_wait_until


def _value(metrics: RsfMetrics, name: str, labels: dict[str, str] | None = None) -> float | None:
    return metrics.registry.get_sample_value(name, labels or {})


def test_settle_outcomes_are_counted_with_bounded_labels() -> None:
    metrics = RsfMetrics()
    record_settle_outcome(metrics, SettlementStatus.SETTLED, Role.BAP)
    record_settle_outcome(metrics, "SETTLED", "BAP")
    record_settle_outcome(metrics, "NOT_SETTLED", Role.BPP)
    record_settle_outcome(metrics, "'; DROP TABLE", "admin")
    total = "settlement_requests_total"
    assert _value(metrics, total, {"status": "SETTLED", "user_type": "BAP"}) == 2
    assert _value(metrics, total, {"status": "NOT_SETTLED", "user_type": "BPP"}) == 1
    assert _value(metrics, total, {"status": "other", "user_type": "other"}) == 1


def test_settled_volume_by_currency_and_agency() -> None:
    metrics = RsfMetrics()
    record_settled_volume(metrics, Decimal("947.37"), agency="sa.example.com")
    record_settled_volume(metrics, "52.63", agency="sa.example.com")
    record_settled_volume(metrics, "0", agency="sa.example.com")  # nothing moved
    record_settled_volume(metrics, "10", "USD", agency="sa.example.com")
    labels = {"currency": "INR", "agency": "sa.example.com"}
    assert _value(metrics, "settlement_volume_total", labels) == pytest.approx(1000.0)
    assert _value(metrics, "settlement_volume_total", {**labels, "currency": "other"}) == 10


def test_durations_and_discrepancies_are_observed() -> None:
    metrics = RsfMetrics()
    start = utcnow()
    observe_settlement_duration(metrics, start, start + timedelta(seconds=90))
    observe_settlement_duration(metrics, None, start)  # unknown start: skipped
    observe_settlement_duration(metrics, start, start - timedelta(seconds=1))  # clock skew: skipped
    assert _value(metrics, "settlement_processing_duration_seconds_count") == 1
    assert _value(metrics, "settlement_processing_duration_seconds_sum") == 90
    assert _value(metrics, "settlement_processing_duration_seconds_bucket", {"le": "60.0"}) == 0
    assert _value(metrics, "settlement_processing_duration_seconds_bucket", {"le": "300.0"}) == 1

    observe_recon_duration(metrics, start, start + timedelta(seconds=2))
    assert _value(metrics, "reconciliation_processing_duration_seconds_sum") == 2

    observe_discrepancy(metrics, Decimal("7.37"))
    observe_discrepancy(metrics, "0.00")
    assert _value(metrics, "reconciliation_discrepancy_amount_count") == 2
    assert _value(metrics, "reconciliation_discrepancy_amount_bucket", {"le": "0.0"}) == 1
    assert _value(metrics, "reconciliation_discrepancy_amount_bucket", {"le": "10.0"}) == 2


@pytest.mark.usefixtures("beanie_db")
def test_settled_amount_of_np_np_and_misc() -> None:
    base = {
        "settlement_id": "s",
        "order_id": "o",
        "user_id": "u",
        "collector_id": "a",
        "receiver_id": "b",
    }
    assert settled_amount(Settlement(**base, inter_np_settlement=Decimal("947.37"))) == Decimal(
        "947.37"
    )
    misc = Settlement(**base, provider_amount=Decimal("10"), self_amount=Decimal("2.50"))
    assert settled_amount(misc) == Decimal("12.50")


async def _final(order_id: str, status: SettlementStatus, minutes_ago: float) -> None:
    now = utcnow()
    await Settlement(
        settlement_id=f"s-{order_id}",
        order_id=order_id,
        user_id="u1",
        collector_id="a",
        receiver_id="b",
        status=status,
        initiated_date=now - timedelta(minutes=minutes_ago + 1),
        settled_date=now - timedelta(minutes=minutes_ago),
    ).insert()


async def _answered(order_id: str, accord: bool, minutes_ago: float) -> None:
    breakdown = ReconBreakdown(amount=1, commission=0, withholding_amount=0, tcs=0, tds=0)
    await Reconciliation(
        user_id="u1",
        order_id=order_id,
        collector_id="a",
        receiver_id="b",
        recon_status=ReconStatus.SENT_ACCEPTED if accord else ReconStatus.SENT_REJECTED,
        recon_breakdown=breakdown,
        recon_accord=accord,
        answered_at=utcnow() - timedelta(minutes=minutes_ago),
    ).insert()


@pytest.mark.usefixtures("beanie_db")
async def test_refresh_computes_success_rate_and_accuracy_over_the_last_hour() -> None:
    for i in range(3):
        await _final(f"ok-{i}", SettlementStatus.SETTLED, 10)
    await _final("failed", SettlementStatus.NOT_SETTLED, 20)
    await _final("old-failure", SettlementStatus.NOT_SETTLED, 120)  # outside the hour
    await _final("still-pending", SettlementStatus.PENDING, 5)
    await _answered("r1", True, 5)
    await _answered("r2", True, 15)
    await _answered("r3", True, 25)
    await _answered("r4", False, 35)
    await _answered("r-old", False, 300)

    metrics = RsfMetrics()
    snapshot = await BusinessMetricsCollector(metrics).refresh()
    assert (snapshot.settled, snapshot.not_settled) == (3, 1)
    assert _value(metrics, "settlement_success_rate_percent") == 75.0
    assert (snapshot.recon_accord, snapshot.recon_answered) == (3, 4)
    assert _value(metrics, "reconciliation_accuracy_percent") == 75.0


@pytest.mark.usefixtures("beanie_db")
async def test_quiet_window_reports_nan_not_zero() -> None:
    metrics = RsfMetrics()
    await _final("long-ago", SettlementStatus.NOT_SETTLED, 180)
    await BusinessMetricsCollector(metrics).refresh()
    rate = _value(metrics, "settlement_success_rate_percent")
    assert rate is not None
    assert math.isnan(rate)
    accuracy = _value(metrics, "reconciliation_accuracy_percent")
    assert accuracy is not None
    assert math.isnan(accuracy)


@pytest.mark.usefixtures("beanie_db")
async def test_window_is_configurable() -> None:
    await _final("two-hours", SettlementStatus.SETTLED, 120)
    metrics = RsfMetrics()
    snapshot = await BusinessMetricsCollector(metrics, window=timedelta(hours=3)).refresh()
    assert snapshot.settled == 1
    assert _value(metrics, "settlement_success_rate_percent") == 100.0


@pytest.mark.usefixtures("beanie_db")
async def test_start_refreshes_on_the_interval_and_stop_ends_it() -> None:
    await _final("ok", SettlementStatus.SETTLED, 1)
    metrics = RsfMetrics()
    collector = BusinessMetricsCollector(metrics, interval=0.05)
    collector.start()
    try:
        assert collector.running
        await async_wait_until(lambda: _value(metrics, "settlement_success_rate_percent") == 100.0)
        await _final("failed", SettlementStatus.NOT_SETTLED, 1)
        # a later tick sees the new settlement without anyone calling refresh()
        await async_wait_until(lambda: _value(metrics, "settlement_success_rate_percent") == 50.0)
    finally:
        await collector.stop()
    assert not collector.running


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BusinessMetricsCollector(RsfMetrics(), interval=0)
