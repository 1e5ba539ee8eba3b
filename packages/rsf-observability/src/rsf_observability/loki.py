"""Ship log records to Grafana Loki without ever making the app wait for the network.

python-logging-loki provides the push format (v1 JSON for ``/loki/api/v1/push``) and label
sanitising, but it posts one record per request, synchronously, with ``time.time()`` as the
timestamp. :class:`LokiHandler` keeps its format and wraps it:

* ``emit`` formats the line (on the producing thread, so context such as the correlation id is
  captured there) and only appends it to a bounded buffer;
* a daemon thread sends batches every ``batch_interval`` seconds or as soon as ``batch_size``
  records wait, one stream per label set, timestamps from ``record.created``;
* connection errors, 429 and 5xx are retried with capped, jittered exponential backoff while the
  batch is kept; other 4xx drop the batch;
* when the buffer is full the *newest* record is dropped (the records already waiting are
  older and so more useful to explain what led to the outage, and nothing queued is disturbed);
* every dropped record is counted in ``log_records_dropped_total{reason}`` and a warning is
  written to stderr at most once per ``warning_interval`` (60 s);
* ``close()`` (called by ``logging.shutdown`` and by ``LoggingRuntime.shutdown``) delivers what
  it can within ``shutdown_timeout`` and stops the thread.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
import orjson
from logging_loki.emitter import LokiEmitterV1

from rsf_observability.log_format import JsonFormatter, level_name
from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.settings import ObservabilitySettings

PUSH_PATH = "/loki/api/v1/push"

#: Reasons of ``log_records_dropped_total`` (a closed set, so the label stays bounded).
DROP_BUFFER_FULL = "buffer_full"
DROP_REJECTED = "rejected"
DROP_RETRIES_EXHAUSTED = "retries_exhausted"
DROP_SHUTDOWN = "shutdown"
DROP_ERROR = "error"

#: Label names the handler owns; static labels cannot replace them.
RESERVED_LABELS = ("job", "app", "environment", "level")

LabelKey = tuple[tuple[str, str], ...]

#: Threads that ship to Loki. Records created on them (httpx's own "HTTP Request: POST ..."
#: lines) are never shipped, or every push would log a record that needs another push.
_shipper_threads: set[int] = set()


def on_shipper_thread(record: logging.LogRecord) -> bool:
    return record.thread in _shipper_threads


class ShipperNoiseFilter(logging.Filter):
    """Keeps the HTTP client's per-push records off other handlers (the console) too."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.thread in _shipper_threads and record.name.startswith(("httpx", "httpcore"))
        )


#: A buffered record: ``(levelno, record.created, line)``. Its labels and nanosecond timestamp
#: are worked out on the shipping thread, off the request path.
_Entry = tuple[int, float, str]


class LokiLabels(LokiEmitterV1):  # type: ignore[misc]
    """python-logging-loki's v1 emitter used for labels and payload shape only (never to send).

    Labels are the static ones plus ``level`` in the guide's names. The library's ``logger``
    label and per-record ``tags`` are left out on purpose: a label must be bounded, and logger
    names, correlation ids and the like stay in the JSON line.
    """

    level_tag = "level"

    def __init__(self, labels: Mapping[str, str]) -> None:
        super().__init__(url="", tags={})
        clean: dict[str, str] = {}
        for name, value in labels.items():
            label = self._label_name(str(name))
            if label:
                clean[label] = str(value)
        self.tags = clean

    def _label_name(self, name: str) -> str:
        label: str = self.format_label(name)
        return f"_{label}" if label[:1].isdigit() else label

    def build_tags(self, record: logging.LogRecord) -> dict[str, str]:
        return self._tags_for(record.levelno)

    def _tags_for(self, levelno: int) -> dict[str, str]:
        tags = dict(self.tags)
        tags[self.level_tag] = level_name(levelno)
        return tags

    def level_key(self, levelno: int) -> LabelKey:
        """The label set of records at ``levelno`` (labels depend on the level alone)."""
        return tuple(sorted(self._tags_for(levelno).items()))

    def payload(self, entries: Iterable[_Entry]) -> dict[str, Any]:
        """``{"streams": [{"stream": {labels}, "values": [[ns, line], ...]}, ...]}``."""
        keys: dict[int, LabelKey] = {}
        streams: dict[LabelKey, list[list[str]]] = {}
        for levelno, created, line in entries:
            key = keys.get(levelno)
            if key is None:
                key = keys[levelno] = self.level_key(levelno)
            streams.setdefault(key, []).append([timestamp_ns(created), line])
        return {
            "streams": [
                {"stream": dict(labels), "values": values} for labels, values in streams.items()
            ]
        }


def _push_body(payload: dict[str, Any]) -> bytes:
    """The payload as UTF-8 JSON: orjson, the json module for what orjson refuses (a line
    holding a lone surrogate, which then fails to encode as before)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        return body.encode("utf-8")


def timestamp_ns(created: float) -> str:
    """``record.created`` in nanoseconds, as Loki wants it (a decimal string).

    Rounded to the microsecond first: a float of epoch seconds carries no more precision, and
    this keeps ``1700000000.5`` exactly ``"1700000000500000000"``.
    """
    return str(round(created * 1_000_000) * 1000)


def static_labels(settings: ObservabilitySettings) -> dict[str, str]:
    """``job``, ``app``, ``environment`` plus ``LOKI_LABELS`` (which cannot replace those)."""
    labels = {
        key: value for key, value in settings.loki_labels.items() if key not in RESERVED_LABELS
    }
    labels.update(job=settings.loki_job, app=settings.loki_app, environment=settings.environment)
    return labels


class LokiHandler(logging.Handler):
    """A non-blocking, batching, retrying Loki handler (see the module docstring)."""

    def __init__(
        self,
        host: str,
        *,
        labels: Mapping[str, str],
        formatter: logging.Formatter | None = None,
        metrics: RsfMetrics | None = None,
        batch_size: int = 500,
        batch_interval: float = 5.0,
        buffer_size: int = 10_000,
        timeout: float = 5.0,
        max_retries: int = 5,
        shutdown_timeout: float = 5.0,
        auth: tuple[str, str] | None = None,
        tenant_id: str | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        warning_interval: float = 60.0,
        level: int = logging.NOTSET,
    ) -> None:
        super().__init__(level)
        self.setFormatter(formatter or JsonFormatter())
        self.url = host.rstrip("/") + PUSH_PATH
        self.labels = LokiLabels(labels)
        self.metrics = metrics or default_metrics()
        self.batch_size = batch_size
        self.batch_interval = batch_interval
        self.buffer_size = buffer_size
        self.timeout = timeout
        self.max_retries = max_retries
        self.shutdown_timeout = shutdown_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.warning_interval = warning_interval
        self._auth = auth
        self._headers = {"Content-Type": "application/json"}
        if tenant_id:
            self._headers["X-Scope-OrgID"] = tenant_id
        self._buffer: collections.deque[_Entry] = collections.deque()
        self._warn_lock = threading.Lock()
        self._last_warning: float | None = None
        self._suppressed: collections.Counter[str] = collections.Counter()
        #: Batches delivered and attempts that failed (for tests, benchmarks and debugging).
        self.sent_batches = 0
        self.failed_attempts = 0
        self._closed = False
        self._start_shipping()
        _live_handlers.add(self)

    def _start_shipping(self) -> None:
        self._client = httpx.Client(
            auth=httpx.BasicAuth(*self._auth) if self._auth else None,
            headers=self._headers,
            timeout=self.timeout,
        )
        # emit takes the lock itself (a Condition's ``with`` is one more Python call).
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._wakeup = threading.Event()
        self._in_flight = 0
        self._flush_requested = False
        self._stopping = False
        self._deadline: float | None = None
        self._thread = threading.Thread(target=self._run, name="rsf-loki-shipper", daemon=True)
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        """A forked worker (gunicorn, multiprocessing) gets its own thread, locks and client.

        The parent's buffered records stay the parent's to send; the child starts empty so
        nothing is shipped twice.
        """
        if self._closed:
            return
        self._buffer.clear()
        self._warn_lock = threading.Lock()
        self._start_shipping()

    @classmethod
    def from_settings(
        cls,
        settings: ObservabilitySettings,
        *,
        metrics: RsfMetrics | None = None,
        formatter: logging.Formatter | None = None,
        **overrides: Any,
    ) -> LokiHandler:
        if not settings.loki_host:
            raise ValueError("LOKI_HOST is not set")
        auth = (
            (settings.loki_username, settings.loki_password or "")
            if settings.loki_username
            else None
        )
        options: dict[str, Any] = {
            "labels": static_labels(settings),
            "formatter": formatter
            or JsonFormatter(
                service=settings.service_name,
                environment=settings.environment,
                redact_keys=settings.redact_keys,
            ),
            "metrics": metrics,
            "batch_size": settings.loki_batch_size,
            "batch_interval": settings.loki_batch_interval,
            "buffer_size": settings.loki_buffer_size,
            "timeout": settings.loki_timeout,
            "max_retries": settings.loki_max_retries,
            "shutdown_timeout": settings.loki_shutdown_timeout,
            "auth": auth,
            "tenant_id": settings.loki_tenant_id,
        }
        options.update(overrides)
        return cls(settings.loki_host, **options)

    # --- producing side: never waits on the network ---------------------------------------

    def handle(self, record: logging.LogRecord) -> bool:
        """Filters, then :meth:`emit` without the handler-wide lock: emit guards its buffer."""
        passed = self.filter(record)
        if isinstance(passed, logging.LogRecord):  # Python 3.12+: a filter may swap the record
            record = passed
        if passed:
            self.emit(record)
        return bool(passed)

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread in _shipper_threads:
            return
        try:
            entry = (record.levelno, record.created, self.format(record))
        except Exception:
            self.handleError(record)
            return
        with self._lock:
            if self._stopping:
                dropped = DROP_SHUTDOWN
            elif len(self._buffer) >= self.buffer_size:
                dropped = DROP_BUFFER_FULL
            else:
                self._buffer.append(entry)
                if len(self._buffer) >= self.batch_size:
                    self._wakeup.set()
                return
        self._dropped(dropped, 1)

    @property
    def pending(self) -> int:
        """Records buffered or being sent."""
        with self._cond:
            return len(self._buffer) + self._in_flight

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Send everything buffered now; ``True`` when it was delivered (or dropped) in time."""
        if self._closed:
            return self.pending == 0
        deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
        with self._cond:
            self._flush_requested = True
        self._wakeup.set()
        with self._cond:
            while self._buffer or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float | None = None) -> None:
        """Deliver what can be delivered within ``timeout`` (default ``shutdown_timeout``), stop."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            _live_handlers.discard(self)
            self._stopping = True
            self._deadline = time.monotonic() + (
                self.shutdown_timeout if timeout is None else timeout
            )
            deadline = self._deadline
        self._wakeup.set()
        self._thread.join(max(0.0, deadline - time.monotonic()) + 1.0)
        with self._cond:
            left = len(self._buffer)
            self._buffer.clear()
        if left:
            self._dropped(DROP_SHUTDOWN, left)
        if not self._thread.is_alive():
            self._client.close()
        super().close()

    # --- shipping thread ------------------------------------------------------------------

    def _run(self) -> None:
        _shipper_threads.add(threading.get_ident())
        try:
            self._loop()
        finally:
            _shipper_threads.discard(threading.get_ident())

    def _loop(self) -> None:
        next_flush = time.monotonic() + self.batch_interval
        while True:
            with self._cond:
                stopping = self._stopping
                force = stopping or self._flush_requested or time.monotonic() >= next_flush
                full = len(self._buffer) >= self.batch_size
                self._flush_requested = False
            if force or full:
                self._drain(force)
                if stopping:
                    break
                if force:
                    next_flush = time.monotonic() + self.batch_interval
                continue
            # The state checked above is authoritative; the event only cuts the wait short.
            self._wakeup.wait(max(0.0, next_flush - time.monotonic()))
            self._wakeup.clear()
        with self._cond:
            self._cond.notify_all()

    def _drain(self, force: bool) -> None:
        """Send full batches; with ``force`` (interval, flush, close) also the last partial one."""
        while True:
            with self._cond:
                force = force or self._stopping or self._flush_requested
                if not self._buffer or (not force and len(self._buffer) < self.batch_size):
                    self._cond.notify_all()
                    return
                count = min(self.batch_size, len(self._buffer))
                batch = [self._buffer.popleft() for _ in range(count)]
                self._in_flight = len(batch)
            try:
                self._send(batch)
            except Exception as exc:
                self._dropped(DROP_ERROR, len(batch), detail=repr(exc))
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _remaining(self) -> float | None:
        deadline = self._deadline
        return None if deadline is None else deadline - time.monotonic()

    def _send(self, batch: list[_Entry]) -> None:
        content = _push_body(self.labels.payload(batch))
        attempt = 0
        while True:
            remaining = self._remaining()
            if remaining is not None and remaining <= 0:
                self._dropped(DROP_SHUTDOWN, len(batch))
                return
            timeout = self.timeout if remaining is None else min(self.timeout, remaining)
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, content=content, timeout=timeout)
            except httpx.TransportError as exc:
                self.failed_attempts += 1
                problem = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status < 300:
                    self.sent_batches += 1
                    return
                if status != 429 and status < 500:
                    self._dropped(DROP_REJECTED, len(batch), detail=f"HTTP {status}")
                    return
                self.failed_attempts += 1
                problem = f"HTTP {status}"
                retry_after = _retry_after(response)
            if attempt >= self.max_retries:
                self._dropped(DROP_RETRIES_EXHAUSTED, len(batch), detail=problem)
                return
            delay = self._backoff(attempt, retry_after)
            remaining = self._remaining()
            if remaining is not None:
                if remaining <= 0:
                    self._dropped(DROP_SHUTDOWN, len(batch), detail=problem)
                    return
                delay = min(delay, remaining)
            attempt += 1
            self._sleep(delay)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential, capped, with jitter (half to full of the step) so clients spread out."""
        step = min(self.backoff_max, self.backoff_base * float(2**attempt))
        delay = step * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay

    def _sleep(self, seconds: float) -> None:
        """Wait between retries; a ``close()`` wakes it so the deadline is used for sending."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if self._stopping and self._deadline is not None:
                left = min(left, max(0.0, self._deadline - time.monotonic()))
                if left <= 0:
                    return
            self._wakeup.wait(left)
            self._wakeup.clear()

    # --- accounting -----------------------------------------------------------------------

    def _dropped(self, reason: str, count: int, detail: str = "") -> None:
        if count <= 0:
            return
        self.metrics.log_records_dropped_total.labels(reason=reason).inc(count)
        now = time.monotonic()
        with self._warn_lock:
            self._suppressed[reason] += count
            if self._last_warning is not None and now - self._last_warning < self.warning_interval:
                return
            self._last_warning = now
            counts = ", ".join(f"{n} {why}" for why, n in sorted(self._suppressed.items()))
            self._suppressed.clear()
        suffix = f" (last problem: {detail})" if detail else ""
        try:
            sys.stderr.write(
                f"rsf-observability: dropped Loki log records ({counts}) shipping to "
                f"{self.url}{suffix}; next warning in {self.warning_interval:g}s at the earliest\n"
            )
            sys.stderr.flush()
        except Exception:  # noqa: S110 - stderr gone (interpreter exit): nothing else to tell
            pass


_live_handlers: weakref.WeakSet[LokiHandler] = weakref.WeakSet()


def _restart_after_fork() -> None:
    _shipper_threads.clear()
    for handler in list(_live_handlers):
        handler._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_restart_after_fork)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
