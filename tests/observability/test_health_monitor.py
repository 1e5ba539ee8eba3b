"""HealthMonitor rules: concurrency, timeouts, criticality, caching, background loop, checks."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client import generate_latest
from rsf_observability.health import (
    CheckResult,
    HealthMonitor,
    HealthState,
)
from rsf_observability.health_checks import (
    business_check,
    database_check,
    http_check,
    system_resources_check,
)
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_server.embedded_store import EmbeddedStore
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.polling import async_wait_until
from tests.support.uvicorn_server import serve_on_loopback as _serve


def _monitor(**kwargs: float) -> HealthMonitor:
    return HealthMonitor(ObservabilitySettings(), **kwargs)  # type: ignore[arg-type]


async def _ok() -> CheckResult:
    return CheckResult.healthy()


async def _failing() -> CheckResult:
    raise ConnectionError("refused")


async def _hang() -> CheckResult:
    await asyncio.Event().wait()
    return CheckResult.healthy()


async def _hang_ignoring_cancel() -> CheckResult:
    """A badly written check: it swallows the first cancellation."""
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        await asyncio.sleep(0.5)
    return CheckResult.healthy()


async def test_all_passing_is_healthy_with_per_service_fields() -> None:
    monitor = _monitor(cache_ttl=0)
    monitor.register("a", _ok)
    monitor.register("b", business_check(lambda: _true()))
    report = await monitor.perform_health_check()
    assert report.status is HealthState.HEALTHY
    assert report.http_status == 200
    body = report.to_dict()
    assert set(body) >= {"status", "timestamp", "uptime", "version", "services"}
    assert body["services"]["a"]["status"] == "healthy"
    assert set(body["services"]["a"]) == {
        "status",
        "critical",
        "latency",
        "details",
        "error",
        "lastCheck",
    }
    assert body["services"]["a"]["latency"] is not None


async def _true() -> bool:
    return True


async def test_non_critical_failure_is_degraded_critical_is_unhealthy() -> None:
    monitor = _monitor(cache_ttl=0)
    monitor.register("core", _ok, critical=True)
    monitor.register("optional", _failing, critical=False)
    report = await monitor.perform_health_check()
    assert report.status is HealthState.DEGRADED
    assert report.http_status == 200
    assert report.services["optional"].error == "ConnectionError: refused"

    monitor.register("core", _failing, critical=True)
    report = await monitor.perform_health_check()
    assert report.status is HealthState.UNHEALTHY
    assert report.http_status == 503


async def test_hung_checks_cost_their_timeout_and_run_concurrently() -> None:
    monitor = _monitor(cache_ttl=0)
    monitor.register("hung", _hang, timeout=0.2)
    monitor.register("stubborn", _hang_ignoring_cancel, timeout=0.2, critical=False)
    monitor.register("fine", _ok)
    # Bounded from outside: were timeouts not enforced, this would hang and fail.
    report = await asyncio.wait_for(monitor.perform_health_check(), 5)
    assert report.status is HealthState.UNHEALTHY
    assert report.services["hung"].error == "timed out after 0.2s"
    assert report.services["stubborn"].status is HealthState.UNHEALTHY
    assert report.services["fine"].status is HealthState.HEALTHY
    await monitor.stop()


async def test_results_are_cached_and_concurrent_callers_share_one_run() -> None:
    calls = 0
    gate = asyncio.Event()

    async def counted() -> CheckResult:
        nonlocal calls
        calls += 1
        await gate.wait()
        return CheckResult.healthy()

    monitor = _monitor(cache_ttl=60)
    monitor.register("db", counted)
    waiters = [asyncio.ensure_future(monitor.perform_health_check()) for _ in range(20)]
    await async_wait_until(lambda: calls >= 1)
    gate.set()
    reports = await asyncio.gather(*waiters)
    assert calls == 1
    assert all(report is reports[0] for report in reports)
    assert await monitor.perform_health_check() is reports[0]
    assert calls == 1
    await monitor.perform_health_check(force=True)
    assert calls == 2


async def test_a_caller_giving_up_does_not_cancel_the_shared_run() -> None:
    gate = asyncio.Event()

    async def slow() -> CheckResult:
        await gate.wait()
        return CheckResult.healthy()

    monitor = _monitor(cache_ttl=60)
    monitor.register("slow", slow)
    impatient = asyncio.ensure_future(monitor.perform_health_check())
    patient = asyncio.ensure_future(monitor.perform_health_check())
    await asyncio.sleep(0)
    impatient.cancel()
    gate.set()
    report = await patient
    assert report.status is HealthState.HEALTHY


async def test_single_check_uses_fresh_report_or_runs_alone() -> None:
    calls = {"a": 0, "b": 0}

    def counting(name: str):  # type: ignore[no-untyped-def]
        async def check() -> CheckResult:
            calls[name] += 1
            return CheckResult.healthy()

        return check

    monitor = _monitor(cache_ttl=60)
    monitor.register("a", counting("a"))
    monitor.register("b", counting("b"))
    await monitor.check("a")
    assert calls == {"a": 1, "b": 0}
    await monitor.perform_health_check()
    await monitor.check("a")
    assert calls == {"a": 2, "b": 1}
    with pytest.raises(KeyError):
        await monitor.check("missing")


async def test_background_loop_rechecks_and_stop_ends_it() -> None:
    calls = 0

    async def counted() -> CheckResult:
        nonlocal calls
        calls += 1
        return CheckResult.healthy()

    monitor = _monitor(cache_ttl=0, interval=0.05)
    monitor.register("x", counted)
    assert not monitor.ready
    await monitor.start()
    try:
        assert monitor.ready
        assert monitor.running
        await async_wait_until(lambda: calls >= 3, timeout=5)
    finally:
        await monitor.stop()
    assert not monitor.running
    assert not monitor.ready


async def test_business_check_result_shapes() -> None:
    async def stuck() -> dict[str, object]:
        return {"healthy": False, "stuckSettlements": 3, "error": "3 settlements stuck"}

    async def fine() -> dict[str, object]:
        return {"stuckSettlements": 0}

    async def nothing() -> None:
        return None

    assert (await business_check(stuck)()).error == "3 settlements stuck"
    assert (await business_check(stuck)()).details == {"stuckSettlements": 3}
    assert (await business_check(fine)()).status is HealthState.HEALTHY
    assert (await business_check(nothing)()).status is HealthState.HEALTHY

    async def no() -> bool:
        return False

    assert (await business_check(no)()).status is HealthState.UNHEALTHY


async def test_system_resources_against_thresholds() -> None:
    relaxed = await system_resources_check(
        cpu_threshold=101, memory_threshold=101, disk_threshold=101
    )()
    assert relaxed.status is HealthState.HEALTHY
    assert set(relaxed.details) == {"cpuUsage", "memoryUsage", "diskUsage"}
    strict = await system_resources_check(memory_threshold=0)()
    assert strict.status is HealthState.UNHEALTHY
    assert strict.error is not None
    assert "memory" in strict.error


async def test_http_check_against_a_real_server() -> None:
    release = asyncio.Event()

    async def ok(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def broken(request: Request) -> Response:
        return JSONResponse({"status": "down"}, status_code=503)

    async def slow(request: Request) -> Response:
        await release.wait()
        return JSONResponse({})

    app = Starlette(routes=[Route("/ok", ok), Route("/broken", broken), Route("/slow", slow)])
    async with _serve(app) as base:
        healthy = await http_check(f"{base}/ok")()
        assert healthy.status is HealthState.HEALTHY
        assert healthy.details["statusCode"] == 200
        down = await http_check(f"{base}/broken")()
        assert down.status is HealthState.UNHEALTHY
        assert down.error == "unexpected status 503"
        async with httpx.AsyncClient(trust_env=False) as client:
            timed_out = await http_check(f"{base}/slow", timeout=0.2, client=client)()
        release.set()
        assert timed_out.status is HealthState.UNHEALTHY
        assert timed_out.error is not None
        assert "Timeout" in timed_out.error
    closed = await http_check(f"{base}/ok", timeout=1)()
    assert closed.status is HealthState.UNHEALTHY


async def test_database_check_sets_gauges_and_bounds_a_hung_server(
    private_store: EmbeddedStore,
) -> None:
    from pymongo import AsyncMongoClient

    metrics = RsfMetrics()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(private_store.uri)
    check = database_check(client, metrics=metrics, database="rsf", instance="test", timeout=1)
    try:
        result = await check()
        assert result.status is HealthState.HEALTHY
        assert result.latency_ms is not None
        assert (
            metrics.registry.get_sample_value(
                "db_health_status", {"database": "rsf", "instance": "test"}
            )
            == 1
        )
        assert (
            metrics.registry.get_sample_value(
                "db_operation_duration_seconds_count",
                {"operation": "ping", "collection": "admin"},
            )
            == 1
        )
        private_store.pause()
        try:
            hung = await asyncio.wait_for(check(), 5)
        finally:
            private_store.resume()
        assert hung.status is HealthState.UNHEALTHY
        assert hung.error == "ping timed out after 1s"
        assert (
            metrics.registry.get_sample_value(
                "db_health_status", {"database": "rsf", "instance": "test"}
            )
            == 0
        )
        assert b"db_health_status" in generate_latest(metrics.registry)
        recovered = await async_wait_until(lambda: _healthy_now(check), timeout=15, interval=0.2)
        assert recovered
    finally:
        await client.close()


async def _healthy_now(check) -> bool:  # type: ignore[no-untyped-def]
    return (await check()).status is HealthState.HEALTHY
