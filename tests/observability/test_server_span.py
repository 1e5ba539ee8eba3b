"""The request span (ServerSpan) keeps the SDK span's contract for processors, exporters and code
that holds the current span: sampler decisions, limits, validation, status rules, events, links."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanLimits, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    Decision,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from rsf_observability.server_span import ServerSpan, ServerSpanStarter
from rsf_observability.tracing_middleware import TracingMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT_SAMPLED = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
TRACEPARENT_NOT_SAMPLED = f"00-{TRACE_ID}-00f067aa0ba902b7-00"


def _provider(
    exporter: InMemorySpanExporter, sampler: Sampler | None = None, **kwargs: object
) -> TracerProvider:
    provider = TracerProvider(sampler=sampler, **kwargs)  # type: ignore[arg-type]
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def _start(provider: TracerProvider, parent: otel_context.Context | None = None) -> trace.Span:
    starter = ServerSpanStarter(provider.get_tracer("tests"))
    return starter("GET", parent or otel_context.Context(), {"url.path": "/orders"})


async def _inner(request: Request) -> Response:
    tracer = trace.get_tracer_provider().get_tracer("tests.app")
    span = trace.get_current_span()
    span.set_attribute("app.user", "u-1")
    span.add_event("validated", {"orders": 3})
    with tracer.start_as_current_span("db.query"):
        pass
    return PlainTextResponse("ok")


def _client(provider: TracerProvider) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/orders/{user_id}", _inner)])
    traced = TracingMiddleware(app, tracer_provider=provider)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=traced), base_url="http://t")


async def test_exported_span_is_complete_and_user_code_sees_a_real_span() -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    original = trace.get_tracer_provider
    trace.get_tracer_provider = lambda: provider  # the app's own tracer, in this test only
    try:
        async with _client(provider) as client:
            response = await client.get("/orders/u-1", headers={"user-agent": "tests/1"})
    finally:
        trace.get_tracer_provider = original
    assert response.status_code == 200
    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans["GET /orders/{user_id}"]
    assert isinstance(server, ReadableSpan)
    assert server.kind is SpanKind.SERVER
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/orders/{user_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["user_agent.original"] == "tests/1"
    assert server.attributes["app.user"] == "u-1"
    assert [(e.name, dict(e.attributes or {})) for e in server.events] == [
        ("validated", {"orders": 3})
    ]
    assert server.start_time is not None
    assert server.end_time is not None
    assert server.start_time <= server.end_time
    assert server.resource is provider.resource
    assert server.instrumentation_scope is not None
    assert server.instrumentation_scope.name == "rsf_observability"
    child = spans["db.query"]
    assert child.parent is not None
    assert child.parent.span_id == server.context.span_id
    assert child.context.trace_id == server.context.trace_id
    assert '"name": "GET /orders/{user_id}"' in server.to_json()  # the console exporter's view


async def test_a_parent_that_was_not_sampled_makes_a_non_recording_span() -> None:
    exporter = InMemorySpanExporter()
    async with _client(_provider(exporter)) as client:
        await client.get("/orders/u-1", headers={"traceparent": TRACEPARENT_NOT_SAMPLED})
        await client.get("/orders/u-2", headers={"traceparent": TRACEPARENT_SAMPLED})
    spans = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert len(spans) == 1
    assert spans[0].parent is not None
    assert spans[0].parent.is_remote
    assert f"{spans[0].context.trace_id:032x}" == TRACE_ID


def test_a_sampler_that_drops_still_gives_ids_for_logs_and_propagation() -> None:
    exporter = InMemorySpanExporter()
    span = _start(_provider(exporter, ALWAYS_OFF))
    assert not span.is_recording()
    assert span.get_span_context().is_valid
    assert not span.get_span_context().trace_flags.sampled
    span.end()
    assert exporter.get_finished_spans() == ()


class _TaggingSampler(Sampler):
    """Samples everything and adds an attribute, as some vendor samplers do."""

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        return SamplingResult(Decision.RECORD_AND_SAMPLE, {**(attributes or {}), "sampled.by": "t"})

    def get_description(self) -> str:
        return "tagging"


def test_other_samplers_are_asked_and_their_attributes_recorded() -> None:
    exporter = InMemorySpanExporter()
    _start(_provider(exporter, _TaggingSampler())).end()
    (span,) = exporter.get_finished_spans()
    assert span.attributes == {"url.path": "/orders", "sampled.by": "t"}
    ratio_zero = _start(_provider(exporter, TraceIdRatioBased(0.0)))
    assert not ratio_zero.is_recording()


def test_attribute_limits_and_validation_match_the_sdk() -> None:
    exporter = InMemorySpanExporter()
    limits = SpanLimits(max_span_attributes=3, max_span_attribute_length=4)
    provider = _provider(exporter, span_limits=limits)
    ours = _start(provider)
    sdk = provider.get_tracer("sdk").start_span("GET", attributes={"url.path": "/orders"})
    for span in (ours, sdk):
        span.set_attribute("bad", object())  # type: ignore[arg-type]
        span.set_attributes({"a": "abcdefgh", "b": 1, "c": 2})
        span.end()
    finished_ours, finished_sdk = exporter.get_finished_spans()
    assert finished_ours.attributes == {"a": "abcd", "b": 1, "c": 2}
    assert finished_ours.attributes == finished_sdk.attributes
    assert finished_ours.dropped_attributes == finished_sdk.dropped_attributes > 0


def test_status_rules_and_exceptions() -> None:
    exporter = InMemorySpanExporter()
    span = _start(_provider(exporter))
    span.set_status(StatusCode.UNSET)
    span.set_status(Status(StatusCode.ERROR, "first"))
    span.set_status(StatusCode.OK)
    span.set_status(StatusCode.ERROR, "after OK")
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        span.record_exception(exc, {"extra": "x"})
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.status.status_code is StatusCode.OK
    (event,) = finished.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"] == "ValueError"
    assert event.attributes["exception.message"] == "bad input"
    assert "raise ValueError" in str(event.attributes["exception.stacktrace"])
    assert event.attributes["extra"] == "x"


def test_links_and_the_context_manager_form() -> None:
    exporter = InMemorySpanExporter()
    other = SpanContext(int(TRACE_ID, 16), 0x00F067AA0BA902B7, is_remote=True)
    span = _start(_provider(exporter))
    span.add_link(other, {"why": "batch"})

    def fail_inside() -> None:
        with span:
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError):
        fail_inside()
    (finished,) = exporter.get_finished_spans()
    assert [link.context for link in finished.links] == [other]
    assert finished.status.status_code is StatusCode.ERROR
    assert finished.events[0].name == "exception"


def test_an_ended_span_is_frozen(caplog: pytest.LogCaptureFixture) -> None:
    exporter = InMemorySpanExporter()
    span = _start(_provider(exporter))
    span.end()
    with caplog.at_level(logging.WARNING):
        span.set_attribute("late", 1)
        span.update_name("renamed")
        span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "GET"
    assert finished.attributes is not None
    assert "late" not in finished.attributes
    assert not span.is_recording()
    assert "ended span" in caplog.text


class _Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def on_start(self, span: object, parent_context: otel_context.Context | None = None) -> None:
        assert isinstance(span, ServerSpan)
        span.set_attribute("tenant", "t-1")
        self.events.append(("start", span.name))

    def _on_ending(self, span: object) -> None:
        self.events.append(("ending", getattr(span, "name", "")))

    def on_end(self, span: ReadableSpan) -> None:
        self.events.append(("end", span.name))


def test_span_processors_see_start_ending_and_end() -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    recorder = _Recorder()
    provider.add_span_processor(recorder)
    _start(provider).end()
    assert recorder.events == [("start", "GET"), ("ending", "GET"), ("end", "GET")]
    (finished,) = exporter.get_finished_spans()
    assert finished.attributes is not None
    assert finished.attributes["tenant"] == "t-1"


def test_a_tracer_that_is_not_the_sdks_gets_an_ordinary_span() -> None:
    starter = ServerSpanStarter(trace.NoOpTracerProvider().get_tracer("tests"))
    span = starter("GET", otel_context.Context(), {})
    assert not isinstance(span, ServerSpan)
    assert not span.is_recording()


def test_console_exporter_accepts_the_span() -> None:
    out = io.StringIO()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
    _start(provider).end()
    assert '"kind": "SpanKind.SERVER"' in out.getvalue()
