"""The runbook's "reset stuck settlements": only PENDING older than the threshold changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rsf_core.enums import SettlementStatus
from rsf_core.models import Settlement, utcnow
from rsf_core.stuck import count_stuck_settlements, reset_stuck_settlements

pytestmark = pytest.mark.usefixtures("beanie_db")


async def _settlement(order_id: str, status: SettlementStatus, minutes_ago: float | None) -> None:
    now = utcnow()
    await Settlement(
        settlement_id=f"s-{order_id}",
        order_id=order_id,
        user_id="u1",
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        status=status,
        provider_status=status,
        self_status=status,
        initiated_date=None if minutes_ago is None else now - timedelta(minutes=minutes_ago),
    ).insert()


async def _status(order_id: str) -> Settlement:
    found = await Settlement.find_one({"order_id": order_id})
    assert found is not None
    return found


async def test_reset_only_old_pending() -> None:
    await _settlement("old-pending", SettlementStatus.PENDING, 45)
    await _settlement("older-pending", SettlementStatus.PENDING, 24 * 60)
    await _settlement("fresh-pending", SettlementStatus.PENDING, 5)
    await _settlement("old-settled", SettlementStatus.SETTLED, 90)
    await _settlement("prepared", SettlementStatus.PREPARED, None)

    assert await count_stuck_settlements() == 2
    now = utcnow()
    assert await reset_stuck_settlements(now=now) == 2

    for order_id in ("old-pending", "older-pending"):
        reset = await _status(order_id)
        assert reset.status is SettlementStatus.NOT_SETTLED
        assert reset.provider_status is SettlementStatus.NOT_SETTLED
        assert reset.error == "Timeout reset"
        assert reset.settled_date == now
    assert (await _status("fresh-pending")).status is SettlementStatus.PENDING
    assert (await _status("fresh-pending")).error is None
    assert (await _status("old-settled")).status is SettlementStatus.SETTLED
    assert (await _status("prepared")).status is SettlementStatus.PREPARED

    # Running it again finds nothing left to reset.
    assert await reset_stuck_settlements(now=now) == 0


async def test_threshold_is_configurable() -> None:
    await _settlement("ten-minutes", SettlementStatus.PENDING, 10)
    assert await reset_stuck_settlements(older_than=timedelta(minutes=15)) == 0
    assert await reset_stuck_settlements(older_than_minutes=5) == 1
    assert (await _status("ten-minutes")).status is SettlementStatus.NOT_SETTLED
    with pytest.raises(ValueError, match="negative"):
        await reset_stuck_settlements(older_than=timedelta(minutes=-1))
