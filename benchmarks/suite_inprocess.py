"""Comparison 1: microseconds added per request, the ASGI app called directly (no server).

Log records go to /dev/null and, as in production, to Loki: a receiver in a child process
(the SDK's batching handler for the SDK variants, python-logging-loki's ``LokiQueueHandler``
for the anchor stack).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

from rsf_observability import configure_logging, set_log_level

from benchmarks.asgi_driver import call
from benchmarks.loki_process import LokiProcess
from benchmarks.stats import Summary, interleaved
from benchmarks.variants import (
    VARIANTS,
    anchor_logging,
    set_anchor_level,
    settings,
    settle_background_work,
)

_BODY = json.dumps(
    {
        "context": {
            "action": "on_settle",
            "bap_id": "np.example.com",
            "transaction_id": "t-1",
            "message_id": "m-1",
        },
        "message": {"settlement": {"orders": []}},
    }
).encode()
_JSON = [
    (b"host", b"bench"),
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_BODY)).encode()),
]

# (variant, app factory, log level while it runs)
_PLAN: list[tuple[str, str, str]] = [
    ("bare", "bare", "warn"),
    ("correlation", "correlation", "warn"),
    ("access_log (info)", "access_log", "info"),
    ("audit (info)", "audit", "info"),
    ("http_metrics", "http_metrics", "warn"),
    ("tracing", "tracing", "warn"),
    ("sdk_full (logs above info)", "sdk_full", "warn"),
    ("sdk_full (info: request, response, audit)", "sdk_full", "info"),
    ("anchor stack (logs above info)", "anchor", "warn"),
    ("anchor stack (info: access line)", "anchor", "info"),
]
_DEVNULL = open(os.devnull, "w")  # noqa: SIM115 - the process's log sink while it measures


async def _batch(app: Any, n: int) -> float:
    """µs per request over ``n`` requests cycling through three request shapes."""
    start = time.perf_counter()
    for i in range(n):
        kind = i % 3
        if kind == 0:
            await call(app, "GET", "/ping")
        elif kind == 1:
            await call(app, "GET", "/ui/orders/u-42")
        else:
            await call(app, "POST", "/api/on_settle", _BODY, _JSON)
    return (time.perf_counter() - start) / n * 1e6


def run(requests_per_round: int, rounds: int) -> list[Summary]:
    with LokiProcess() as loki:
        configure_logging(settings(log_level="warn", loki_host=loki.url), stream=_DEVNULL)
        anchor_logging(loki.push_url, "warn", stream=_DEVNULL)
        runner = asyncio.Runner()
        apps = {name: VARIANTS[factory]() for name, factory, _ in _PLAN}
        plan = {name: (factory, level) for name, factory, level in _PLAN}

        def measure(name: str) -> Callable[[], float]:
            factory, level = plan[name]

            def once() -> float:
                set_anchor_level(level if factory == "anchor" else "warn")
                set_log_level(level if factory != "anchor" else "warn")
                value = runner.run(_batch(apps[name], requests_per_round))
                settle_background_work()
                return value

            return once

        try:
            return interleaved(
                {name: measure(name) for name in apps},
                rounds=rounds,
                warmup=1,
                unit="µs/request",
                baseline="bare",
            )
        finally:
            set_log_level("warn")
            runner.close()
            anchor_logging(None, "warn", stream=_DEVNULL)
            configure_logging(settings(log_level="warn"), stream=_DEVNULL)


def floors(repeat: int = 5, number: int = 2000) -> dict[str, float]:
    """What the building blocks cost on this machine, in µs: the floors under the targets.

    A plain ``logger.info`` (stdlib, message only, to /dev/null) bounds any per-record cost;
    an OpenTelemetry SDK span (start, the request's attributes, end into a batch processor)
    is what the tracing middleware paid before :class:`ServerSpan`, which it now pays; a labelled counter increment, the metrics middleware.
    """
    import logging
    import timeit

    from opentelemetry import context as otel_context
    from opentelemetry.trace import SpanKind
    from prometheus_client import CollectorRegistry, Counter
    from rsf_observability.server_span import ServerSpanStarter, put_attribute

    from benchmarks.variants import tracer_provider

    logger = logging.getLogger("bench.floor")
    logger.handlers[:] = [logging.StreamHandler(_DEVNULL)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    tracer = tracer_provider().get_tracer("bench.floor")
    attributes = {
        "http.request.method": "GET",
        "url.path": "/ui/orders/u-42",
        "url.scheme": "http",
        "server.address": "bench",
        "server.port": 80,
        "client.address": "127.0.0.1",
        "user_agent.original": "bench/1",
        "network.protocol.version": "1.1",
        "rsf.correlation_id": "req_1704192645123_k3j9x0a1b",
    }

    def span() -> None:
        s = tracer.start_span("GET", kind=SpanKind.SERVER, attributes=attributes)
        s.set_attribute("http.response.status_code", 200)
        s.end()

    start_server_span = ServerSpanStarter(tracer)
    root = otel_context.Context()

    def server_span() -> None:
        s = start_server_span("GET", root, dict(attributes))
        put_attribute(s, "http.response.status_code", 200)
        s.end()

    counter = Counter("floor", "floor", ["method", "route", "status"], registry=CollectorRegistry())
    child = counter.labels("GET", "/ui/orders/{user_id}", "200")

    def best(fn: Callable[[], object]) -> float:
        return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6

    return {
        "stdlib logger.info to /dev/null": best(lambda: logger.info("Outgoing response")),
        "OpenTelemetry SDK span (9 attributes, batch processor)": best(span),
        "the SDK's ServerSpan, same span": best(server_span),
        "prometheus_client labelled counter inc (bound child)": best(child.inc),
    }
