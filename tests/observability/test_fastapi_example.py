"""The FastAPI example (examples/fastapi_app.py) behaves as docs/tracing.md says."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from rsf_observability.log_enrichment import uninstall_record_factory
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from examples import fastapi_app
from tests.support.log_capture import capture_logs
from tests.support.uvicorn_server import serve_on_loopback as _serve

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"
SETTINGS = ObservabilitySettings(service_name="example-test", environment="test")


@pytest.fixture
def global_spans() -> Iterator[InMemorySpanExporter]:
    """Spans of the process-wide provider, which FastAPI's own telemetry would also write to.

    Importing the example instrumented its module-level app, so a global SDK provider exists;
    giving the test app that same provider makes any second span per request visible here.
    """
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # the processor stays on the global provider but keeps nothing
    uninstall_record_factory()


@pytest.fixture
def example(global_spans: InMemorySpanExporter) -> FastAPI:
    return fastapi_app.create_app(
        SETTINGS, metrics=RsfMetrics(), tracer_provider=trace.get_tracer_provider()
    )


def _client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _metric(app: FastAPI, name: str, **labels: str) -> float | None:
    registry = app.state.instrumentation.metrics.registry
    value: float | None = registry.get_sample_value(name, labels)
    return value


def _hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def test_the_module_level_app_is_instrumented() -> None:
    assert fastapi_app.app.state.instrumentation.settings.metrics_path == "/metrics"


async def test_one_span_per_request_with_the_route_template_and_parent(
    example: FastAPI, global_spans: InMemorySpanExporter
) -> None:
    with capture_logs("rsf.ExampleApp") as logs:
        async with _client(example) as client:
            response = await client.get("/orders/42", headers={"traceparent": TRACEPARENT})
    assert response.json() == {"orderId": "42", "status": "settled"}

    # FastAPI's native request and operation spans are off: exactly our one SERVER span.
    (span,) = global_spans.get_finished_spans()
    assert span.name == "GET /orders/{order_id}"
    assert _hex_trace(span) == TRACE_ID
    assert (span.attributes or {})["http.route"] == "/orders/{order_id}"
    assert (span.attributes or {})["rsf.correlation_id"] == response.headers["x-correlation-id"]

    record = logs.one("Order looked up")
    assert record.trace_id == TRACE_ID  # type: ignore[attr-defined]
    assert record.correlationId == response.headers["x-correlation-id"]  # type: ignore[attr-defined]


async def test_correlation_ids_generated_and_echoed(example: FastAPI) -> None:
    async with _client(example) as client:
        generated = await client.get("/orders/1")
        echoed = await client.get("/orders/1", headers={"x-correlation-id": "cid-example-1"})
    assert re.fullmatch(r"req_\d{13}_[0-9a-z]{9}", generated.headers["x-correlation-id"])
    assert echoed.headers["x-correlation-id"] == "cid-example-1"


async def test_included_router_metrics_and_problem_errors(
    example: FastAPI, global_spans: InMemorySpanExporter
) -> None:
    async with _client(example) as client:
        body = {"settlement_id": "s-1", "amount": "100.00"}
        assert (await client.post("/api/settlements", json=body)).status_code == 201
        duplicate = await client.post(
            "/api/settlements", json=body, headers={"x-correlation-id": "cid-dup"}
        )
        assert (await client.get("/api/settlements/s-1")).status_code == 200
        missing = await client.get("/api/settlements/s-404")
        scrape = await client.get("/metrics")

    assert duplicate.status_code == 409
    assert duplicate.json()["errorCode"] == "duplicate_settlement"
    assert duplicate.json()["correlationId"] == "cid-dup"
    assert missing.status_code == 404
    assert missing.json()["message"] == "No settlement s-404"
    assert _metric(
        example,
        "http_requests_total",
        method="POST",
        route="/api/settlements",
        status_code="409",
    )
    assert (
        _metric(
            example,
            "http_errors_total",
            method="GET",
            route="/api/settlements/{settlement_id}",
            status_code="404",
        )
        == 1.0
    )
    assert 'route="/api/settlements/{settlement_id}"' in scrape.text
    assert [s.name for s in global_spans.get_finished_spans()] == [
        "POST /api/settlements",
        "POST /api/settlements",
        "GET /api/settlements/{settlement_id}",
        "GET /api/settlements/{settlement_id}",
    ]


async def test_crash_and_unknown_route_answer_json_with_the_id(
    example: FastAPI, global_spans: InMemorySpanExporter
) -> None:
    async with _client(example) as client:
        crash = await client.get("/crash", headers={"x-correlation-id": "cid-crash"})
        unknown = await client.get("/no/such/thing", headers={"x-correlation-id": "cid-404"})
    assert crash.status_code == 500
    assert crash.json()["correlationId"] == "cid-crash"
    assert "never in the response" not in crash.text
    assert unknown.status_code == 404
    assert unknown.json()["correlationId"] == "cid-404"
    assert _metric(example, "http_requests_total", method="GET", route="/crash", status_code="500")
    crash_span, unknown_span = global_spans.get_finished_spans()
    assert crash_span.status.is_ok is False
    assert [e.name for e in crash_span.events] == ["exception"]
    assert unknown_span.name == "GET"


async def test_relay_carries_trace_and_correlation_to_the_downstream(
    global_spans: InMemorySpanExporter,
) -> None:
    seen: list[dict[str, str]] = []

    async def order(request: Request) -> Response:
        seen.append(dict(request.headers))
        return JSONResponse({"orderId": request.path_params["order_id"]})

    downstream = Starlette(routes=[Route("/orders/{order_id}", order)])
    async with _serve(downstream) as downstream_url:
        example = fastapi_app.create_app(
            SETTINGS,
            metrics=RsfMetrics(),
            tracer_provider=trace.get_tracer_provider(),
            downstream_url=downstream_url,
        )
        async with _client(example) as client:
            response = await client.get(
                "/relay", headers={"traceparent": TRACEPARENT, "x-correlation-id": "cid-relay"}
            )
    assert response.json() == {"downstream": {"orderId": "7"}}
    (headers,) = seen
    assert headers["x-correlation-id"] == "cid-relay"
    assert headers["traceparent"].split("-")[1] == TRACE_ID
    (relay_span,) = global_spans.get_finished_spans()
    assert relay_span.name == "GET /relay"
    assert relay_span.context is not None
    assert headers["traceparent"].split("-")[2] == format(relay_span.context.span_id, "016x")
