"""``create_app(settings)``: the reference server, composing rsf-observability and rsf-core."""

from __future__ import annotations

from rsf_core.alert_log_store import MongoAlertStore
from rsf_core.audit_store import RsfPayloadAuditSink
from rsf_observability.alert_handlers import default_alert_handlers
from rsf_observability.alert_router import AlertWebhook
from rsf_observability.health import HealthMonitor
from rsf_observability.instrument import instrument
from rsf_observability.metrics import RsfMetrics
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from rsf_server.auth_routes import auth_routes
from rsf_server.config import ServerSettings
from rsf_server.context import ServerContext
from rsf_server.embedded_store import EmbeddedStore
from rsf_server.error_handlers import exception_handlers
from rsf_server.lifespan import lifespan
from rsf_server.network_routes import key_lookup, network_routes
from rsf_server.performance import add_performance_middleware
from rsf_server.response_cache import ResponseCache, cache_admin_routes
from rsf_server.ui_exchange import exchange_routes
from rsf_server.ui_health import ui_health_routes
from rsf_server.ui_routes import ui_routes
from rsf_server.ui_settle_amounts import settle_amount_routes


def _alert_webhook(rsf: ServerContext) -> AlertWebhook:
    async def reconnect() -> None:
        """pymongo reconnects by itself; re-check now so the gauge and /health catch up."""
        await rsf.monitor.perform_health_check(force=True)

    handlers = default_alert_handlers(rsf.observability, reconnect=reconnect)
    return AlertWebhook(
        MongoAlertStore(), metrics=rsf.metrics, settings=rsf.observability, handlers=handlers
    )


def create_app(
    settings: ServerSettings | None = None,
    *,
    metrics: RsfMetrics | None = None,
    embedded_store: EmbeddedStore | None = None,
) -> Starlette:
    """The server for ``settings`` (read from the environment when omitted).

    Without ``MONGODB_URI`` the app uses ``embedded_store`` (``rsf-server`` starts one before
    uvicorn and stops it after), or its lifespan starts and stops one of its own. ``metrics``
    defaults to a registry of this app's own, so several apps in one process (tests) never
    share series; rsf-core's business metrics are recorded on the same instance.
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
        key_lookup=key_lookup(settings),
        embedded_store=embedded_store,
    )
    cache = ResponseCache(settings.response_cache_max_entries)
    routes: list[BaseRoute] = [
        *auth_routes(),
        *ui_routes(),
        *settle_amount_routes(),
        *exchange_routes(),
        *network_routes(),
        *ui_health_routes(),
        *cache_admin_routes(cache),
    ]
    app = Starlette(routes=routes, exception_handlers=exception_handlers(), lifespan=lifespan)
    app.state.rsf = rsf
    app.state.response_cache = cache
    # Before instrument(): these layers must end up inside the SDK's (see performance.py).
    add_performance_middleware(
        app, settings, jwt_secret=rsf.jwt_secret, cache=cache, monitor=monitor
    )
    rsf.instrumentation = instrument(
        app,
        observability,
        metrics=metrics,
        health=monitor,
        audit_sink=RsfPayloadAuditSink(),
        alert_router=_alert_webhook(rsf),
    )
    return app
