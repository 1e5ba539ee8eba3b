"""The apps compared: bare Starlette, each SDK middleware alone, the full SDK, the anchor stack.

Every variant serves the same routes with the same responses, so only the instrumentation
differs. ``make_app()`` builds the variant named by ``RSF_BENCH_VARIANT`` for uvicorn
(``--factory``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from rsf_observability import (
    AccessLogMiddleware,
    AuditMiddleware,
    CorrelationIdMiddleware,
    HttpMetricsMiddleware,
    ObservabilitySettings,
    RsfMetrics,
    TracingMiddleware,
    instrument,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route


class NullExporter(SpanExporter):
    """Accepts spans and drops them: the cost of tracing without the cost of a network."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def tracer_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    return provider


async def _ping(request: Request) -> Response:
    return PlainTextResponse("pong")


async def _orders(request: Request) -> Response:
    return JSONResponse({"user_id": request.path_params["user_id"], "orders": []})


async def _on_settle(request: Request) -> Response:
    await request.body()
    return JSONResponse({"message": {"ack": {"status": "ACK"}}})


def bare() -> Starlette:
    return Starlette(
        routes=[
            Route("/ping", _ping),
            Route("/ui/orders/{user_id}", _orders),
            Route("/api/on_settle", _on_settle, methods=["POST"]),
        ]
    )


def settings(**overrides: Any) -> ObservabilitySettings:
    base: dict[str, Any] = {"environment": "production", "log_level": "info", "loki_host": None}
    return ObservabilitySettings(**{**base, **overrides})


def _with(middleware: type[Any], **kwargs: Any) -> Callable[[], Starlette]:
    def build() -> Starlette:
        app = bare()
        app.add_middleware(middleware, **kwargs)
        return app

    return build


def sdk_full() -> Starlette:
    """The whole SDK through ``instrument()``, on a private registry with a real tracer."""
    app = bare()
    instrument(app, settings(), metrics=RsfMetrics(), tracer_provider=tracer_provider())
    return app


def anchor() -> Starlette:
    """What a user would assemble from the anchor libraries instead."""
    from asgi_correlation_id import CorrelationIdMiddleware as AnchorCorrelation
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette_exporter import PrometheusMiddleware, handle_metrics

    app = bare()
    app.add_route("/metrics", handle_metrics)
    app.add_middleware(PrometheusMiddleware, app_name="bench", group_paths=True)
    app.add_middleware(OpenTelemetryMiddleware, tracer_provider=tracer_provider())
    app.add_middleware(AnchorCorrelation)
    return app


VARIANTS: dict[str, Callable[[], Starlette]] = {
    "bare": bare,
    "correlation": _with(CorrelationIdMiddleware),
    "access_log": _with(AccessLogMiddleware, settings=settings()),
    "audit": _with(AuditMiddleware, settings=settings()),
    "http_metrics": lambda: _with(
        HttpMetricsMiddleware, metrics=RsfMetrics(), settings=settings()
    )(),
    "tracing": lambda: _with(TracingMiddleware, tracer_provider=tracer_provider())(),
    "sdk_full": sdk_full,
    "anchor": anchor,
}


def make_app() -> Starlette:
    """uvicorn factory: ``RSF_BENCH_VARIANT=sdk_full uvicorn --factory benchmarks.variants:make_app``."""
    name = os.environ.get("RSF_BENCH_VARIANT", "bare")
    if name.startswith("sdk_full"):
        _configure_logging_for(name)
    return VARIANTS[name.removesuffix("_info").removesuffix("_quiet")]()


def _configure_logging_for(name: str) -> None:
    from rsf_observability import configure_logging

    level = "info" if name.endswith("_info") else "warn"
    loki = os.environ.get("LOKI_HOST") or None
    configure_logging(settings(log_level=level, loki_host=loki), stream=open(os.devnull, "w"))  # noqa: SIM115
