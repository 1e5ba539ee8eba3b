"""HTTP request metrics for any ASGI app (the guide's ``PerformanceMonitor``), pure ASGI.

Labels are bounded: ``route`` is the matched route template (:func:`route_template`) or
``"<unmatched>"``; ``method`` is a known HTTP method or ``"OTHER"``; ``status_code`` is the
status sent (``499`` when the client went away before a response started).

``http_requests_in_progress`` is route-agnostic: its ``route`` label is always ``"<all>"``.
The route is known only after the router ran, i.e. after the request started, and matching the
routes a second time up front would double the routing cost of every request. Per-route
concurrency is still available from the histogram (Little's law:
``sum by (route) (rate(http_request_duration_seconds_sum[5m]))``).
"""

from __future__ import annotations

import fnmatch
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability.log_enrichment import install_record_factory
from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.routes import UNMATCHED, route_template
from rsf_observability.settings import ObservabilitySettings

logger = logging.getLogger("rsf.http")

ALL_ROUTES = "<all>"
"""The ``route`` label value of ``http_requests_in_progress`` (see the module docstring)."""

CLIENT_CLOSED_REQUEST = 499
"""nginx's status for a client that disconnected before the response started."""

KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)


def method_label(method: str) -> str:
    """The request method, or ``"OTHER"`` for anything outside the standard set."""
    return method if method in KNOWN_METHODS else "OTHER"


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")


@dataclass(frozen=True)
class PathSkipper:
    """Decides whether a path goes unmeasured: a set lookup, a ``startswith`` for ``prefix/*``
    patterns, and one regex only for other globs."""

    patterns: tuple[str, ...]
    _exact: frozenset[str] = field(init=False)
    _prefixes: tuple[str, ...] = field(init=False)
    _glob: re.Pattern[str] | None = field(init=False)

    def __post_init__(self) -> None:
        exact = frozenset(p for p in self.patterns if not _is_glob(p))
        prefixes = tuple(p[:-1] for p in self.patterns if p.endswith("*") and not _is_glob(p[:-1]))
        rest = [p for p in self.patterns if p not in exact and p[:-1] not in prefixes]
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_prefixes", prefixes)
        pattern = "|".join(fnmatch.translate(p) for p in rest)
        object.__setattr__(self, "_glob", re.compile(pattern) if rest else None)

    def __call__(self, path: str) -> bool:
        if path in self._exact or (self._prefixes and path.startswith(self._prefixes)):
            return True
        return self._glob is not None and self._glob.match(path) is not None


@dataclass
class HttpMetricsMiddleware:
    """Records duration, count, errors and in-progress of every HTTP request.

    Duration ends when the last response body message has been sent, so background tasks run
    after the response are not counted. Requests whose path matches ``skip_paths`` (glob
    patterns, default ``settings.metrics_skip_paths``) pass straight through. Non-HTTP scopes
    (lifespan, websocket) pass through untouched.
    """

    app: ASGIApp
    metrics: RsfMetrics = field(default_factory=default_metrics)
    settings: ObservabilitySettings | None = None
    slow_request_ms: float | None = None
    skip_paths: Iterable[str] | None = None
    route_resolver: Callable[[Mapping[str, Any]], str | None] = route_template
    _skip: PathSkipper = field(init=False, repr=False)
    _slow_seconds: float = field(init=False, repr=False)
    _series: dict[tuple[str, str, int], _Series] = field(init=False, repr=False)
    _in_progress: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        settings = self.settings or ObservabilitySettings()
        skip = settings.metrics_skip_paths if self.skip_paths is None else self.skip_paths
        self._skip = PathSkipper(tuple(skip))
        slow_ms = settings.slow_request_ms if self.slow_request_ms is None else self.slow_request_ms
        self._slow_seconds = slow_ms / 1000.0
        self._series = {}
        self._in_progress = {}
        # The slow-request record's correlation id comes from the record factory: passing it in
        # ``extra`` would collide with the attribute the factory already set.
        install_record_factory()

    def _in_progress_child(self, method: str) -> Any:
        child = self._in_progress.get(method)
        if child is None:
            child = self.metrics.http_requests_in_progress.labels(method, ALL_ROUTES)
            self._in_progress[method] = child
        return child

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._skip(scope["path"]):
            await self.app(scope, receive, send)
            return
        await _Exchange(self, scope, method_label(scope["method"])).run(self.app, receive, send)

    def _record(self, scope: Scope, method: str, status: int, duration: float) -> None:
        route = self.route_resolver(scope) or UNMATCHED
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = _Series.bind(self.metrics, method, route, status)
            self._series[key] = series
        series.duration.observe(duration)
        series.total.inc()
        if series.errors is not None:
            series.errors.inc()
        if duration > self._slow_seconds:
            logger.warning(
                "Slow request detected",
                extra={
                    "method": method,
                    "route": route,
                    "status_code": status,
                    "duration": round(duration * 1000.0, 3),
                },
            )


@dataclass(frozen=True, slots=True)
class _Series:
    """The label children of one (method, route, status): ``labels()`` validates and locks on
    every call, so each combination (a bounded set) is bound once per middleware."""

    duration: Any
    total: Any
    errors: Any

    @classmethod
    def bind(cls, metrics: RsfMetrics, method: str, route: str, status: int) -> _Series:
        code = str(status)
        return cls(
            metrics.http_request_duration_seconds.labels(method, route, code),
            metrics.http_requests_total.labels(method, route, code),
            metrics.http_errors_total.labels(method, route, code) if status >= 400 else None,
        )


class _Exchange:
    """The state of one request; lives only for that request (the middleware stays stateless)."""

    __slots__ = (
        "_client_gone",
        "_done",
        "_in_progress",
        "_method",
        "_owner",
        "_scope",
        "_start",
        "_status",
        "_trailers",
    )

    def __init__(self, owner: HttpMetricsMiddleware, scope: Scope, method: str) -> None:
        self._owner = owner
        self._scope = scope
        self._method = method
        self._status: int | None = None
        self._trailers = False
        self._client_gone = False
        self._done = False
        self._in_progress = owner._in_progress_child(method)
        self._start = 0.0

    async def run(self, app: ASGIApp, receive: Receive, send: Send) -> None:
        self._in_progress.inc()
        self._start = time.perf_counter()

        async def receive_watching() -> Message:
            message = await receive()
            if message["type"] == "http.disconnect" and self._status is None:
                self._client_gone = True
            return message

        async def send_timing(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                self._status = message["status"]
                self._trailers = bool(message.get("trailers", False))
            try:
                await send(message)
            finally:
                if self._is_last(kind, message):
                    self._finish()

        try:
            await app(self._scope, receive_watching, send_timing)
        except BaseException as exc:
            if not self._done and self._status is None and not self._client_gone:
                # Cancelled: the server gave up on the client; anything else: a crash.
                self._client_gone = isinstance(exc, anyio.get_cancelled_exc_class())
                if not self._client_gone:
                    self._status = 500
            raise
        finally:
            self._finish()

    def _is_last(self, kind: str, message: Message) -> bool:
        """The message that completes the response (body, trailers or a path send)."""
        if kind == "http.response.body":
            return not self._trailers and not message.get("more_body", False)
        if kind == "http.response.trailers":
            return not message.get("more_trailers", False)
        return kind == "http.response.pathsend"

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        duration = time.perf_counter() - self._start
        self._in_progress.dec()
        if self._client_gone:
            status = CLIENT_CLOSED_REQUEST
        elif self._status is None:
            status = 500  # the app returned without a response; the server answers 500
        else:
            status = self._status
        self._owner._record(self._scope, self._method, status, duration)
