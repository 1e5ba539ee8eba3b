"""The guide's BusinessMetricsCollector: settlement and reconciliation KPIs.

Two halves. Event functions are called where things happen (the on_settle processor, the
on_recon processor): outcome counts, settled volume, durations, discrepancies. The collector
aggregates over the database on an interval (hourly by default, as in the guide) for the two
percentages.

Departures from the guide, and why:

- Success rate counts settlements that reached a final status (``settled_date``) in the window:
  SETTLED / (SETTLED + NOT_SETTLED). The guide matched on ``createdAt``, which measures when
  work was queued, not how it ended.
- With nothing to measure in the window the gauges are NaN, not 0: a quiet hour is not a 0%
  success rate, and ``settlement_success_rate_percent < 95`` must not page anyone for it.
- Volume is counted on the event (each settled amount once), not re-summed every hour: the
  guide's hourly ``inc(sum)`` over a sliding window double-counts when the interval is shorter
  than the window. nx-27017 also sums string amounts as numbers, which MongoDB would not.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from rsf_observability.logger import get_logger
from rsf_observability.metrics import RsfMetrics

from rsf_core.enums import Role, SettlementStatus
from rsf_core.models import Reconciliation, Settlement, utcnow
from rsf_core.money import to_decimal

_log = get_logger("BusinessMetricsCollector")

SETTLE_OUTCOMES: frozenset[str] = frozenset(
    {
        SettlementStatus.SETTLED.value,
        SettlementStatus.NOT_SETTLED.value,
        SettlementStatus.PENDING.value,
        "NACK",
        "ERROR",
    }
)
USER_TYPES: frozenset[str] = frozenset(role.value for role in Role)
CURRENCIES: frozenset[str] = frozenset({"INR"})
OTHER = "other"
DEFAULT_INTERVAL = 3600.0
DEFAULT_WINDOW = timedelta(hours=1)


def _bounded(value: object, allowed: frozenset[str]) -> str:
    text = getattr(value, "value", value)
    return text if isinstance(text, str) and text in allowed else OTHER


# --- events ----------------------------------------------------------------------------------


def record_settle_outcome(metrics: RsfMetrics, status: object, user_type: object) -> None:
    """One settle outcome: SETTLED / NOT_SETTLED (on_settle), PENDING (ACKed), NACK, ERROR.

    ``user_type`` is the participant's role (BAP / BPP); anything else is labelled "other".
    """
    metrics.settlement_requests_total.labels(
        status=_bounded(status, SETTLE_OUTCOMES), user_type=_bounded(user_type, USER_TYPES)
    ).inc()


def record_settled_volume(
    metrics: RsfMetrics, amount: object, currency: str = "INR", *, agency: str
) -> None:
    """Add a settled amount. ``agency`` must be the configured SA subscriber id, never input."""
    value = to_decimal(amount)
    if value <= 0:
        return
    metrics.settlement_volume_total.labels(
        currency=_bounded(currency, CURRENCIES), agency=agency
    ).inc(float(value))


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None


def observe_settlement_duration(
    metrics: RsfMetrics, initiated: datetime | None, final: datetime | None
) -> None:
    """Initiated (settle ACKed) to final status; skipped when either end is unknown."""
    seconds = _seconds_between(initiated, final)
    if seconds is not None:
        metrics.settlement_processing_duration_seconds.observe(seconds)


def observe_recon_duration(
    metrics: RsfMetrics, sent: datetime | None, answered: datetime | None
) -> None:
    """Recon sent to on_recon answered."""
    seconds = _seconds_between(sent, answered)
    if seconds is not None:
        metrics.reconciliation_processing_duration_seconds.observe(seconds)


def observe_discrepancy(metrics: RsfMetrics, amount: object) -> None:
    """One order answered without accord: the sum of its diff values."""
    metrics.reconciliation_discrepancy_amount.observe(float(abs(to_decimal(amount))))


# --- aggregation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BusinessSnapshot:
    settled: int
    not_settled: int
    recon_answered: int
    recon_accord: int
    success_rate_percent: float
    accuracy_percent: float


def _percent(part: int, whole: int) -> float:
    return part / whole * 100 if whole else math.nan


# The guide groups with one pipeline, ``[{$match: {settled_date: {$gte, $lte}, status: {$in}}},
# {$group: {_id: "$status", count: {$sum: 1}}}]``. nx-27017 evaluates date comparisons inside an
# aggregate ``$match`` wrongly (``$lte`` on a date never matches, ``$gte`` always does), so the
# same counts are taken with one ``count_documents`` per group value, which it answers correctly
# and which any MongoDB serves from the ``settled_date`` / ``answered_at`` indexes.


async def settlement_outcomes(since: datetime, until: datetime) -> dict[str, int]:
    """Final statuses reached in [since, until], by status."""
    window = {"$gte": since, "$lte": until}
    collection = Settlement.get_pymongo_collection()
    return {
        status.value: await collection.count_documents(
            {"settled_date": window, "status": status.value}
        )
        for status in (SettlementStatus.SETTLED, SettlementStatus.NOT_SETTLED)
    }


async def recon_accords(since: datetime, until: datetime) -> dict[bool, int]:
    """Recons answered in [since, until], by accord."""
    window = {"$gte": since, "$lte": until}
    collection = Reconciliation.get_pymongo_collection()
    return {
        accord: await collection.count_documents({"answered_at": window, "recon_accord": accord})
        for accord in (True, False)
    }


class BusinessMetricsCollector:
    """Refreshes the percentage gauges from the database every ``interval`` seconds."""

    def __init__(
        self,
        metrics: RsfMetrics,
        interval: float = DEFAULT_INTERVAL,
        *,
        window: timedelta = DEFAULT_WINDOW,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.metrics = metrics
        self.interval = interval
        self.window = window
        self._task: asyncio.Task[None] | None = None
        self.last: BusinessSnapshot | None = None

    async def refresh(self, now: datetime | None = None) -> BusinessSnapshot:
        """Aggregate the last ``window`` and set both gauges; returns what was computed."""
        until = now or utcnow()
        since = until - self.window
        outcomes = await settlement_outcomes(since, until)
        accords = await recon_accords(since, until)
        settled = outcomes.get(SettlementStatus.SETTLED.value, 0)
        not_settled = outcomes.get(SettlementStatus.NOT_SETTLED.value, 0)
        agreed, answered = accords.get(True, 0), sum(accords.values())
        snapshot = BusinessSnapshot(
            settled=settled,
            not_settled=not_settled,
            recon_answered=answered,
            recon_accord=agreed,
            success_rate_percent=_percent(settled, settled + not_settled),
            accuracy_percent=_percent(agreed, answered),
        )
        self.metrics.settlement_success_rate_percent.set(snapshot.success_rate_percent)
        self.metrics.reconciliation_accuracy_percent.set(snapshot.accuracy_percent)
        self.last = snapshot
        return snapshot

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database hiccup must not end the loop
                _log.warning("Business metrics refresh failed", error=type(exc).__name__)
            await asyncio.sleep(self.interval)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Refresh now and then every ``interval`` seconds, on the running event loop."""
        if not self.running:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="business-metrics"
            )

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def settled_amount(settlement: Settlement) -> Decimal:
    """What a settlement moved when SETTLED: the inter-participant amount (MISC: its parts)."""
    if settlement.provider_amount is not None or settlement.self_amount is not None:
        return (settlement.provider_amount or Decimal(0)) + (settlement.self_amount or Decimal(0))
    return settlement.inter_np_settlement
