"""The apps compared: bare Starlette, each SDK middleware alone, the full SDK, the anchor stack.

Every variant serves the same routes with the same responses, so only the instrumentation
differs. ``make_app()`` builds the variant named by ``RSF_BENCH_VARIANT`` for uvicorn
(``--factory``).
"""

from __future__ import annotations

import logging
import os
import queue
import time
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
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ANCHOR_LOGGER = "anchor.access"


class NullExporter(SpanExporter):
    """Accepts spans and drops them: the cost of tracing without the cost of a network."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


PROVIDERS: list[TracerProvider] = []


def tracer_provider() -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NullExporter()))
    PROVIDERS.append(provider)
    return provider


def settle_background_work(timeout: float = 30.0) -> None:
    """Let the background threads finish what the last batch queued (spans, Loki pushes), so
    it is not billed to the variant measured next; the request path's cost is what is timed."""
    from rsf_observability import get_logging_runtime

    deadline = time.monotonic() + timeout
    for provider in PROVIDERS:
        provider.force_flush(int(timeout * 1000))
    runtime = get_logging_runtime()
    if runtime is not None:
        runtime.flush(timeout)
    for handler in logging.getLogger(ANCHOR_LOGGER).handlers:
        pending = getattr(handler, "queue", None)
        while pending is not None and not pending.empty() and time.monotonic() < deadline:
            time.sleep(0.005)


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


class AnchorAccessLog:
    """The per-request lines a user of the anchor stack gets (uvicorn's access log, or a few
    lines of their own): one "request completed" record at info, through whatever handlers
    :func:`anchor_logging` installed (python-logging-loki's ``LokiQueueHandler``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.logger = logging.getLogger(ANCHOR_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 0

        async def send_logged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_logged)
        self.logger.info(
            "%s %s %d",
            scope["method"],
            scope["path"],
            status,
            extra={"duration_ms": (time.perf_counter() - start) * 1e3},
        )


def anchor_logging(push_url: str | None, level: str = "info", stream: Any = None) -> None:
    """The anchor stack's logging: asgi-correlation-id's filter and python-logging-loki's
    ``LokiQueueHandler`` (one push per record from a listener thread) on ``anchor.access``."""
    import logging_loki
    from asgi_correlation_id import CorrelationIdFilter

    logger = logging.getLogger(ANCHOR_LOGGER)
    for handler in logger.handlers:
        listener = getattr(handler, "listener", None)
        if listener is not None:
            listener.stop()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or open(os.devnull, "w"))]  # noqa: SIM115
    if push_url:
        handlers.append(
            logging_loki.LokiQueueHandler(
                queue.Queue(-1), url=push_url, tags={"app": "anchor"}, version="1"
            )
        )
    for handler in handlers:
        handler.addFilter(CorrelationIdFilter())
    logger.handlers[:] = handlers
    logger.propagate = False
    set_anchor_level(level)


def set_anchor_level(level: str) -> None:
    logging.getLogger(ANCHOR_LOGGER).setLevel(logging.INFO if level == "info" else logging.WARNING)


def anchor() -> Starlette:
    """What a user would assemble from the anchor libraries instead."""
    from asgi_correlation_id import CorrelationIdMiddleware as AnchorCorrelation
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from starlette_exporter import PrometheusMiddleware, handle_metrics

    app = bare()
    app.add_route("/metrics", handle_metrics)
    app.add_middleware(AnchorAccessLog)
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
    """uvicorn factory: ``RSF_BENCH_VARIANT=sdk_full_info uvicorn --factory benchmarks.variants:make_app``.

    ``_info`` / ``_quiet`` suffixes pick the log level (request records or none); ``LOKI_HOST``
    ships them to Loki (the SDK's handler, or ``LokiQueueHandler`` for the anchor stack).
    """
    name = os.environ.get("RSF_BENCH_VARIANT", "bare")
    level = "info" if name.endswith("_info") else "warn"
    base = name.removesuffix("_info").removesuffix("_quiet")
    loki = os.environ.get("LOKI_HOST") or None
    if base == "sdk_full":
        from rsf_observability import configure_logging

        configure_logging(settings(log_level=level, loki_host=loki), stream=open(os.devnull, "w"))  # noqa: SIM115
    elif base == "anchor":
        anchor_logging(loki + "/loki/api/v1/push" if loki else None, level)
    return VARIANTS[base]()
