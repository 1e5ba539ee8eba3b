"""Comparison 4: ``/metrics`` rendering time with 100 routes x 5 status codes x 3 methods.

As ``instrument()`` serves it (no ``*_created`` series, see docs/performance.md), through
``render_metrics`` and its caching encoder (rsf_observability.metrics_encoder):

- unchanged since the previous scrape: the target case (a scrape every 15 s sees most series as
  they were); each round renders once untimed first, since the variant before it changed them;
- every series changed since the previous scrape: the honest worst case, every counter,
  histogram and gauge series touched (untimed) before each timed render;
- prometheus_client's own ``generate_latest`` on the same registry, the baseline, which costs the
  same whether or not anything changed.

Plus gzip and the ``*_created`` series switched back on, both unchanged between scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    disable_created_metrics,
    enable_created_metrics,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import generate_latest as openmetrics_latest
from rsf_observability import RsfMetrics, render_metrics

from benchmarks.stats import Summary, interleaved

_OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"
BASELINE = "prometheus_client generate_latest (text)"


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


def touch_every_series(metrics: RsfMetrics) -> None:
    """One more request on every HTTP series, so every series' text must be rendered again."""
    for family in (metrics.http_requests_total, metrics.http_errors_total):
        for child in list(family._metrics.values()):
            child.inc()
    for histogram in list(metrics.http_request_duration_seconds._metrics.values()):
        histogram.observe(0.02)
    for gauge in list(metrics.http_requests_in_progress._metrics.values()):
        gauge.inc()


def run(renders_per_round: int, rounds: int, routes: int = 100) -> list[Summary]:
    metrics = populated(routes)

    def cached(
        accept: str | None, encoding: str | None, created: bool = False
    ) -> Callable[[], float]:
        def once() -> float:
            if created:
                enable_created_metrics()
            try:
                render_metrics(metrics, accept, encoding)  # the scrape before: same state
                start = time.perf_counter()
                for _ in range(renders_per_round):
                    render_metrics(metrics, accept, encoding)
                return (time.perf_counter() - start) / renders_per_round * 1e3
            finally:
                disable_created_metrics()

        return once

    def changed(accept: str | None) -> Callable[[], float]:
        def once() -> float:
            total = 0.0
            for _ in range(renders_per_round):
                touch_every_series(metrics)
                start = time.perf_counter()
                render_metrics(metrics, accept)
                total += time.perf_counter() - start
            return total / renders_per_round * 1e3

        return once

    def library(encode: Callable[[RsfMetrics], bytes]) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            for _ in range(renders_per_round):
                encode(metrics)
            return (time.perf_counter() - start) / renders_per_round * 1e3

        return once

    disable_created_metrics()  # what instrument() does by default
    return interleaved(
        {
            "text": cached(None, None),
            "openmetrics": cached(_OPENMETRICS, None),
            "text, every series changed": changed(None),
            "openmetrics, every series changed": changed(_OPENMETRICS),
            "text + gzip": cached(None, "gzip"),
            "text, with *_created series": cached(None, None, created=True),
            BASELINE: library(lambda m: generate_latest(m.registry)),
            "prometheus_client generate_latest (openmetrics)": library(
                lambda m: openmetrics_latest(m.registry)
            ),
        },
        rounds=rounds,
        unit="ms/render",
        baseline=BASELINE,
    )


def series_count(routes: int = 100) -> int:
    disable_created_metrics()
    body, _ = render_metrics(populated(routes))
    return sum(1 for line in body.decode().splitlines() if line and not line.startswith("#"))
