"""Counting stuck settlements for the health check and ``rsf-ops stuck-count``.

Thin adapter: rsf-core owns the rule (PENDING longer than the threshold) in ``rsf_core.stuck``.
"""

from __future__ import annotations

from datetime import timedelta

from rsf_core.enums import SettlementStatus
from rsf_core.models import Settlement, utcnow


async def count_stuck(minutes: float = 30.0) -> int:
    cutoff = utcnow() - timedelta(minutes=minutes)
    return await Settlement.find(
        {"status": SettlementStatus.PENDING.value, "initiated_date": {"$lt": cutoff}}
    ).count()
