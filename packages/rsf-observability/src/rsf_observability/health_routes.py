"""The guide's health endpoints, plus liveness and readiness for orchestrators, as Starlette routes.

Mount them in any Starlette/FastAPI app: ``routes=[*health_routes(monitor), ...]`` or
``app.router.routes.extend(health_routes(monitor))``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rsf_observability.errors import problem_response
from rsf_observability.health import HealthMonitor, HealthState

_NO_STORE = {"Cache-Control": "no-store"}


def _timestamp() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def health_routes(
    monitor: HealthMonitor, *, database_check_name: str = "database"
) -> list[BaseRoute]:
    """``/health``, ``/health/detailed``, ``/health/live``, ``/health/ready``, ``/ui/health/db``.

    ``/ui/health/db`` reports the check registered as ``database_check_name`` (404 when none is).
    """

    async def health(request: Request) -> Response:
        report = await monitor.perform_health_check()
        body = {
            "status": report.status.value,
            "timestamp": _timestamp(),
            "uptime": round(monitor.uptime, 3),
            "version": monitor.version,
        }
        return JSONResponse(body, status_code=report.http_status, headers=_NO_STORE)

    async def detailed(request: Request) -> Response:
        report = await monitor.perform_health_check()
        return JSONResponse(report.to_dict(), status_code=report.http_status, headers=_NO_STORE)

    async def database(request: Request) -> Response:
        if database_check_name not in monitor:
            return problem_response(404, f"No health check named {database_check_name!r}")
        service = await monitor.check(database_check_name)
        body: dict[str, Any] = {
            "status": service.status.value,
            "latency": service.latency_ms,
            "timestamp": service.last_check.isoformat().replace("+00:00", "Z"),
        }
        if service.error:
            body["error"] = service.error
        status = 200 if service.status is HealthState.HEALTHY else 503
        return JSONResponse(body, status_code=status, headers=_NO_STORE)

    async def live(request: Request) -> Response:
        body = {"status": "alive", "timestamp": _timestamp(), "uptime": round(monitor.uptime, 3)}
        return JSONResponse(body, headers=_NO_STORE)

    async def ready(request: Request) -> Response:
        if not monitor.ready:
            body: dict[str, Any] = {
                "status": "not_ready",
                "reason": "starting",
                "timestamp": _timestamp(),
            }
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        report = await monitor.perform_health_check()
        body = {
            "status": "not_ready",
            "reason": "critical checks failing",
            "timestamp": _timestamp(),
        }
        failing = sorted(
            name for name, svc in report.services.items() if svc.critical and not svc.ok
        )
        if failing:
            body["failing"] = failing
            return JSONResponse(body, status_code=503, headers=_NO_STORE)
        return JSONResponse({"status": "ready", "timestamp": _timestamp()}, headers=_NO_STORE)

    return [
        Route("/health", health, methods=["GET"], name="health"),
        Route("/health/detailed", detailed, methods=["GET"], name="health_detailed"),
        Route("/health/live", live, methods=["GET"], name="health_live"),
        Route("/health/ready", ready, methods=["GET"], name="health_ready"),
        Route("/ui/health/db", database, methods=["GET"], name="health_db"),
    ]
