"""The runbook's ``GET /ui/health``: is the settlement service able to settle right now?

It reads the server's one :class:`~rsf_observability.health.HealthMonitor` (same checks, same
cache as ``/health/detailed``), narrowed to what settling needs: the database (without it
nothing settles: 503), stuck settlements and the settlement agency (failing: ``degraded``, 200).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from rsf_observability.health import HealthMonitor, HealthState, ServiceHealth
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

SETTLEMENT_CHECKS = ("database", "settlements", "settlement_agency")
_CRITICAL = "database"


def _status(services: dict[str, ServiceHealth]) -> HealthState:
    database = services.get(_CRITICAL)
    if database is None or database.status is not HealthState.HEALTHY:
        return HealthState.UNHEALTHY
    if any(svc.status is not HealthState.HEALTHY for svc in services.values()):
        return HealthState.DEGRADED
    return HealthState.HEALTHY


async def settlement_health(request: Request) -> Response:
    monitor: HealthMonitor = request.app.state.rsf.monitor
    names = [name for name in SETTLEMENT_CHECKS if name in monitor]
    results = await asyncio.gather(*(monitor.check(name) for name in names))
    services = dict(zip(names, results, strict=True))
    status = _status(services)
    body = {
        "status": status.value,
        "service": "settlement",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "services": {name: svc.to_dict() for name, svc in services.items()},
    }
    code = 503 if status is HealthState.UNHEALTHY else 200
    return JSONResponse(body, status_code=code, headers={"Cache-Control": "no-store"})


def ui_health_routes() -> list[BaseRoute]:
    return [Route("/ui/health", settlement_health, methods=["GET"], name="ui_health")]
