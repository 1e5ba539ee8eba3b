"""The ``/metrics`` endpoint: Prometheus text, OpenMetrics on request, gzip when accepted.

With ``PROMETHEUS_MULTIPROC_DIR`` set (gunicorn/uvicorn with several workers), every scrape
builds a fresh registry with ``MultiProcessCollector`` over that directory, so whichever worker
answers reports the sum of all workers (``http_requests_in_progress`` uses ``livesum``, so dead
workers drop out of it once :func:`mark_worker_dead` has run for them). The directory must be
set, and empty, before the workers start: prometheus_client picks its value store at import.
Otherwise the app's registry is rendered by :mod:`rsf_observability.metrics_encoder`, which gives
prometheus_client's bytes but re-renders only the series that changed since the last scrape.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.registry import Collector
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.metrics_encoder import encode_registry
from rsf_observability.system_metrics import SystemMetricsCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A scrape is answered on the GIL: level 1 compresses 19k samples (2.4 MB) in ~8 ms to 115 KiB,
# level 6 takes ~33 ms for 92 KiB (docs/performance.md).
_GZIP_LEVEL = 1


def multiprocess_dir() -> str | None:
    """The shared metrics directory of a multi-worker deployment, if one is configured."""
    return os.environ.get(MULTIPROC_ENV) or None


def scrape_registry(metrics: RsfMetrics) -> Collector:
    """What a scrape collects: all workers merged in multiprocess mode, else the app's registry."""
    directory = multiprocess_dir()
    if directory is None:
        return metrics.registry
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def render_metrics(
    metrics: RsfMetrics, accept: str | None = None, accept_encoding: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one scrape, negotiated like ``prometheus_client``'s own servers."""
    encoder, content_type = choose_encoder(accept or "")
    registry = scrape_registry(metrics)
    if registry is metrics.registry:
        body = encode_registry(metrics.registry, encoder)
    else:
        body = encoder(registry)
    headers = {"Content-Type": content_type, "Vary": "Accept, Accept-Encoding"}
    if gzip_accepted(accept_encoding or ""):
        body = gzip.compress(body, compresslevel=_GZIP_LEVEL)
        headers["Content-Encoding"] = "gzip"
    return body, headers


def mark_worker_dead(pid: int, directory: str | None = None) -> None:
    """Drop a dead worker's live gauges (call it from gunicorn's ``child_exit`` hook)."""
    path = directory or multiprocess_dir()
    if path is not None:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


@dataclass(frozen=True, eq=False)
class MetricsEndpoint:
    """An ASGI app answering with the metrics; refreshes the cheap system gauges first.

    A class, not a function, so that Starlette's ``Route`` mounts it as an ASGI app. Collection
    and compression run in a worker thread: reading a multiprocess directory is file IO, and
    none of it should hold up the event loop.
    """

    metrics: RsfMetrics
    collector: SystemMetricsCollector | None = None
    on_scrape: Callable[[], None] | None = None

    def scrape(
        self, accept: str | None = None, accept_encoding: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """Refresh, then render (blocking; :meth:`__call__` runs it in a thread)."""
        if self.collector is not None:
            self.collector.refresh()
        if self.on_scrape is not None:
            self.on_scrape()
        return render_metrics(self.metrics, accept, accept_encoding)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_headers = Headers(scope=scope)
        body, headers = await anyio.to_thread.run_sync(
            self.scrape, request_headers.get("accept"), request_headers.get("accept-encoding")
        )
        await Response(body, headers=headers)(scope, receive, send)


def metrics_endpoint(
    metrics: RsfMetrics | None = None,
    *,
    collector: SystemMetricsCollector | None = None,
    on_scrape: Callable[[], None] | None = None,
) -> MetricsEndpoint:
    """The ``/metrics`` ASGI app for ``metrics`` (default: :func:`default_metrics`)."""
    return MetricsEndpoint(metrics or default_metrics(), collector, on_scrape)


def metrics_route(
    metrics: RsfMetrics | None = None,
    path: str = "/metrics",
    *,
    collector: SystemMetricsCollector | None = None,
    on_scrape: Callable[[], None] | None = None,
) -> Route:
    """A Starlette route (GET/HEAD) serving :func:`metrics_endpoint`; add it to any app's routes."""
    return Route(
        path,
        metrics_endpoint(metrics, collector=collector, on_scrape=on_scrape),
        methods=["GET", "HEAD"],
        name="metrics",
        include_in_schema=False,
    )
