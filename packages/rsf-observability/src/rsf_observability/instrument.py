"""``instrument(app, settings)``: the whole SDK on a Starlette or FastAPI app in one call.

It only composes pieces that stay usable on their own; docs/tracing.md ("instrument()") lists
what it adds. The middleware order, outermost first::

    CorrelationIdMiddleware   the id exists before anything logs, and is echoed on every answer
    TracingMiddleware         the span is current for every layer below and for the app
    HttpMetricsMiddleware     measures what the client experienced, errors included
    AccessLogMiddleware       "Incoming request" / "Outgoing response", inside the span
    AuditMiddleware           "RSF Operation" records for /api/ and /ui/
    UnhandledErrorMiddleware  turns a crash into a JSON 500 while the span is still current
    (the app: its ExceptionMiddleware, router, routes)
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry import trace
from prometheus_client import disable_created_metrics, enable_created_metrics
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Scope

from rsf_observability.access_log import AccessLogMiddleware
from rsf_observability.audit import AuditMiddleware
from rsf_observability.audit_sink import AuditSink
from rsf_observability.correlation import CorrelationIdMiddleware
from rsf_observability.error_handlers import install_error_handlers
from rsf_observability.exposition import metrics_route
from rsf_observability.health import HealthMonitor
from rsf_observability.health_routes import health_routes
from rsf_observability.http_metrics import HttpMetricsMiddleware, PathSkipper
from rsf_observability.log_enrichment import install_record_factory
from rsf_observability.log_setup import get_logging_runtime
from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.settings import ObservabilitySettings
from rsf_observability.system_metrics import SystemMetricsCollector
from rsf_observability.tracing import configure_tracing
from rsf_observability.tracing_middleware import TracingMiddleware
from rsf_observability.unhandled_errors import UnhandledErrorMiddleware

_logger = logging.getLogger("rsf.instrument")
_MARK = "_rsf_instrumentation"


class BackgroundService(Protocol):
    """Anything with async ``start()``/``stop()`` (e.g. ``HealthMonitor``) run by the lifespan."""

    def start(self) -> Awaitable[Any] | Any: ...

    def stop(self) -> Awaitable[Any] | Any: ...


@contextlib.contextmanager
def _logged(step: str) -> Iterator[None]:
    try:
        yield
    except Exception:
        _logger.exception("Shutdown step failed: %s", step)


@dataclass(eq=False)
class Instrumentation:
    """What :func:`instrument` installed on an app; keep it to reach the pieces (tests, hooks)."""

    settings: ObservabilitySettings
    metrics: RsfMetrics
    tracer_provider: trace.TracerProvider
    system_metrics: SystemMetricsCollector
    owns_tracer_provider: bool
    health: BackgroundService | None = None
    routes: list[BaseRoute] = field(default_factory=list)

    async def startup(self) -> None:
        """Lifespan start, before the app's own: the system metrics loop."""
        self.system_metrics.start()

    async def shutdown(self) -> None:
        """Lifespan end, after the app's own: stop the loop, export spans, flush logs last.

        Each step runs even when an earlier one failed, so a dead collector never costs logs.
        """
        with _logged("stopping the system metrics collector"):
            await self.system_metrics.stop()
        with _logged("exporting the remaining spans"):
            await asyncio.to_thread(self._finish_tracing)
        runtime = get_logging_runtime()
        if runtime is not None:
            with _logged("flushing logs"):
                await runtime.aflush(self.settings.loki_shutdown_timeout)

    def _finish_tracing(self) -> None:
        """Shut down a provider we built; only flush one the caller owns (the API type has
        neither method, SDK providers have both)."""
        name = "shutdown" if self.owns_tracer_provider else "force_flush"
        method = getattr(self.tracer_provider, name, None)
        if callable(method):
            method()


def instrument(
    app: Starlette,
    settings: ObservabilitySettings | None = None,
    *,
    metrics: RsfMetrics | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    audit_sink: AuditSink | None = None,
    health: BackgroundService | None = None,
    alert_router: Any = None,
) -> Instrumentation:
    """Add correlation ids, tracing, HTTP metrics, access and audit logs, ``/metrics``, JSON error
    handlers and lifespan tasks to ``app`` (Starlette or FastAPI). Call once per app, before it
    serves (Starlette refuses middleware after start).

    - ``metrics``: default :func:`default_metrics` (the process-wide registry, so rsf-core's
      business metrics appear on the same ``/metrics``); pass ``RsfMetrics()`` to isolate.
    - ``tracer_provider``: default :func:`configure_tracing(settings)
      <rsf_observability.tracing.configure_tracing>`, which instrument then also shuts down at
      the end of the lifespan; a provider you pass is only flushed.
    - ``health``: a ``HealthMonitor`` (or anything with async ``start``/``stop``), started after
      the app's own startup and stopped before its shutdown; a real ``HealthMonitor`` also gets
      its routes (``/health``, ...) unless the app already serves ``/health``.
    - ``alert_router``: an ``AlertWebhook`` (anything with ``routes``) or a list of routes.
    """
    if getattr(app, _MARK, None) is not None:
        raise RuntimeError("instrument() was already called on this app")
    if getattr(app, "middleware_stack", None) is not None:
        raise RuntimeError("instrument() must run before the app starts serving")
    settings = settings or ObservabilitySettings()
    metrics = metrics or default_metrics()
    owns_provider = tracer_provider is None
    provider = tracer_provider or configure_tracing(settings)
    install_record_factory()
    # Process-wide in prometheus_client (like PROMETHEUS_DISABLE_CREATED_SERIES): the last
    # instrument() call decides for every registry of the process.
    if settings.metrics_created_series:
        enable_created_metrics()  # type: ignore[no-untyped-call]
    else:
        disable_created_metrics()  # type: ignore[no-untyped-call]

    collector = SystemMetricsCollector(metrics, interval=settings.system_metrics_interval)
    if settings.instance:
        collector.instance = settings.instance
    routes: list[BaseRoute] = [metrics_route(metrics, settings.metrics_path, collector=collector)]
    routes += _health_routes(app, health)
    routes += _alert_routes(alert_router)
    # In front: a catch-all Mount of the app must not shadow /metrics.
    app.router.routes[0:0] = routes

    install_error_handlers(app)
    _add_middlewares(app, settings, metrics, provider, audit_sink)
    _disable_fastapi_native_tracing(app)

    instrumentation = Instrumentation(
        settings=settings,
        metrics=metrics,
        tracer_provider=provider,
        system_metrics=collector,
        owns_tracer_provider=owns_provider,
        health=health,
        routes=routes,
    )
    _wrap_lifespan(app, instrumentation)
    setattr(app, _MARK, instrumentation)
    return instrumentation


def _add_middlewares(
    app: Starlette,
    settings: ObservabilitySettings,
    metrics: RsfMetrics,
    provider: trace.TracerProvider,
    audit_sink: AuditSink | None,
) -> None:
    """``add_middleware`` puts each new layer outside the previous ones: innermost first."""
    skip = PathSkipper((*settings.metrics_skip_paths, settings.metrics_path))

    def not_traced(scope: Scope) -> bool:
        return skip(scope["path"])

    app.add_middleware(UnhandledErrorMiddleware, owner=app)
    app.add_middleware(AuditMiddleware, sink=audit_sink, settings=settings)
    app.add_middleware(AccessLogMiddleware, settings=settings)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics, settings=settings)
    app.add_middleware(TracingMiddleware, tracer_provider=provider, skip=not_traced)
    app.add_middleware(CorrelationIdMiddleware, header_name=settings.correlation_header)


def _health_routes(app: Starlette, health: BackgroundService | None) -> list[BaseRoute]:
    if not isinstance(health, HealthMonitor):
        return []
    if any(isinstance(route, Route) and route.path == "/health" for route in app.router.routes):
        return []
    return health_routes(health)


def _alert_routes(alert_router: Any) -> list[BaseRoute]:
    if alert_router is None:
        return []
    routes = getattr(alert_router, "routes", alert_router)
    if not isinstance(routes, Iterable):
        raise TypeError("alert_router must have .routes or be a list of routes")
    return list(routes)


def _disable_fastapi_native_tracing(app: Starlette) -> None:
    """FastAPI >= 0.13x opens its own SERVER span (plus operation spans) once a global tracer
    provider exists; with :class:`TracingMiddleware` inside it, every request would have two.
    Ours stays, since it is the one that carries the correlation id and route template for
    Starlette apps too. ``FastAPI(telemetry={"tracing": False})`` is the public way to say the
    same at construction; instrument() runs later, so it sets that same config entry.
    """
    telemetry = getattr(app, "_telemetry", None)
    if isinstance(telemetry, dict):
        telemetry["tracing"] = False


async def _call(method: Callable[[], Any]) -> None:
    result = method()
    if inspect.isawaitable(result):
        await result


def _wrap_lifespan(app: Starlette, instrumentation: Instrumentation) -> None:
    """Run our tasks around the app's own lifespan (kept, and its state passed through)."""
    original = app.router.lifespan_context
    health = instrumentation.health

    @contextlib.asynccontextmanager
    async def lifespan(inner_app: Any) -> AsyncIterator[Any]:
        await instrumentation.startup()
        try:
            async with original(inner_app) as state:
                if health is not None:
                    await _call(health.start)
                try:
                    yield state
                finally:
                    if health is not None:
                        await _call(health.stop)
        finally:
            await instrumentation.shutdown()

    app.router.lifespan_context = lifespan
