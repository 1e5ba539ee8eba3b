"""Comparison 3: the cost of logging to Loki on the request path, and delivery throughput.

* one ``logger.info`` call with the SDK's Loki handler (JSON lines) while the receiver is
  healthy, slow (answers after 2 s) and down: the request path must not notice;
* records per second delivered: the SDK's batching handler versus python-logging-loki's
  one-request-per-record handler;
* memory while the receiver is down and the bounded buffer fills.
"""

from __future__ import annotations

import gc
import logging
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import logging_loki
from rsf_observability import LokiHandler, RsfMetrics

from benchmarks.stats import Summary, interleaved
from tests.support.loki_receiver import LokiReceiver

_LABELS = {"job": "rsf-utility", "app": "rsf-utility", "environment": "bench"}


def _logger(name: str, handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"bench.{name}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def _sdk_handler(receiver: LokiReceiver, **options: Any) -> LokiHandler:
    return LokiHandler(
        receiver.url,
        labels=_LABELS,
        metrics=RsfMetrics(),
        timeout=5.0,
        max_retries=2,
        shutdown_timeout=1.0,
        **options,
    )


def call_cost(calls_per_round: int, rounds: int) -> list[Summary]:
    receivers = {
        "healthy": LokiReceiver().start(),
        "slow (2 s)": LokiReceiver().start(),
        "down": LokiReceiver().start(),
    }
    receivers["slow (2 s)"].slow(2.0)
    receivers["down"].down()
    handlers = {name: _sdk_handler(r, batch_interval=0.2) for name, r in receivers.items()}
    loggers = {name: _logger(f"cost.{i}", h) for i, (name, h) in enumerate(handlers.items())}

    def timed(logger: logging.Logger) -> Callable[[], float]:
        def once() -> float:
            start = time.perf_counter()
            for i in range(calls_per_round):
                logger.info(
                    "Settlement request processed", extra={"orderId": i, "amount": "1500.00"}
                )
            return (time.perf_counter() - start) / calls_per_round * 1e6

        return once

    try:
        return interleaved(
            {name: timed(lg) for name, lg in loggers.items()},
            rounds=rounds,
            unit="µs/call",
            baseline="healthy",
        )
    finally:
        receivers["slow (2 s)"].release()
        for handler in handlers.values():
            handler.close()
        for receiver in receivers.values():
            receiver.stop()


def _deliver(
    handler: logging.Handler, receiver: LokiReceiver, records: int, timeout: float
) -> float:
    logger = _logger(f"deliver.{id(handler)}", handler)
    start = time.perf_counter()
    for i in range(records):
        logger.info("record %d", i)
    if hasattr(handler, "flush"):
        handler.flush()
    deadline = start + timeout
    while len(receiver.entries()) < records and time.perf_counter() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    return len(receiver.entries()) / elapsed


def delivery(records: int) -> dict[str, float]:
    """Records/s reaching the receiver: SDK batching vs python-logging-loki per-record posts."""
    results: dict[str, float] = {}
    with LokiReceiver() as receiver:
        sdk = _sdk_handler(receiver, batch_interval=0.05, batch_size=500)
        results["sdk batching handler"] = _deliver(sdk, receiver, records, timeout=60)
        sdk.close()
    with LokiReceiver() as receiver:
        anchor = logging_loki.LokiHandler(url=receiver.push_url, tags=_LABELS, version="1")
        results["python-logging-loki handler"] = _deliver(anchor, receiver, records, timeout=120)
        anchor.close()
    return results


def memory_while_down(records: int, buffer_size: int) -> dict[str, float]:
    """Python heap growth while the receiver is down and the buffer overflows."""
    metrics = RsfMetrics()
    with LokiReceiver() as receiver:
        receiver.down()
        handler = LokiHandler(
            receiver.url,
            labels=_LABELS,
            metrics=metrics,
            buffer_size=buffer_size,
            batch_interval=0.2,
            max_retries=1,
            shutdown_timeout=0.5,
        )
        logger = _logger("memory", handler)
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(records):
            logger.info("order %d ingested", i, extra={"orderId": f"o-{i}"})
        after, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        handler.close()
    dropped = sum(
        s.value
        for m in metrics.registry.collect()
        if m.name == "log_records_dropped"
        for s in m.samples
        if s.name.endswith("_total")
    )
    return {
        "records": records,
        "buffer_size": buffer_size,
        "heap_growth_mib": (after - before) / 2**20,
        "heap_peak_mib": (peak - before) / 2**20,
        "dropped": dropped,
    }
