"""HealthMonitor: named async checks run concurrently, each bounded by its own timeout.

The report is cached for a short TTL and concurrent callers share the run in flight, so health
endpoints polled by many probes cannot hammer the database. A background task re-checks on an
interval so gauges such as ``db_health_status`` stay current even when nobody asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

import psutil

from rsf_observability.sanitize import escape_control
from rsf_observability.settings import ObservabilitySettings

logger = logging.getLogger("rsf.health")

T = TypeVar("T")

_CANCEL_GRACE = 0.05


class HealthState(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class CheckResult:
    """What a check returns: its own verdict and anything worth showing in the report."""

    status: HealthState = HealthState.HEALTHY
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    latency_ms: float | None = None
    """Set by checks that time only part of their work (the database ping); else measured."""

    @classmethod
    def healthy(cls, **details: Any) -> CheckResult:
        return cls(HealthState.HEALTHY, details)

    @classmethod
    def unhealthy(cls, error: str, **details: Any) -> CheckResult:
        return cls(HealthState.UNHEALTHY, details, error)


HealthCheck = Callable[[], Awaitable[CheckResult]]


@dataclass(frozen=True)
class ServiceHealth:
    """One check's outcome as the report shows it."""

    name: str
    status: HealthState
    critical: bool
    latency_ms: float | None
    last_check: datetime
    details: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not HealthState.UNHEALTHY

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "critical": self.critical,
            "latency": self.latency_ms,
            "details": dict(self.details),
            "error": self.error,
            "lastCheck": _iso(self.last_check),
        }


@dataclass(frozen=True)
class HealthReport:
    """The overall verdict and every service's outcome."""

    status: HealthState
    services: Mapping[str, ServiceHealth]
    last_check: datetime
    uptime: float
    version: str

    @property
    def http_status(self) -> int:
        """200 while the app can serve (healthy or degraded), 503 when unhealthy."""
        return 503 if self.status is HealthState.UNHEALTHY else 200

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "timestamp": _iso(self.last_check),
            "uptime": round(self.uptime, 3),
            "version": self.version,
            "services": {name: svc.to_dict() for name, svc in self.services.items()},
        }


@dataclass(frozen=True)
class _Registration:
    check: HealthCheck
    timeout: float
    critical: bool


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _now() -> datetime:
    return datetime.now(UTC)


def overall_status(services: Mapping[str, ServiceHealth]) -> HealthState:
    """``unhealthy`` if a critical check fails, ``degraded`` if only others do, else healthy."""
    failing = [svc for svc in services.values() if svc.status is not HealthState.HEALTHY]
    if any(svc.critical and svc.status is HealthState.UNHEALTHY for svc in failing):
        return HealthState.UNHEALTHY
    return HealthState.DEGRADED if failing else HealthState.HEALTHY


class _SharedRun(Generic[T]):
    """Cache one coroutine's result for ``ttl`` seconds; concurrent callers share one run."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._value: T | None = None
        self._at = float("-inf")
        self._inflight: asyncio.Future[T] | None = None

    @property
    def last(self) -> T | None:
        return self._value

    @property
    def fresh(self) -> T | None:
        """The cached value while younger than ``ttl``, else ``None``."""
        return self._value if time.monotonic() - self._at < self.ttl else None

    async def get(self, run: Callable[[], Awaitable[T]], *, force: bool = False) -> T:
        fresh = self.fresh
        if not force and fresh is not None:
            return fresh
        inflight = self._inflight
        if (
            inflight is None
            or inflight.done()
            or inflight.get_loop() is not asyncio.get_running_loop()  # e.g. a new test loop
        ):
            self._inflight = inflight = asyncio.ensure_future(self._run(run))
        # shield: one caller giving up must not cancel the run the others wait for.
        return await asyncio.shield(inflight)

    async def _run(self, run: Callable[[], Awaitable[T]]) -> T:
        value = await run()
        self._value, self._at = value, time.monotonic()
        return value


def _process_start() -> float:
    try:
        return psutil.Process().create_time()
    except psutil.Error:  # pragma: no cover - only where /proc is unreadable
        return time.time()


class HealthMonitor:
    """A registry of named async checks and the report they add up to.

    ``register()`` checks, then call ``perform_health_check()`` (cached for ``cache_ttl``) or
    ``check(name)`` for one service. ``start()``/``stop()`` run the background re-check loop and
    drive readiness; call them from the app's lifespan.
    """

    def __init__(
        self,
        settings: ObservabilitySettings | None = None,
        *,
        default_timeout: float | None = None,
        cache_ttl: float | None = None,
        interval: float | None = None,
        version: str | None = None,
    ) -> None:
        settings = settings or ObservabilitySettings()
        self.default_timeout = default_timeout or settings.health_check_timeout
        self.cache_ttl = settings.health_cache_ttl if cache_ttl is None else cache_ttl
        self.interval = interval or settings.health_interval
        self.version = version or settings.service_version
        self._checks: dict[str, _Registration] = {}
        self._report = _SharedRun[HealthReport](self.cache_ttl)
        self._single: dict[str, _SharedRun[ServiceHealth]] = {}
        self._abandoned: set[asyncio.Task[CheckResult]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._ready = False
        self._started_at = _process_start()

    # --- registry ---------------------------------------------------------------------------
    def register(
        self,
        name: str,
        check: HealthCheck,
        *,
        timeout: float | None = None,
        critical: bool = True,
    ) -> None:
        """Add (or replace) a check; a critical failure makes the whole app ``unhealthy``."""
        self._checks[name] = _Registration(check, timeout or self.default_timeout, critical)
        self._single.pop(name, None)

    def unregister(self, name: str) -> None:
        self._checks.pop(name, None)
        self._single.pop(name, None)

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    def __contains__(self, name: object) -> bool:
        return name in self._checks

    # --- running ----------------------------------------------------------------------------
    @property
    def uptime(self) -> float:
        """Seconds since the process started (the guide's ``process.uptime()``)."""
        return max(0.0, time.time() - self._started_at)

    @property
    def last_report(self) -> HealthReport | None:
        return self._report.last

    async def perform_health_check(self, *, force: bool = False) -> HealthReport:
        """Every check run concurrently; a fresh cached report is returned unless ``force``."""
        return await self._report.get(self._run_all, force=force)

    async def check(self, name: str, *, force: bool = False) -> ServiceHealth:
        """One service's health, taken from a fresh full report or run on its own (cached)."""
        registration = self._checks.get(name)
        if registration is None:
            raise KeyError(name)
        report = self._report.fresh
        if not force and report is not None and name in report.services:
            return report.services[name]
        runner = self._single.setdefault(name, _SharedRun[ServiceHealth](self.cache_ttl))
        return await runner.get(lambda: self._run_one(name, registration), force=force)

    async def _run_all(self) -> HealthReport:
        items = list(self._checks.items())
        results = await asyncio.gather(*(self._run_one(name, reg) for name, reg in items))
        services = {svc.name: svc for svc in results}
        report = HealthReport(
            status=overall_status(services),
            services=services,
            last_check=_now(),
            uptime=self.uptime,
            version=self.version,
        )
        self._log_changes(report)
        return report

    async def _run_one(self, name: str, registration: _Registration) -> ServiceHealth:
        started = time.perf_counter()
        task = asyncio.ensure_future(registration.check())
        # asyncio.wait, not wait_for: a check that ignores cancellation still costs only its
        # timeout (plus a short grace); it is cancelled and left to finish on its own.
        done, _ = await asyncio.wait({task}, timeout=registration.timeout)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        if not done:
            task.cancel()
            # A well-behaved check finishes its cleanup (e.g. setting a gauge) in a moment.
            await asyncio.wait({task}, timeout=_CANCEL_GRACE)
            if not task.done():
                self._abandoned.add(task)
            task.add_done_callback(self._forget)
        if not done or task.cancelled():
            return ServiceHealth(
                name,
                HealthState.UNHEALTHY,
                registration.critical,
                elapsed_ms,
                _now(),
                error=f"timed out after {registration.timeout:g}s",
            )
        try:
            result = task.result()
        except Exception as exc:
            return ServiceHealth(
                name,
                HealthState.UNHEALTHY,
                registration.critical,
                elapsed_ms,
                _now(),
                error=escape_control(f"{type(exc).__name__}: {exc}"),
            )
        if not isinstance(result, CheckResult):
            result = CheckResult.unhealthy(f"check returned {type(result).__name__}")
        return ServiceHealth(
            name,
            result.status,
            registration.critical,
            result.latency_ms if result.latency_ms is not None else elapsed_ms,
            _now(),
            details=result.details,
            error=result.error,
        )

    def _forget(self, task: asyncio.Task[CheckResult]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved so asyncio does not warn about it

    def _log_changes(self, report: HealthReport) -> None:
        previous = self._report.last
        for name, svc in report.services.items():
            before = previous.services.get(name) if previous else None
            if before is not None and before.status is svc.status:
                continue
            if svc.status is HealthState.HEALTHY:
                if before is not None:
                    logger.info("Health check recovered", extra={"check": name})
            else:
                logger.warning(
                    "Health check failing",
                    extra={"check": name, "health_status": svc.status.value, "error": svc.error},
                )

    # --- lifecycle and readiness ------------------------------------------------------------
    @property
    def ready(self) -> bool:
        return self._ready

    def mark_ready(self) -> None:
        """Startup finished: ``/health/ready`` may answer 200 (while critical checks pass)."""
        self._ready = True

    def mark_not_ready(self) -> None:
        self._ready = False

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    async def start(self) -> None:
        """Start the background re-check loop and mark the app ready; idempotent."""
        if not self.running:
            self._loop_task = asyncio.create_task(self._loop(), name="rsf-health-monitor")
        self.mark_ready()

    async def stop(self) -> None:
        """Mark not ready (so orchestrators drain traffic) and end the background loop."""
        self.mark_not_ready()
        task, self._loop_task = self._loop_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for abandoned in list(self._abandoned):
            abandoned.cancel()

    async def _loop(self) -> None:
        while True:
            try:
                await self.perform_health_check(force=True)
            except Exception:
                logger.exception("Health check run failed")
            await asyncio.sleep(self.interval)
