"""The health endpoints as a user sees them, including a real nx-27017 that dies and hangs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from rsf_observability.health import CheckResult, HealthMonitor
from rsf_observability.health_checks import database_check
from rsf_observability.health_routes import health_routes
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_server.embedded_store import EmbeddedStore
from starlette.applications import Starlette

from tests.support.polling import async_wait_until


async def _ok() -> CheckResult:
    return CheckResult.healthy()


async def _down() -> CheckResult:
    return CheckResult.unhealthy("connection refused")


def _client(app: Starlette, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test", timeout=timeout
    )


def _app(monitor: HealthMonitor, **kwargs: Any) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await monitor.start()
        try:
            yield
        finally:
            await monitor.stop()

    return Starlette(routes=health_routes(monitor, **kwargs), lifespan=lifespan)


def _monitor(cache_ttl: float = 0, **kwargs: Any) -> HealthMonitor:
    settings = ObservabilitySettings(service_version="9.9.9")
    return HealthMonitor(settings, cache_ttl=cache_ttl, **kwargs)


async def test_health_is_200_when_healthy_and_degraded_503_when_unhealthy() -> None:
    monitor = _monitor()
    monitor.register("database", _ok)
    async with _client(_app(monitor)) as client:
        response = await client.get("/health")
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"status", "timestamp", "uptime", "version"}
        assert body["status"] == "healthy"
        assert body["version"] == "9.9.9"
        assert body["uptime"] >= 0
        assert response.headers["cache-control"] == "no-store"

        monitor.register("agency", _down, critical=False)
        degraded = await client.get("/health")
        assert degraded.status_code == 200
        assert degraded.json()["status"] == "degraded"

        monitor.register("database", _down)
        unhealthy = await client.get("/health")
        assert unhealthy.status_code == 503
        assert unhealthy.json()["status"] == "unhealthy"


async def test_detailed_reports_every_service() -> None:
    monitor = _monitor()
    monitor.register("database", _ok)
    monitor.register("agency", _down, critical=False)
    async with _client(_app(monitor)) as client:
        response = await client.get("/health/detailed")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["agency"]["error"] == "connection refused"
    assert body["services"]["agency"]["critical"] is False
    assert body["services"]["database"]["status"] == "healthy"


async def test_ui_health_db_reports_the_database_check() -> None:
    monitor = _monitor()
    monitor.register("mongo", _ok)
    async with _client(_app(monitor, database_check_name="mongo")) as client:
        ok = await client.get("/ui/health/db")
        assert ok.status_code == 200
        assert set(ok.json()) == {"status", "latency", "timestamp"}
        monitor.register("mongo", _down)
        down = await client.get("/ui/health/db")
        assert down.status_code == 503
        assert down.json()["status"] == "unhealthy"

    async with _client(_app(_monitor())) as client:
        missing = await client.get("/ui/health/db")
    assert missing.status_code == 404
    assert missing.json()["success"] is False


async def test_live_always_ready_after_startup_and_while_critical_checks_pass() -> None:
    monitor = _monitor()
    monitor.register("database", _ok)
    monitor.register("agency", _down, critical=False)
    async with _client(_app(monitor)) as client:
        assert (await client.get("/health/live")).status_code == 200
        not_started = await client.get("/health/ready")
        assert not_started.status_code == 503
        assert not_started.json()["reason"] == "starting"
        monitor.mark_ready()
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, "a failing non-critical check keeps the app ready"
        monitor.register("database", _down)
        failing = await client.get("/health/ready")
        assert failing.status_code == 503
        assert failing.json()["failing"] == ["database"]
        assert (await client.get("/health/live")).status_code == 200


async def test_lifespan_start_marks_ready_and_stop_unready() -> None:
    monitor = _monitor(interval=0.05)
    monitor.register("database", _ok)
    app = _app(monitor)
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(app.router.lifespan_context(app))
        async with _client(app) as client:
            assert (await client.get("/health/ready")).status_code == 200
    assert not monitor.ready


async def _status(client: httpx.AsyncClient) -> int:
    # The client's own 3 s timeout is the bound: a /health that hung would raise here.
    return (await client.get("/health")).status_code


async def test_health_follows_a_real_database_that_dies_hangs_and_returns(
    private_store: EmbeddedStore,
) -> None:
    from pymongo import AsyncMongoClient

    metrics = RsfMetrics()
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(private_store.uri)
    monitor = _monitor(cache_ttl=1.0)
    monitor.register("database", database_check(mongo, metrics=metrics, database="rsf"))
    app = _app(monitor)
    try:
        async with _client(app, timeout=3.0) as client:
            await async_wait_until(lambda: _is(client, 200), timeout=10, interval=0.1)

            private_store.kill()
            assert await async_wait_until(lambda: _is(client, 503), timeout=10, interval=0.1)
            db = await client.get("/ui/health/db")
            assert db.status_code == 503

            private_store.start()
            assert await async_wait_until(lambda: _is(client, 200), timeout=15, interval=0.2)

            private_store.pause()
            try:
                assert await async_wait_until(lambda: _is(client, 503), timeout=10, interval=0.1)
                labels = {"database": "rsf", "instance": _instance(metrics)}
                assert await async_wait_until(
                    lambda: metrics.registry.get_sample_value("db_health_status", labels) == 0
                )
            finally:
                private_store.resume()
            assert await async_wait_until(lambda: _is(client, 200), timeout=15, interval=0.2)
            assert (await client.get("/ui/health/db")).status_code == 200
    finally:
        await mongo.close()


async def _is(client: httpx.AsyncClient, status: int) -> bool:
    return await _status(client) == status


def _instance(metrics: RsfMetrics) -> str:
    for family in metrics.registry.collect():
        if family.name == "db_health_status":
            for sample in family.samples:
                return sample.labels["instance"]
    raise AssertionError("db_health_status not set")
