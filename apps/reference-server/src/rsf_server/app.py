"""``create_app(settings)``: the reference server, composing rsf-observability and rsf-core."""

from __future__ import annotations

from rsf_observability.correlation import CorrelationIdMiddleware
from rsf_observability.health import HealthMonitor
from rsf_observability.health_routes import health_routes
from rsf_observability.metrics import RsfMetrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rsf_server.auth_routes import auth_routes
from rsf_server.config import ServerSettings
from rsf_server.context import ServerContext
from rsf_server.error_handlers import exception_handlers
from rsf_server.lifespan import lifespan


def _metrics_route(metrics: RsfMetrics) -> Route:
    """Thin adapter until the SDK's exposition endpoint lands."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    async def endpoint(request: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", endpoint, methods=["GET"], name="metrics")


def create_app(
    settings: ServerSettings | None = None, *, metrics: RsfMetrics | None = None
) -> Starlette:
    """The server for ``settings`` (read from the environment when omitted).

    Without ``MONGODB_URI`` the lifespan starts the embedded store itself; ``rsf-server`` starts
    it before uvicorn instead, so that the store outlives no crash of the app.
    """
    settings = settings or ServerSettings()
    observability = settings.resolved_observability()
    metrics = metrics or RsfMetrics()
    monitor = HealthMonitor(observability)
    rsf = ServerContext(
        settings=settings,
        observability=observability,
        metrics=metrics,
        monitor=monitor,
        jwt_secret=settings.resolved_jwt_secret(),
    )
    routes: list[BaseRoute] = [
        *health_routes(monitor),
        _metrics_route(metrics),
        *auth_routes(),
    ]
    app = Starlette(routes=routes, exception_handlers=exception_handlers(), lifespan=lifespan)
    app.state.rsf = rsf
    app.add_middleware(CorrelationIdMiddleware, header_name=observability.correlation_header)
    return app
