"""Built-in checks for :class:`~rsf_observability.health.HealthMonitor`.

Each factory returns a ``HealthCheck`` (an async callable returning a ``CheckResult``) to
register under a name of the app's choosing. pymongo is imported only inside the database check,
so the SDK works without it.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx
import psutil

from rsf_observability.health import CheckResult, HealthCheck, HealthState
from rsf_observability.metrics import RsfMetrics
from rsf_observability.sanitize import escape_control

if TYPE_CHECKING:
    from pymongo import AsyncMongoClient


def _error_text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return escape_control(f"{type(exc).__name__}: {text}"[:500])


def database_check(
    client: AsyncMongoClient[Any],
    *,
    metrics: RsfMetrics | None = None,
    database: str = "mongodb",
    instance: str | None = None,
    timeout: float = 2.0,
) -> HealthCheck:
    """MongoDB ``ping`` over the app's own pymongo ``AsyncMongoClient``.

    Sets ``db_health_status{database,instance}`` and observes
    ``db_operation_duration_seconds{operation="ping",collection="admin"}``. The ping is bounded by
    ``timeout`` with ``asyncio.wait_for``: pymongo waits up to ``serverSelectionTimeoutMS`` (30 s
    by default) for a dead server, and forever for a hung one (no socket timeout by default).
    The same client recovers by itself once the server answers again: its monitor rediscovers
    the server and the cancelled connection is discarded, so nothing is rebuilt here.
    """
    instance_label = instance or socket.gethostname()

    def _set_status(up: bool) -> None:
        if metrics is not None:
            metrics.db_health_status.labels(database=database, instance=instance_label).set(
                1 if up else 0
            )

    async def check() -> CheckResult:
        started = time.perf_counter()
        healthy = False
        try:
            await asyncio.wait_for(client.admin.command("ping"), timeout)
            healthy = True
        except TimeoutError:
            return CheckResult.unhealthy(f"ping timed out after {timeout:g}s")
        except Exception as exc:
            return CheckResult.unhealthy(_error_text(exc))
        finally:
            elapsed = time.perf_counter() - started
            _set_status(healthy)
            if metrics is not None:
                metrics.db_operation_duration_seconds.labels(
                    operation="ping", collection="admin"
                ).observe(elapsed)
        return CheckResult(HealthState.HEALTHY, latency_ms=round(elapsed * 1000, 3))

    return check


def system_resources_check(
    *,
    cpu_threshold: float = 90.0,
    memory_threshold: float = 90.0,
    disk_threshold: float = 90.0,
    disk_path: str = "/",
) -> HealthCheck:
    """CPU, memory and disk usage (percent, via psutil) against thresholds (the guide's 90%).

    Any usage above its threshold makes the check unhealthy. CPU is the usage since the
    previous call (``psutil.cpu_percent(interval=None)``), so the check never blocks.
    """
    psutil.cpu_percent(interval=None)  # primes the counter; the first reading is meaningless

    async def check() -> CheckResult:
        cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory().percent
        disk = (await asyncio.to_thread(psutil.disk_usage, disk_path)).percent
        usage = {"cpuUsage": cpu, "memoryUsage": memory, "diskUsage": disk}
        over = [
            f"{name} {value:.1f}% > {limit:g}%"
            for name, value, limit in (
                ("cpu", cpu, cpu_threshold),
                ("memory", memory, memory_threshold),
                ("disk", disk, disk_threshold),
            )
            if value > limit
        ]
        if over:
            return CheckResult(HealthState.UNHEALTHY, usage, "; ".join(over))
        return CheckResult(HealthState.HEALTHY, usage)

    return check


def http_check(
    url: str,
    *,
    timeout: float = 2.0,
    client: httpx.AsyncClient | None = None,
    healthy_statuses: Callable[[int], bool] = lambda status: status < 400,
    headers: Mapping[str, str] | None = None,
) -> HealthCheck:
    """GET ``url`` (an external service's health endpoint) with a timeout.

    Pass a long-lived ``client`` to reuse connections; otherwise one is made per check.
    """

    async def _get(http: httpx.AsyncClient) -> httpx.Response:
        return await http.get(url, timeout=timeout, headers=dict(headers or {}))

    async def check() -> CheckResult:
        try:
            if client is not None:
                response = await _get(client)
            else:
                async with httpx.AsyncClient() as http:
                    response = await _get(http)
        except httpx.HTTPError as exc:
            return CheckResult.unhealthy(_error_text(exc), url=url)
        details = {"url": url, "statusCode": response.status_code}
        if healthy_statuses(response.status_code):
            return CheckResult(HealthState.HEALTHY, details)
        return CheckResult(
            HealthState.UNHEALTHY, details, f"unexpected status {response.status_code}"
        )

    return check


BusinessResult = CheckResult | bool | Mapping[str, Any] | None


def business_check(probe: Callable[[], Awaitable[BusinessResult]]) -> HealthCheck:
    """Any async callable as a check (e.g. "no settlement stuck for over an hour").

    ``probe`` may return a ``CheckResult``; ``True``/``None`` (healthy) or ``False``
    (unhealthy); or a mapping of details, healthy unless it holds ``"healthy": False``.
    A raised exception makes the check unhealthy with its message.
    """

    async def check() -> CheckResult:
        outcome = probe()
        result = await outcome if inspect.isawaitable(outcome) else outcome
        if isinstance(result, CheckResult):
            return result
        if result is None or result is True:
            return CheckResult.healthy()
        if result is False:
            return CheckResult.unhealthy("business check failed")
        if isinstance(result, Mapping):
            details = dict(result)
            healthy = details.pop("healthy", True)
            error = details.pop("error", None)
            if healthy:
                return CheckResult(HealthState.HEALTHY, details)
            return CheckResult(
                HealthState.UNHEALTHY, details, str(error) if error else "business check failed"
            )
        return CheckResult.unhealthy(f"business check returned {type(result).__name__}")

    return check
