"""instrument(): every piece on a Starlette app, in the right order, through real requests."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from rsf_observability.errors import ProblemError
from rsf_observability.health import CheckResult, HealthMonitor
from rsf_observability.instrument import Instrumentation, instrument
from rsf_observability.log_enrichment import uninstall_record_factory
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_observability.tracing import configure_tracing
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from tests.support.log_capture import capture_logs
from tests.support.uvicorn_server import serve_on_loopback

SETTINGS = ObservabilitySettings(service_name="instrument-test", environment="test")


class _Traced:
    """A fresh app instrumented with its own metrics registry and in-memory spans."""

    def __init__(self, app: Starlette, **kwargs: Any) -> None:
        self.app = app
        self.exporter = InMemorySpanExporter()
        self.metrics = RsfMetrics()
        self.provider = configure_tracing(SETTINGS, exporter=self.exporter, set_global=False)
        self.instrumentation = instrument(
            app, SETTINGS, metrics=self.metrics, tracer_provider=self.provider, **kwargs
        )

    def spans(self) -> tuple[ReadableSpan, ...]:
        return self.exporter.get_finished_spans()

    def requests_total(self, method: str, route: str, status: str) -> float | None:
        return self.metrics.registry.get_sample_value(
            "http_requests_total", {"method": method, "route": route, "status_code": status}
        )


def _hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


async def _order(request: Request) -> Response:
    return JSONResponse({"order": request.path_params["order_id"]})


async def _crash(request: Request) -> Response:
    raise RuntimeError("secret internals at line 42")


async def _problem(request: Request) -> Response:
    raise ProblemError(409, "Settlement already exists", details={"id": "s-1"})


def _app(**kwargs: Any) -> Starlette:
    api = Starlette(routes=[Route("/orders/{order_id}", _order)])
    return Starlette(
        routes=[
            Route("/crash", _crash),
            Route("/problem", _problem, methods=["POST"]),
            Mount("/api", app=api),
        ],
        **kwargs,
    )


def _client(app: ASGIApp) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture(autouse=True)
def _restore_record_factory() -> Iterator[None]:
    yield
    uninstall_record_factory()


async def test_a_crash_in_a_route_is_a_json_500_seen_by_every_layer() -> None:
    traced = _Traced(_app())
    with capture_logs("rsf.errors", "rsf.access") as logs:
        async with _client(traced.app) as client:
            response = await client.get("/crash", headers={"x-correlation-id": "cid-crash-1"})

    # correlation (outermost): the header and the body carry the id, no stack trace leaks
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "cid-crash-1"
    body = response.json()
    assert body["correlationId"] == "cid-crash-1"
    assert body["errorCode"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text

    # tracing: one span, with the 500, the exception and the template
    (span,) = traced.spans()
    assert span.name == "GET /crash"
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["http.response.status_code"] == 500
    assert (span.attributes or {})["rsf.correlation_id"] == "cid-crash-1"
    assert [event.name for event in span.events] == ["exception"]

    # metrics: counted as a 500 of the route template
    assert traced.requests_total("GET", "/crash", "500") == 1.0

    # logs: one error record, inside the span, and the access log saw the 500
    (error,) = logs.with_message("Unhandled exception: RuntimeError")
    assert error.trace_id == _hex_trace(span)  # type: ignore[attr-defined]
    assert error.correlationId == "cid-crash-1"  # type: ignore[attr-defined]
    outgoing = logs.one("Outgoing response")
    assert outgoing.trace_id == _hex_trace(span)  # type: ignore[attr-defined]


async def test_the_apps_own_500_handler_runs_inside_the_span() -> None:
    async def on_error(request: Request, exc: Exception) -> Response:
        logging.getLogger("tests.handler").error("custom 500 handler ran")
        return JSONResponse({"custom": True}, status_code=500)

    traced = _Traced(_app(exception_handlers={Exception: on_error}))
    with capture_logs("tests.handler") as logs:
        async with _client(traced.app) as client:
            response = await client.get("/crash")
    assert response.json() == {"custom": True}
    assert "x-correlation-id" in response.headers
    (span,) = traced.spans()
    assert logs.one("custom 500 handler ran").trace_id == _hex_trace(span)  # type: ignore[attr-defined]


async def test_metrics_route_and_route_templates_with_mounts() -> None:
    traced = _Traced(_app())
    async with _client(traced.app) as client:
        for order in ("a", "b", "c"):
            assert (await client.get(f"/api/orders/{order}")).status_code == 200
        scrape = await client.get("/metrics")

    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    assert (
        'http_requests_total{method="GET",route="/api/orders/{order_id}",status_code="200"} 3.0'
        in scrape.text
    )
    assert "system_cpu_usage_percent" in scrape.text
    # the scrape itself is neither measured nor traced
    assert "/metrics" not in {s.name.split(" ", 1)[-1] for s in traced.spans()}
    assert [s.name for s in traced.spans()] == ["GET /api/orders/{order_id}"] * 3


async def test_unknown_route_wrong_method_and_problem_errors_answer_json() -> None:
    traced = _Traced(_app())
    async with _client(traced.app) as client:
        missing = await client.get("/nowhere", headers={"x-correlation-id": "cid-404"})
        wrong = await client.get("/problem", headers={"x-correlation-id": "cid-405"})
        problem = await client.post("/problem", headers={"x-correlation-id": "cid-409"})

    assert missing.status_code == 404
    assert missing.json()["correlationId"] == "cid-404"
    assert missing.json()["errorCode"] == "not_found"
    assert wrong.status_code == 405
    assert wrong.json()["correlationId"] == "cid-405"
    assert wrong.headers["allow"] == "POST"
    assert problem.status_code == 409
    assert problem.json() == {
        "success": False,
        "errorCode": "conflict",
        "message": "Settlement already exists",
        "details": {"id": "s-1"},
        "correlationId": "cid-409",
    }
    assert traced.requests_total("GET", "<unmatched>", "404") == 1.0
    assert [s.name for s in traced.spans()] == ["GET", "GET /problem", "POST /problem"]


async def test_two_apps_in_one_process_are_independent() -> None:
    first, second = _Traced(_app()), _Traced(_app())
    async with _client(first.app) as one, _client(second.app) as two:
        await one.get("/api/orders/1")
        await two.get("/api/orders/2")
        await two.get("/api/orders/3")
    assert first.requests_total("GET", "/api/orders/{order_id}", "200") == 1.0
    assert second.requests_total("GET", "/api/orders/{order_id}", "200") == 2.0
    assert len(first.spans()) == 1
    assert len(second.spans()) == 2


async def test_default_tracer_provider_twice_in_one_process() -> None:
    """Without a provider instrument() builds one per app; only the first can become global."""
    apps = [_app(), _app()]
    setups = [instrument(app, SETTINGS, metrics=RsfMetrics()) for app in apps]
    assert setups[0].tracer_provider is not setups[1].tracer_provider
    assert all(setup.owns_tracer_provider for setup in setups)
    with capture_logs("rsf.access") as logs:
        for app in apps:
            async with _client(app) as client:
                assert (await client.get("/api/orders/9")).status_code == 200
    trace_ids = {record.trace_id for record in logs.with_message("Outgoing response")}  # type: ignore[attr-defined]
    assert len(trace_ids) == 2
    assert None not in trace_ids


def test_instrumenting_an_app_twice_is_refused() -> None:
    traced = _Traced(_app())
    with pytest.raises(RuntimeError, match="already"):
        instrument(traced.app, SETTINGS, metrics=RsfMetrics(), tracer_provider=traced.provider)


# --- lifespan, under a real server ----------------------------------------------------------


def _serve(app: Any) -> AbstractAsyncContextManager[str]:
    return serve_on_loopback(app, lifespan="on")


async def test_lifespan_wraps_the_apps_own_and_runs_the_background_tasks() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def own_lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append("app startup")
        yield {"db": "connected"}
        events.append("app shutdown")

    async def state(request: Request) -> Response:
        return JSONResponse({"db": request.state.db})

    async def always_fine() -> CheckResult:
        return CheckResult()

    monitor = HealthMonitor(SETTINGS, interval=60)
    monitor.register("noop", always_fine)
    app = Starlette(routes=[Route("/state", state)], lifespan=own_lifespan)
    traced = _Traced(app, health=monitor)
    setup: Instrumentation = traced.instrumentation

    async with _serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert events == ["app startup"]
        assert (await client.get("/state")).json() == {"db": "connected"}
        assert setup.system_metrics.running
        assert monitor.running
        health = await client.get("/health")
        assert health.status_code == 200
        assert health.json()["status"] == "healthy"
        scrape = await client.get("/metrics")
        assert 'system_memory_usage_percent{instance="' in scrape.text
    assert events == ["app startup", "app shutdown"]
    assert not setup.system_metrics.running
    assert not monitor.running
    # a provider passed in is flushed, not shut down: it still exports afterwards
    with traced.provider.get_tracer("t").start_as_current_span("after shutdown"):
        pass
    assert traced.spans()[-1].name == "after shutdown"


async def test_provider_built_by_instrument_is_shut_down_with_the_app() -> None:
    app = _app()
    setup = instrument(app, SETTINGS, metrics=RsfMetrics())
    provider = setup.tracer_provider
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    async with _serve(app) as base_url, httpx.AsyncClient(base_url=base_url) as client:
        assert (await client.get("/api/orders/1")).status_code == 200
    assert [s.name for s in exporter.get_finished_spans()] == ["GET /api/orders/{order_id}"]
    with provider.get_tracer("t").start_as_current_span("after shutdown"):
        pass
    assert len(exporter.get_finished_spans()) == 1


async def test_fastapi_http_exception_details_keep_their_json() -> None:
    api = FastAPI()

    @api.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        raise HTTPException(404, detail={"reason": "archived", "item": item_id})

    traced = _Traced(api)
    async with _client(traced.app) as client:
        response = await client.get("/items/i-1", headers={"x-correlation-id": "cid-item"})
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "errorCode": "not_found",
        "message": "Not Found",
        "details": {"reason": "archived", "item": "i-1"},
        "correlationId": "cid-item",
    }


async def test_a_stream_failing_half_way_is_recorded_and_not_replaced() -> None:
    async def broken_stream(request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"first chunk\n"
            raise RuntimeError("stream broke")

        return StreamingResponse(chunks())

    traced = _Traced(Starlette(routes=[Route("/export", broken_stream)]))
    async with _client(traced.app) as client:
        response = await client.get("/export")
    assert response.status_code == 200  # already on the wire; it cannot become a 500
    assert response.content.startswith(b"first chunk")
    (span,) = traced.spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    assert (span.attributes or {})["error.type"] == "RuntimeError"


async def test_a_moved_metrics_path_is_served_and_not_traced() -> None:
    settings = ObservabilitySettings(metrics_path="/internal/metrics", metrics_skip_paths=[])
    app = _app()
    exporter = InMemorySpanExporter()
    provider = configure_tracing(settings, exporter=exporter, set_global=False)
    instrument(app, settings, metrics=RsfMetrics(), tracer_provider=provider)
    async with _client(app) as client:
        scrape = await client.get("/internal/metrics")
        assert (await client.get("/metrics")).status_code == 404
    assert "http_requests_total" in scrape.text
    assert [s.name for s in exporter.get_finished_spans()] == ["GET"]  # only the 404
