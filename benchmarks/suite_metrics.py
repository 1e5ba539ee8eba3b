"""Comparison 4: ``/metrics`` rendering time with 100 routes x 5 status codes x 3 methods.

As ``instrument()`` serves it (no ``*_created`` series, see docs/performance.md), plus one row
with prometheus_client's ``*_created`` series switched back on for comparison.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import disable_created_metrics, enable_created_metrics
from rsf_observability import RsfMetrics, render_metrics

from benchmarks.stats import Summary, interleaved

_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def populated(routes: int = 100) -> RsfMetrics:
    metrics = RsfMetrics()
    for r in range(routes):
        route = f"/ui/resource{r}/{{id}}"
        for method in ("GET", "POST", "PATCH"):
            metrics.http_requests_in_progress.labels(method, route).set(0)
            for status in ("200", "201", "400", "404", "500"):
                metrics.http_requests_total.labels(method, route, status).inc()
                metrics.http_request_duration_seconds.labels(method, route, status).observe(0.01)
                if status >= "400":
                    metrics.http_errors_total.labels(method, route, status).inc()
    return metrics


def run(renders_per_round: int, rounds: int, routes: int = 100) -> list[Summary]:
    metrics = populated(routes)

    def timed(
        accept: str | None, encoding: str | None, created: bool = False
    ) -> Callable[[], float]:
        def once() -> float:
            if created:
                enable_created_metrics()
            try:
                start = time.perf_counter()
                for _ in range(renders_per_round):
                    render_metrics(metrics, accept, encoding)
                return (time.perf_counter() - start) / renders_per_round * 1e3
            finally:
                disable_created_metrics()

        return once

    disable_created_metrics()  # what instrument() does by default
    return interleaved(
        {
            "text": timed(None, None),
            "openmetrics": timed(_OPENMETRICS, None),
            "text + gzip": timed(None, "gzip"),
            "text, with *_created series": timed(None, None, created=True),
        },
        rounds=rounds,
        unit="ms/render",
        baseline="text",
    )


def series_count(routes: int = 100) -> int:
    disable_created_metrics()
    body, _ = render_metrics(populated(routes))
    return sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
