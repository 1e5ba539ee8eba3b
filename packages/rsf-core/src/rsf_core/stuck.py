"""The runbook's stuck settlements: PENDING longer than a threshold (by ``initiated_date``).

The guide resets them with one ``updateMany`` to a failed status with error "Timeout reset";
here the failed status is NOT_SETTLED and ``settled_date`` records when the final status was
reached (the success-rate metric counts it). Only ``status`` is the runbook's; the provider and
self parts of a MISC settlement that are still PENDING get the same reset in their own field.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from rsf_core.datetime_writes import set_fields_many
from rsf_core.enums import SettlementStatus
from rsf_core.models import Settlement, utcnow

DEFAULT_STUCK_AFTER = timedelta(minutes=30)
TIMEOUT_RESET_ERROR = "Timeout reset"


def _threshold(older_than: timedelta, older_than_minutes: float | None) -> timedelta:
    if older_than_minutes is not None:
        older_than = timedelta(minutes=older_than_minutes)
    if older_than < timedelta(0):
        raise ValueError("older_than must not be negative")
    return older_than


def stuck_filter(cutoff: datetime) -> dict[str, Any]:
    return {"status": SettlementStatus.PENDING.value, "initiated_date": {"$lt": cutoff}}


async def count_stuck_settlements(
    older_than: timedelta = DEFAULT_STUCK_AFTER,
    now: datetime | None = None,
    *,
    older_than_minutes: float | None = None,
) -> int:
    """How many settlements :func:`reset_stuck_settlements` would reset right now."""
    cutoff = (now or utcnow()) - _threshold(older_than, older_than_minutes)
    return await Settlement.find(stuck_filter(cutoff)).count()


async def reset_stuck_settlements(
    older_than: timedelta = DEFAULT_STUCK_AFTER,
    now: datetime | None = None,
    *,
    older_than_minutes: float | None = None,
) -> int:
    """PENDING settlements initiated before ``now - older_than`` -> NOT_SETTLED; returns the count.

    ``older_than_minutes`` is a convenience for command lines (it wins over ``older_than``).
    """
    now = now or utcnow()
    cutoff = now - _threshold(older_than, older_than_minutes)
    failed = SettlementStatus.NOT_SETTLED.value
    collection = Settlement.get_pymongo_collection()
    reset = await set_fields_many(
        collection,
        stuck_filter(cutoff),
        {"status": failed, "error": TIMEOUT_RESET_ERROR, "settled_date": now, "updated_at": now},
    )
    for part in ("provider_status", "self_status"):
        await set_fields_many(
            collection,
            {part: SettlementStatus.PENDING.value, "initiated_date": {"$lt": cutoff}},
            {part: failed, "updated_at": now},
        )
    return reset
