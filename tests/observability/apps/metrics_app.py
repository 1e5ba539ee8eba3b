"""A Starlette app with the HTTP metrics middleware and ``/metrics``, for the metrics tests.

``uvicorn --factory tests.observability.apps.metrics_app:create_app`` serves it from real worker
processes; tests build it in-process with their own :class:`RsfMetrics`.
"""

from __future__ import annotations

import asyncio
import os

from rsf_observability.exposition import metrics_route
from rsf_observability.http_metrics import HttpMetricsMiddleware
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_observability.system_metrics import SystemMetricsCollector
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route


async def _whoami(request: Request) -> Response:
    return JSONResponse({"pid": os.getpid()})


async def _order(request: Request) -> Response:
    return JSONResponse({"user_id": request.path_params["user_id"]})


async def _boom(request: Request) -> Response:
    raise RuntimeError("boom")


async def _teapot(request: Request) -> Response:
    return PlainTextResponse("no", status_code=418)


async def _health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def build_app(
    metrics: RsfMetrics,
    *,
    settings: ObservabilitySettings | None = None,
    background_gate: asyncio.Event | None = None,
    background_done: asyncio.Event | None = None,
) -> HttpMetricsMiddleware:
    """The test app wrapped in the metrics middleware; ``/slow-bg`` runs a gated background task."""

    async def _wait_gate() -> None:
        assert background_gate is not None
        await background_gate.wait()
        if background_done is not None:
            background_done.set()

    async def _with_background(request: Request) -> Response:
        return PlainTextResponse("done", background=BackgroundTask(_wait_gate))

    collector = SystemMetricsCollector(metrics, instance="test")
    app = Starlette(
        routes=[
            Route("/whoami", _whoami),
            Route("/boom", _boom),
            Route("/teapot", _teapot, methods=["GET", "POST"]),
            Route("/health", _health),
            Route("/with-background", _with_background),
            Mount(
                "/ui",
                routes=[
                    Route("/orders/{user_id}", _order),
                    Mount("/tenants/{tenant}", routes=[Route("/orders/{user_id}", _order)]),
                ],
            ),
            metrics_route(metrics, collector=collector),
        ]
    )
    return HttpMetricsMiddleware(app, metrics=metrics, settings=settings)


def create_app() -> HttpMetricsMiddleware:
    """Factory for ``uvicorn --factory`` (each worker process builds its own)."""
    return build_app(RsfMetrics())
