"""One OpenTelemetry SERVER span per HTTP request, named after the route template.

Pure ASGI and deliberately small: no child spans per ``send``/``receive`` (the contrib ASGI
instrumentation makes three spans per request that way), no raw paths in span names. The span is
the current span while the app runs, so log records (``log_enrichment``) carry its ``trace_id``
and ``span_id`` and outbound httpx calls (``outbound``) carry its ``traceparent``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from time import time_ns
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import Getter
from opentelemetry.trace import Span, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability.context import get_correlation_id
from rsf_observability.routes import route_template
from rsf_observability.server_span import ServerSpanStarter, put_attribute
from rsf_observability.tracing import TRACER_NAME

CORRELATION_ID_ATTRIBUTE: Final = "rsf.correlation_id"

# HTTP semantic conventions: any other method is reported as ``_OTHER`` and names the span
# ``HTTP``, so a client inventing methods cannot inflate span names.
_KNOWN_METHODS: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "QUERY", "TRACE"}
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class _ScopeHeaders(Getter[Scope]):
    """Reads propagation headers straight from ``scope["headers"]`` (ASGI lower-cases names)."""

    def get(self, carrier: Scope, key: str) -> list[str] | None:
        wanted = key.lower().encode("latin-1")
        values = [v.decode("latin-1") for k, v in carrier.get("headers", ()) if k == wanted]
        return values or None

    def keys(self, carrier: Scope) -> list[str]:
        return [k.decode("latin-1") for k, _ in carrier.get("headers", ())]


_GETTER: Final = _ScopeHeaders()
_NO_PARENT: Final = otel_context.Context()


class _PropagationFields:
    """The raw header names the global propagator reads, refreshed when it is replaced: most
    requests carry none of them, and then ``propagate.extract`` has nothing to find."""

    def __init__(self) -> None:
        self._propagator: object = None
        self._names: frozenset[bytes] = frozenset()

    def names(self) -> frozenset[bytes]:
        propagator = propagate.get_global_textmap()
        if propagator is not self._propagator:
            self._names = frozenset(f.lower().encode("latin-1") for f in propagator.fields)
            self._propagator = propagator
        return self._names


_FIELDS: Final = _PropagationFields()


def _parent_context(scope: Scope, propagated: bool) -> otel_context.Context:
    """``propagate.extract`` of the request's headers, skipped when none of them is a
    propagation header: extract then returns an empty context (a root span), and so do we."""
    if propagated:
        return propagate.extract(scope, getter=_GETTER)
    return _NO_PARENT


def _scan_headers(scope: Scope) -> tuple[bytes | None, bytes | None, bool]:
    """One pass over the request headers: the first Host, the first User-Agent, and whether any
    header is one the global propagator reads."""
    names = _FIELDS.names()
    host = agent = None
    propagated = False
    for key, value in scope.get("headers", ()):
        if key == b"host":
            if host is None:
                host = value
        elif key == b"user-agent":
            if agent is None:
                agent = value
        elif key in names:
            propagated = True
    return host, agent, propagated


@functools.lru_cache(maxsize=256)
def _split_host(host: str) -> tuple[str | None, int | None]:
    """``host[:port]`` -> (lower-cased host, port); ``urlsplit`` only for the unusual forms
    (IPv6 literals, anything odd), which it validates (``ValueError`` on a bad port).
    Cached: a server answers to a handful of host names."""
    name, colon, port = host.rpartition(":")
    if not colon:
        name, port = host, ""
    if name and "[" not in host and "@" not in host and "/" not in host and "?" not in host:
        if not port:
            return name.lower(), None
        if port.isascii() and port.isdigit() and int(port) <= 65535:
            return name.lower(), int(port)
    parts = urlsplit("//" + host)
    return parts.hostname, parts.port


def _server_attributes(scope: Scope, host: bytes | None, attributes: dict[str, Any]) -> None:
    """``server.address``/``server.port`` from the Host header, else the socket the server bound."""
    if host:
        try:
            address, port = _split_host(host.decode("latin-1"))
        except ValueError:
            return
        port = port or _DEFAULT_PORTS.get(scope.get("scheme", "http"))
    else:
        address, port = scope.get("server") or (None, None)
    if address:
        attributes["server.address"] = address
        if port:
            attributes["server.port"] = port


def _request_attributes(
    scope: Scope, method: str, host: bytes | None, user_agent: bytes | None
) -> dict[str, Any]:
    """The semantic-convention attributes known before the app runs (no query: it may hold secrets)."""
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.path": scope.get("path", ""),
        "url.scheme": scope.get("scheme", "http"),
    }
    _server_attributes(scope, host, attributes)
    if method == "_OTHER":
        attributes["http.request.method_original"] = scope.get("method", "")
    client = scope.get("client")
    if client:
        attributes["client.address"] = client[0]
    if user_agent is not None:
        attributes["user_agent.original"] = user_agent.decode("latin-1")
    if scope.get("http_version"):
        attributes["network.protocol.version"] = scope["http_version"]
    correlation_id = get_correlation_id()
    if correlation_id:
        attributes[CORRELATION_ID_ATTRIBUTE] = correlation_id
    return attributes


def error_type(exc: BaseException) -> str:
    """The semantic conventions' ``error.type`` of an exception: its fully qualified class name."""
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


@dataclass
class TracingMiddleware:
    """Pure ASGI middleware: a SERVER span per ``http`` request; other scopes pass untouched.

    - Name ``METHOD /route/{template}`` (mounts included, read via :mod:`rsf_observability.routes`
      once the router has run); a request no route matched is named by its method alone, as the
      semantic conventions ask, and has no ``http.route``.
    - The parent comes from the request's W3C ``traceparent`` (the global propagator).
    - Status ERROR for a 5xx response or an exception; exceptions are recorded and re-raised.
    - The span's end time is when the last ``http.response.body`` was sent, so background tasks
      do not lengthen it. It is closed only when the app returns, though: it stays current for
      background tasks (their logs carry its ids) and an exception raised after the response
      (Starlette's ``ServerErrorMiddleware`` answers 500 first, then re-raises; a failing
      background task) is still recorded on it.

    ``tracer_provider=None`` uses the global provider; until something sets one, spans are no-ops
    and only an incoming ``traceparent`` is passed on. ``skip`` returns True for scopes not
    to trace (e.g. the metrics path).
    """

    app: ASGIApp
    tracer_provider: trace.TracerProvider | None = None
    skip: Callable[[Scope], bool] | None = None
    _start_span: ServerSpanStarter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        provider = self.tracer_provider or trace.get_tracer_provider()
        self._start_span = ServerSpanStarter(provider.get_tracer(TRACER_NAME))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.skip is not None and self.skip(scope)):
            await self.app(scope, receive, send)
            return

        raw_method = scope.get("method", "")
        method = raw_method if raw_method in _KNOWN_METHODS else "_OTHER"
        span_method = "HTTP" if method == "_OTHER" else method
        host, user_agent, propagated = _scan_headers(scope)
        parent = _parent_context(scope, propagated)
        span = self._start_span(
            span_method, parent, _request_attributes(scope, method, host, user_agent)
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        finished_at: int | None = None
        trailers = False

        async def send_traced(message: Message) -> None:
            nonlocal finished_at, trailers
            kind = message["type"]
            if kind == "http.response.start":
                _response_started(span, message["status"])
                trailers = bool(message.get("trailers", False))
                await send(message)
                return
            await send(message)
            if _is_last(kind, message, trailers):
                finished_at = time_ns()

        try:
            await self.app(scope, receive, send_traced)
        except Exception as exc:
            span.record_exception(exc)
            span.set_attribute("error.type", error_type(exc))
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise
        finally:
            _name_after_route(span, span_method, scope)
            span.end(end_time=finished_at)
            otel_context.detach(token)


def _is_last(kind: str, message: Message, trailers: bool) -> bool:
    if kind == "http.response.body":
        return not message.get("more_body", False) and not trailers
    if kind == "http.response.trailers":
        return not message.get("more_trailers", False)
    return kind == "http.response.pathsend"


def _response_started(span: Span, status: int) -> None:
    put_attribute(span, "http.response.status_code", status)
    if status >= 500:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))


def _name_after_route(span: Span, span_method: str, scope: Scope) -> None:
    template = route_template(scope)
    if template is not None:
        put_attribute(span, "http.route", template)
        span.update_name(f"{span_method} {template}")
