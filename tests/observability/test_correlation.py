"""CorrelationIdMiddleware and LogRecord enrichment, through real ASGI calls."""

from __future__ import annotations

import logging
import queue
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from logging.handlers import QueueHandler, QueueListener
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from rsf_observability import (
    AccessLogMiddleware,
    CorrelationFilter,
    CorrelationIdMiddleware,
    ObservabilitySettings,
    generate_correlation_id,
    get_correlation_id,
    install_record_factory,
    is_valid_correlation_id,
)
from rsf_observability.errors import ProblemError, problem_handler, read_json_body
from rsf_observability.log_enrichment import record_factory_installed, uninstall_record_factory
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from tests.support.log_capture import capture_logs
from tests.support.polling import wait_until
from tests.support.uvicorn_server import serve_on_loopback

ID_FORMAT = re.compile(r"req_\d{13}_[0-9a-z]{9}")
app_logger = logging.getLogger("tests.correlation.app")


async def hello(request: Request) -> JSONResponse:
    app_logger.info("in endpoint")
    return JSONResponse({"seen": get_correlation_id()})


async def boom(request: Request) -> JSONResponse:
    raise RuntimeError("db password=hunter2\r\nforged line")


async def with_background(request: Request) -> PlainTextResponse:
    def later() -> None:
        app_logger.info("in background task")

    return PlainTextResponse("ok", background=BackgroundTask(later))


async def json_only(request: Request) -> JSONResponse:
    return JSONResponse(await read_json_body(request, max_bytes=16))


async def body_length(request: Request) -> JSONResponse:
    return JSONResponse({"length": len(await request.body())})


async def half_then_fail(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("mid-stream")

    return StreamingResponse(chunks())


async def ws_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(get_correlation_id() or "")
    await websocket.close()


ROUTES = [
    Route("/hello", hello),
    Route("/boom", boom),
    Route("/background", with_background),
    Route("/json", json_only, methods=["POST"]),
    Route("/half", half_then_fail),
    Route("/raw", body_length, methods=["POST"]),
    WebSocketRoute("/ws", ws_endpoint),
]


def make_app(**options: object) -> Starlette:
    app = Starlette(routes=ROUTES, exception_handlers={ProblemError: problem_handler})
    app.add_middleware(CorrelationIdMiddleware, **options)  # type: ignore[arg-type]
    return app


def client_for(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")  # type: ignore[arg-type]


@pytest.fixture
def enriched() -> Iterator[None]:
    """The record factory installed for the test, as configure_logging installs it."""
    was_installed = record_factory_installed()
    install_record_factory()
    yield
    if not was_installed:
        uninstall_record_factory()


def test_generated_ids_follow_the_guide_format_and_differ() -> None:
    ids = {generate_correlation_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(ID_FORMAT.fullmatch(i) for i in ids)
    assert all(is_valid_correlation_id(i) for i in ids)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123", True),
        ("a.b:c_d-E", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("", False),
        ("has space", False),
        ("line\r\nbreak", False),
        ("ünïcode", False),
    ],
)
def test_default_validator(value: str, valid: bool) -> None:
    assert is_valid_correlation_id(value) is valid


async def test_a_request_without_id_gets_a_generated_one_echoed_and_visible() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/hello")
    cid = response.headers["x-correlation-id"]
    assert ID_FORMAT.fullmatch(cid)
    assert response.json() == {"seen": cid}


@pytest.mark.parametrize("header", ["x-correlation-id", "x-request-id", "X-Correlation-ID"])
async def test_an_incoming_id_is_reused_from_either_header(header: str) -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/hello", headers={header: "upstream-42"})
    assert response.headers["x-correlation-id"] == "upstream-42"
    assert response.json() == {"seen": "upstream-42"}


async def test_the_primary_header_wins_over_x_request_id() -> None:
    async with client_for(make_app()) as client:
        response = await client.get(
            "/hello", headers={"x-request-id": "legacy", "x-correlation-id": "primary"}
        )
    assert response.headers["x-correlation-id"] == "primary"


async def test_header_name_generator_and_validator_are_configurable() -> None:
    app = make_app(
        header_name="X-Trace-Ref",
        generator=lambda: "fixed-id",
        validator=lambda value: value.startswith("ok-"),
    )
    async with client_for(app) as client:
        accepted = await client.get("/hello", headers={"x-trace-ref": "ok-1"})
        replaced = await client.get("/hello", headers={"x-trace-ref": "bad-1"})
    assert accepted.headers["x-trace-ref"] == "ok-1"
    assert replaced.headers["x-trace-ref"] == "fixed-id"
    assert "x-correlation-id" not in replaced.headers


async def test_an_invalid_id_is_replaced_and_a_warning_shows_it_escaped(enriched: None) -> None:
    hostile = "evil\r\nFORGED log line \x1b[31m" + "z" * 500
    with capture_logs("rsf.correlation") as logs:
        async with client_for(make_app()) as client:
            response = await client.get("/hello", headers={"x-correlation-id": hostile})
    cid = response.headers["x-correlation-id"]
    assert ID_FORMAT.fullmatch(cid)
    warning = logs.one("Invalid correlation id replaced")
    assert warning.levelno == logging.WARNING
    rejected = warning.rejected  # type: ignore[attr-defined]
    assert rejected.startswith("evil\\r\\nFORGED log line \\x1b[31m")
    assert "\r" not in rejected
    assert "\n" not in rejected
    assert "\x1b" not in rejected
    assert len(rejected) < 300  # cut short, with the original length noted
    assert warning.correlationId == cid  # type: ignore[attr-defined]


async def test_404_carries_the_header() -> None:
    async with client_for(make_app()) as client:
        response = await client.get("/nowhere", headers={"x-correlation-id": "lost-1"})
    assert response.status_code == 404
    assert response.headers["x-correlation-id"] == "lost-1"


async def test_413_carries_the_header() -> None:
    async with client_for(make_app()) as client:
        response = await client.post(
            "/json", json={"far": "too long for sixteen bytes"}, headers={"x-request-id": "big-1"}
        )
    assert response.status_code == 413
    assert response.headers["x-correlation-id"] == "big-1"
    assert response.json()["correlationId"] == "big-1"


async def test_an_unhandled_exception_becomes_a_json_500_with_the_id_and_no_trace() -> None:
    with capture_logs("rsf.errors") as logs:
        # raise_app_exceptions=True (the default): the exception must not reach the server.
        async with client_for(make_app()) as client:
            response = await client.get("/boom", headers={"x-correlation-id": "crash-1"})
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "crash-1"
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["correlationId"] == "crash-1"
    assert body["success"] is False
    assert "Traceback" not in response.text
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    record = logs.one("Unhandled exception: RuntimeError")
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError
    assert record.path == "/boom"  # type: ignore[attr-defined]


async def test_wrapping_a_whole_starlette_app_puts_the_id_on_its_own_500_and_413() -> None:
    inner = Starlette(routes=ROUTES, max_body_size=8)
    app = CorrelationIdMiddleware(inner)
    with capture_logs("rsf.errors") as logs:
        async with client_for(app) as client:
            crashed = await client.get("/boom", headers={"x-correlation-id": "outer-1"})
            too_big = await client.post("/raw", content=b"x" * 100)
    assert crashed.status_code == 500
    assert crashed.headers["x-correlation-id"] == "outer-1"
    assert "Traceback" not in crashed.text
    assert logs.with_message("Unhandled exception: RuntimeError")
    assert too_big.status_code == 413
    assert ID_FORMAT.fullmatch(too_big.headers["x-correlation-id"])


async def test_a_failure_after_the_response_started_is_logged_and_reraised() -> None:
    with capture_logs("rsf.errors") as logs:
        async with client_for(make_app()) as client:
            with pytest.raises(RuntimeError, match="mid-stream"):
                await client.get("/half")
    assert logs.with_message("Unhandled exception: RuntimeError")


async def test_starlette_body_limit_413_carries_the_id_also_when_raised_in_a_middleware() -> None:
    """Starlette's own limit raises from ``receive``: in the endpoint its handler answers;
    in a middleware peeking at the body (access log at DEBUG) it reaches us and we answer."""
    plain = Starlette(routes=ROUTES, max_body_size=8)
    plain.add_middleware(CorrelationIdMiddleware)
    peeking = Starlette(routes=ROUTES, max_body_size=8)
    peeking.add_middleware(AccessLogMiddleware, settings=ObservabilitySettings())
    peeking.add_middleware(CorrelationIdMiddleware)

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 10

    with capture_logs("rsf.errors", "rsf.access") as logs:
        async with client_for(plain) as client:
            in_endpoint = await client.post("/raw", content=chunks(), headers={"x-request-id": "a"})
        async with client_for(peeking) as client:
            in_peek = await client.post("/raw", content=chunks(), headers={"x-request-id": "b"})
    assert in_endpoint.status_code == 413
    assert in_endpoint.headers["x-correlation-id"] == "a"
    assert in_peek.status_code == 413
    assert in_peek.headers["x-correlation-id"] == "b"
    assert in_peek.json()["correlationId"] == "b"
    assert [r for r in logs.records if r.name == "rsf.errors"] == []  # a size limit is no crash


def serve(app: Any) -> AbstractAsyncContextManager[str]:
    return serve_on_loopback(app, log_level="info")


async def test_under_uvicorn_a_crash_is_a_json_500_and_the_server_prints_no_trace() -> None:
    with capture_logs("uvicorn.error", "rsf.errors", level=logging.INFO) as logs:
        async with serve(make_app()) as base_url, httpx.AsyncClient(base_url=base_url) as client:
            response = await client.get("/boom", headers={"x-correlation-id": "uv-1"})
    assert response.status_code == 500
    assert response.headers["x-correlation-id"] == "uv-1"
    assert response.json()["correlationId"] == "uv-1"
    server_errors = [r for r in logs.records if r.name == "uvicorn.error" and r.exc_info]
    assert server_errors == []
    assert [r.name for r in logs.with_message("Unhandled exception: RuntimeError")] == [
        "rsf.errors"
    ]


def test_a_websocket_connection_gets_an_id() -> None:
    with (
        TestClient(make_app()) as client,
        client.websocket_connect("/ws", headers={"x-correlation-id": "ws-7"}) as ws,
    ):
        assert ws.receive_text() == "ws-7"
    with TestClient(make_app()) as client, client.websocket_connect("/ws") as ws:
        assert ID_FORMAT.fullmatch(ws.receive_text())


async def test_lifespan_passes_through_untouched() -> None:
    started: list[bool] = []

    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        started.append(get_correlation_id() is None)
        yield

    inner = Starlette(routes=ROUTES, lifespan=asynccontextmanager(lifespan))
    with TestClient(CorrelationIdMiddleware(inner)) as client:
        assert client.get("/hello").status_code == 200
    assert started == [True]


async def test_records_in_the_endpoint_and_its_background_task_carry_the_id(
    enriched: None,
) -> None:
    with capture_logs("tests.correlation.app") as logs:
        async with client_for(make_app()) as client:
            first = await client.get("/hello")
            second = await client.get("/background", headers={"x-request-id": "bg-1"})
        app_logger.warning("outside")
    endpoint = logs.one("in endpoint")
    background = logs.one("in background task")
    assert endpoint.correlationId == first.headers["x-correlation-id"]  # type: ignore[attr-defined]
    assert background.correlationId == second.headers["x-correlation-id"] == "bg-1"  # type: ignore[attr-defined]
    # Outside any request the attribute is still there, as None.
    assert logs.one("outside").correlationId is None  # type: ignore[attr-defined]
    assert get_correlation_id() is None


async def test_records_shipped_through_a_queue_keep_the_id(enriched: None) -> None:
    """The listener thread has no request context; the id was stamped when the record was made."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    with capture_logs("tests.correlation.sink") as delivered, capture_logs(app_logger.name):
        listener = QueueListener(records, *logging.getLogger("tests.correlation.sink").handlers)
        handler = QueueHandler(records)
        app_logger.addHandler(handler)
        listener.start()
        try:
            async with client_for(make_app()) as client:
                response = await client.get("/hello", headers={"x-correlation-id": "queued-1"})
        finally:
            app_logger.removeHandler(handler)
        wait_until(lambda: delivered.with_message("in endpoint"))
        listener.stop()
    assert response.status_code == 200
    record = delivered.one("in endpoint")
    assert record.correlationId == "queued-1"  # type: ignore[attr-defined]


@pytest.fixture
def without_factory() -> Iterator[None]:
    """The record factory removed for the test (configure_logging elsewhere may install it)."""
    was_installed = record_factory_installed()
    uninstall_record_factory()
    if record_factory_installed():
        pytest.skip("another record factory wraps ours; it cannot be removed here")
    yield
    if was_installed:
        install_record_factory()


async def test_the_filter_on_a_queue_handler_does_the_same_without_the_factory(
    without_factory: None,
) -> None:
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    with capture_logs("tests.correlation.filtered") as delivered, capture_logs(app_logger.name):
        listener = QueueListener(records, *logging.getLogger("tests.correlation.filtered").handlers)
        handler = QueueHandler(records)
        handler.addFilter(CorrelationFilter())
        app_logger.addHandler(handler)
        listener.start()
        try:
            async with client_for(make_app()) as client:
                await client.get("/hello", headers={"x-correlation-id": "filtered-1"})
        finally:
            app_logger.removeHandler(handler)
        wait_until(lambda: delivered.with_message("in endpoint"))
        listener.stop()
    assert delivered.one("in endpoint").correlationId == "filtered-1"  # type: ignore[attr-defined]


async def test_records_carry_trace_and_span_ids_of_the_active_span(enriched: None) -> None:
    tracer = TracerProvider().get_tracer("tests")
    with capture_logs("tests.correlation.app") as logs:
        with tracer.start_as_current_span("work") as span:
            app_logger.info("inside span")
        app_logger.info("no span")
    context = span.get_span_context()
    inside = logs.one("inside span")
    assert inside.trace_id == format(context.trace_id, "032x")  # type: ignore[attr-defined]
    assert inside.span_id == format(context.span_id, "016x")  # type: ignore[attr-defined]
    outside = logs.one("no span")
    assert outside.trace_id is None
    assert outside.span_id is None


def test_installing_the_factory_twice_wraps_once(enriched: None) -> None:
    factory = logging.getLogRecordFactory()
    install_record_factory()
    assert logging.getLogRecordFactory() is factory


async def test_a_reused_header_list_is_not_changed_by_the_id_header() -> None:
    """An app that answers from one prepared header list (a cached response) sends it again
    unchanged: the id header goes into a new list each time."""
    prepared = [(b"content-type", b"text/plain"), (b"content-length", b"2")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": prepared})
        await send({"type": "http.response.body", "body": b"ok"})

    transport = httpx.ASGITransport(app=CorrelationIdMiddleware(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        first = await client.get("/")
        second = await client.get("/")
    assert prepared == [(b"content-type", b"text/plain"), (b"content-length", b"2")]
    assert first.headers["x-correlation-id"] != second.headers["x-correlation-id"]
    assert second.headers.get_list("x-correlation-id") == [second.headers["x-correlation-id"]]
