"""Stamp every LogRecord with the correlation id and the active trace/span ids.

Enrichment happens where the record is *created* (a LogRecord factory), because that is the
only place that still sees the request's context: a ``QueueListener`` thread, a Loki sender or
any other consumer runs without it. ``CorrelationFilter`` does the same for setups that prefer
filters; attach it to the producing handler (e.g. the ``QueueHandler``), not the listener's.

The attributes are ``correlationId``, ``trace_id`` and ``span_id``. Because they exist on every
record once the factory is installed, ``logging`` refuses them in ``extra=`` (KeyError:
"Attempt to overwrite"); pass other names there.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from rsf_observability import context

RECORD_ATTRIBUTES = ("correlationId", "trace_id", "span_id")

_install_lock = threading.Lock()


_NO_IDS: tuple[None, None] = (None, None)
# The last OpenTelemetry context seen and its span's hex ids: a request's records (access,
# audit, app lines) share one context, so the span lookup and the two ``format`` calls run once
# per context, not once per record. A context is immutable, so the same object means the same
# span; the reference held keeps it alive, so an identity match cannot be a recycled id. One
# tuple read/written whole is safe across threads.
_last_ids: tuple[object, tuple[str | None, str | None]] = (object(), _NO_IDS)


def current_trace_ids() -> tuple[str | None, str | None]:
    """``(trace_id, span_id)`` as W3C hex of the current span, or ``(None, None)``."""
    global _last_ids
    current = otel_context.get_current()
    last = _last_ids
    if current is last[0]:
        return last[1]
    span_context = trace.get_current_span(current).get_span_context()
    ids: tuple[str | None, str | None] = _NO_IDS
    if span_context.is_valid:
        ids = format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")
    _last_ids = (current, ids)
    return ids


def enrich_record(record: logging.LogRecord) -> None:
    record.correlationId = context.correlation_id.get()
    record.trace_id, record.span_id = current_trace_ids()


class _EnrichingFactory:
    """Wraps whatever factory was installed before, so other customisations keep working."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.inner(*args, **kwargs)
        enrich_record(record)
        return record


def install_record_factory() -> None:
    """Enrich every LogRecord created from now on, in any thread. Safe to call many times."""
    with _install_lock:
        current = logging.getLogRecordFactory()
        if isinstance(current, _EnrichingFactory):
            return
        logging.setLogRecordFactory(_EnrichingFactory(current))


def uninstall_record_factory() -> None:
    """Restore the factory that :func:`install_record_factory` wrapped (tests, reconfiguration)."""
    with _install_lock:
        current = logging.getLogRecordFactory()
        if isinstance(current, _EnrichingFactory):
            logging.setLogRecordFactory(current.inner)


def record_factory_installed() -> bool:
    return isinstance(logging.getLogRecordFactory(), _EnrichingFactory)


class CorrelationFilter(logging.Filter):
    """Adds the same attributes as the factory; never overwrites values a record already has."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlationId", None) is None:
            record.correlationId = context.correlation_id.get()
        if getattr(record, "trace_id", None) is None:
            record.trace_id, record.span_id = current_trace_ids()
        return True
