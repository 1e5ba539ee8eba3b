"""Tracing: configure_tracing and TracingMiddleware, observed through real ASGI requests."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, StatusCode
from rsf_observability.correlation import CorrelationIdMiddleware
from rsf_observability.log_enrichment import install_record_factory, uninstall_record_factory
from rsf_observability.outbound import instrument_httpx_client, outbound_headers
from rsf_observability.settings import ObservabilitySettings
from rsf_observability.tracing import configure_tracing, exporters_from_env
from rsf_observability.tracing_middleware import TracingMiddleware
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from tests.support.uvicorn_server import serve_on_loopback as _serve

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_SPAN_ID}-01"

log = logging.getLogger("tests.tracing")


class Boom(Exception):
    """Raised by a route to reach the app's own exception handler."""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def by_message(self, message: str) -> logging.LogRecord:
        return next(r for r in self.records if r.getMessage() == message)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tracer_provider = configure_tracing(
        ObservabilitySettings(
            service_name="tracing-test", environment="test", service_version="9.9.9"
        ),
        exporter=exporter,
        set_global=False,
    )
    yield tracer_provider
    tracer_provider.shutdown()


@pytest.fixture
def records() -> Iterator[_Records]:
    install_record_factory()
    handler = _Records()
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield handler
    log.removeHandler(handler)
    uninstall_record_factory()


def _hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def _hex_span(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


async def _order(request: Request) -> Response:
    log.info("handling order")
    return JSONResponse({"user": request.path_params["user_id"]})


async def _fail(request: Request) -> Response:
    return PlainTextResponse("down", status_code=503)


async def _crash(request: Request) -> Response:
    raise RuntimeError("kaput")


async def _boom(request: Request) -> Response:
    raise Boom("handled by the app")


async def _on_boom(request: Request, exc: Exception) -> Response:
    log.warning("boom handler ran")
    return JSONResponse({"handled": True}, status_code=409)


async def _stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(5):
            yield f"chunk {index}\n".encode()

    return StreamingResponse(chunks(), media_type="text/plain")


BACKGROUND_STARTED: list[int] = []


async def _with_background(request: Request) -> Response:
    async def later() -> None:
        BACKGROUND_STARTED.append(time.time_ns())
        log.info("background work")

    return PlainTextResponse("queued", background=BackgroundTask(later))


def _starlette_app() -> Starlette:
    inner = Starlette(routes=[Route("/orders/{user_id}", _order)])
    return Starlette(
        routes=[
            Route("/orders/{user_id}", _order),
            Route("/fail", _fail),
            Route("/crash", _crash),
            Route("/boom", _boom),
            Route("/stream", _stream),
            Route("/background", _with_background),
            Mount("/ui", app=inner),
        ],
        exception_handlers={Boom: _on_boom},
    )


def _traced(provider: TracerProvider) -> ASGIApp:
    return CorrelationIdMiddleware(TracingMiddleware(_starlette_app(), tracer_provider=provider))


def _client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def test_span_named_after_route_template_with_semconv_attributes(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with _client(_traced(provider)) as client:
        response = await client.get(
            "/orders/u-42",
            headers={"user-agent": "probe/1.0", "x-correlation-id": "cid-tracing-1"},
        )
    assert response.status_code == 200

    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /orders/{user_id}"
    assert span.kind is SpanKind.SERVER
    attributes = dict(span.attributes or {})
    assert attributes == {
        "http.request.method": "GET",
        "url.path": "/orders/u-42",
        "url.scheme": "http",
        "server.address": "testserver",
        "server.port": 80,
        "client.address": "127.0.0.1",
        "user_agent.original": "probe/1.0",
        "network.protocol.version": "1.1",
        "rsf.correlation_id": "cid-tracing-1",
        "http.route": "/orders/{user_id}",
        "http.response.status_code": 200,
    }
    assert span.status.status_code is StatusCode.UNSET
    assert span.resource.attributes["service.name"] == "tracing-test"
    assert span.resource.attributes["deployment.environment"] == "test"
    assert span.resource.attributes["service.version"] == "9.9.9"


async def test_mounted_route_and_unmatched_path_never_use_the_raw_path(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with _client(_traced(provider)) as client:
        assert (await client.get("/ui/orders/7")).status_code == 200
        assert (await client.get("/no/such/place/123")).status_code == 404
        assert (await client.request("BREW", "/orders/7")).status_code == 405

    mounted, unmatched, odd_method = exporter.get_finished_spans()
    assert mounted.name == "GET /ui/orders/{user_id}"
    assert (mounted.attributes or {})["http.route"] == "/ui/orders/{user_id}"
    assert unmatched.name == "GET"
    assert "http.route" not in (unmatched.attributes or {})
    assert (unmatched.attributes or {})["http.response.status_code"] == 404
    # An invented method cannot create new span names either.
    assert odd_method.name == "HTTP /orders/{user_id}"
    assert (odd_method.attributes or {})["http.request.method"] == "_OTHER"
    assert (odd_method.attributes or {})["http.request.method_original"] == "BREW"


async def test_5xx_response_marks_the_span_as_error(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with _client(_traced(provider)) as client:
        assert (await client.get("/fail")).status_code == 503

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "503"


async def test_exception_is_recorded_on_the_span_and_reraised(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    app = TracingMiddleware(_starlette_app(), tracer_provider=provider)
    transport = httpx.ASGITransport(app=app)  # raise_app_exceptions=True: it must propagate
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(RuntimeError, match="kaput"):
            await client.get("/crash")

    (span,) = exporter.get_finished_spans()
    assert span.name == "GET /crash"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "RuntimeError"
    (event,) = span.events
    assert event.name == "exception"
    assert (event.attributes or {})["exception.type"] == "RuntimeError"
    assert (event.attributes or {})["exception.message"] == "kaput"


async def test_incoming_traceparent_becomes_the_parent(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with _client(_traced(provider)) as client:
        await client.get("/orders/1", headers={"traceparent": TRACEPARENT})
        await client.get("/orders/2")

    continued, fresh = exporter.get_finished_spans()
    assert _hex_trace(continued) == TRACE_ID
    assert continued.parent is not None
    assert format(continued.parent.span_id, "016x") == PARENT_SPAN_ID
    assert continued.parent.is_remote
    assert fresh.parent is None
    assert _hex_trace(fresh) != TRACE_ID


async def test_one_span_per_request_even_for_a_streamed_body(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with _client(_traced(provider)) as client:
        response = await client.post("/stream", content=b"x" * 10_000)
        assert response.status_code == 405
        response = await client.get("/stream")
    assert response.text.count("chunk") == 5

    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["POST /stream", "GET /stream"]
    assert all(s.parent is None for s in spans)


async def test_log_records_inside_the_span_carry_its_ids(
    provider: TracerProvider, exporter: InMemorySpanExporter, records: _Records
) -> None:
    async with _client(_traced(provider)) as client:
        await client.get("/orders/5")
        handled = await client.get("/boom")
        await client.get("/background")
    assert handled.status_code == 409
    log.info("outside any request")

    order_span, boom_span, background_span = exporter.get_finished_spans()
    inside = records.by_message("handling order")
    assert inside.trace_id == _hex_trace(order_span)  # type: ignore[attr-defined]
    assert inside.span_id == _hex_span(order_span)  # type: ignore[attr-defined]

    from_handler = records.by_message("boom handler ran")
    assert from_handler.trace_id == _hex_trace(boom_span)  # type: ignore[attr-defined]
    assert from_handler.span_id == _hex_span(boom_span)  # type: ignore[attr-defined]
    assert boom_span.name == "GET /boom"

    background = records.by_message("background work")
    assert background.trace_id == _hex_trace(background_span)  # type: ignore[attr-defined]
    # The span's end is the last body, taken before the background task began.
    assert background_span.end_time is not None
    assert background_span.end_time <= BACKGROUND_STARTED[-1]

    outside = records.by_message("outside any request")
    assert outside.trace_id is None  # type: ignore[attr-defined]


async def test_websocket_and_lifespan_pass_through(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    started: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append("up")
        yield

    app = TracingMiddleware(Starlette(lifespan=lifespan), tracer_provider=provider)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []

    async def receive() -> dict[str, str]:
        return next(messages)

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])

    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)  # type: ignore[arg-type]
    assert started == ["up"]
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert exporter.get_finished_spans() == ()


# --- outbound propagation, end to end over loopback ---------------------------------------------


async def test_traceparent_and_correlation_id_reach_the_downstream_service(
    provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    seen: dict[str, str] = {}

    async def downstream_echo(request: Request) -> Response:
        seen.update(request.headers)
        return JSONResponse({"ok": True})

    downstream = Starlette(routes=[Route("/echo", downstream_echo)])

    async with _serve(downstream) as downstream_url:

        async def call_downstream(request: Request) -> Response:
            async with instrument_httpx_client(httpx.AsyncClient()) as outbound:
                reply = await outbound.get(f"{downstream_url}/echo")
            return JSONResponse(reply.json())

        upstream = CorrelationIdMiddleware(
            TracingMiddleware(
                Starlette(routes=[Route("/relay", call_downstream)]), tracer_provider=provider
            )
        )
        async with _client(upstream) as client:
            response = await client.get(
                "/relay",
                headers={"traceparent": TRACEPARENT, "x-correlation-id": "cid-relay-7"},
            )
    assert response.json() == {"ok": True}

    (server_span,) = exporter.get_finished_spans()
    assert _hex_trace(server_span) == TRACE_ID
    version, trace_id, parent_id, _flags = seen["traceparent"].split("-")
    assert version == "00"
    assert trace_id == TRACE_ID
    assert parent_id == _hex_span(server_span)  # the downstream's parent is our server span
    assert seen["x-correlation-id"] == "cid-relay-7"


# --- configure_tracing -------------------------------------------------------------------------


def test_configure_tracing_twice_gives_independent_providers() -> None:
    first_exporter, second_exporter = InMemorySpanExporter(), InMemorySpanExporter()
    first = configure_tracing(exporter=first_exporter, set_global=False)
    second = configure_tracing(exporter=second_exporter, set_global=False)
    try:
        assert first is not second
        with first.get_tracer("t").start_as_current_span("one"):
            pass
        with second.get_tracer("t").start_as_current_span("two"):
            pass
        assert [s.name for s in first_exporter.get_finished_spans()] == ["one"]
        assert [s.name for s in second_exporter.get_finished_spans()] == ["two"]
    finally:
        first.shutdown()
        second.shutdown()


def test_sampler_comes_from_the_standard_variables(
    monkeypatch: pytest.MonkeyPatch, exporter: InMemorySpanExporter
) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    provider = configure_tracing(exporter=exporter, set_global=False)
    try:
        assert provider.sampler is ALWAYS_OFF
        with provider.get_tracer("t").start_as_current_span("dropped") as span:
            assert span.get_span_context().is_valid  # logs still get ids
        assert exporter.get_finished_spans() == ()
    finally:
        provider.shutdown()

    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    provider = configure_tracing(set_global=False)
    try:
        assert "0.25" in provider.sampler.get_description()
    finally:
        provider.shutdown()


def test_exporter_selection_from_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert exporters_from_env() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert exporters_from_env() == []
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    (console,) = exporters_from_env()
    assert isinstance(console, ConsoleSpanExporter)

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:9/v1/traces")
    provider = configure_tracing(set_global=False)
    try:
        processors = provider._active_span_processor._span_processors
        (processor,) = processors
        assert isinstance(processor, BatchSpanProcessor)  # off the request path
        assert type(processor._batch_processor._exporter).__name__ == "OTLPSpanExporter"
    finally:
        provider.shutdown()

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ValueError, match="zipkin"):
        exporters_from_env()


def test_missing_otlp_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    # A None entry makes ``import`` fail as if the extra were not installed.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(RuntimeError, match=r"rsf-observability\[otlp\]"):
        configure_tracing(set_global=False)


async def test_disabled_sdk_still_passes_an_incoming_traceparent_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    provider = configure_tracing(set_global=False)

    async def headers_we_would_send(request: Request) -> Response:
        return JSONResponse(outbound_headers())

    app = TracingMiddleware(
        Starlette(routes=[Route("/", headers_we_would_send)]), tracer_provider=provider
    )
    async with _client(app) as client:
        continued = await client.get("/", headers={"traceparent": TRACEPARENT})
        fresh = await client.get("/")
    assert continued.json()["traceparent"].split("-")[1] == TRACE_ID
    assert "traceparent" not in fresh.json()
