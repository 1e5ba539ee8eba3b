"""Outgoing httpx calls made while handling a request carry its correlation id and trace context.

The receiving side is an ``httpx.MockTransport`` that records the headers it got: the client
side (our hook) is what is under test.
"""

from __future__ import annotations

import httpx
from opentelemetry.sdk.trace import TracerProvider
from rsf_observability import (
    AsyncPropagationHook,
    CorrelationIdMiddleware,
    SyncPropagationHook,
    instrument_httpx_client,
    outbound_headers,
    propagation_event_hook,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

tracer = TracerProvider().get_tracer("tests.outbound")


class Upstream:
    """The far side of the outgoing call: remembers the headers of each request."""

    def __init__(self) -> None:
        self.seen: list[httpx.Headers] = []
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request.headers)
        return httpx.Response(200, json={"ok": True})


def app_calling(upstream: Upstream, **client_options: object) -> Starlette:
    async def call_out(request: Request) -> JSONResponse:
        async with httpx.AsyncClient(transport=upstream.transport, **client_options) as client:  # type: ignore[arg-type]
            instrument_httpx_client(client)
            with tracer.start_as_current_span("outgoing") as span:
                await client.get("http://upstream.invalid/settle")
                trace_id = format(span.get_span_context().trace_id, "032x")
        return JSONResponse({"trace_id": trace_id})

    app = Starlette(routes=[Route("/call", call_out)])
    app.add_middleware(CorrelationIdMiddleware)
    return app


async def test_the_outgoing_call_carries_the_request_id_and_traceparent() -> None:
    upstream = Upstream()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app_calling(upstream)), base_url="http://testserver"
    ) as client:
        response = await client.get("/call", headers={"x-correlation-id": "out-1"})
    assert response.status_code == 200
    (headers,) = upstream.seen
    assert headers["x-correlation-id"] == "out-1"
    version, trace_id, _span_id, _flags = headers["traceparent"].split("-")
    assert version == "00"
    assert trace_id == response.json()["trace_id"]


async def test_a_header_set_by_the_caller_is_kept() -> None:
    upstream = Upstream()
    app = app_calling(upstream, headers={"x-correlation-id": "chosen-by-caller"})
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        await client.get("/call", headers={"x-correlation-id": "incoming"})
    assert upstream.seen[0]["x-correlation-id"] == "chosen-by-caller"


async def test_the_module_hook_and_a_custom_header_name_work_in_event_hooks() -> None:
    upstream = Upstream()

    async def call_out(request: Request) -> JSONResponse:
        hooks = {"request": [propagation_event_hook, AsyncPropagationHook("x-request-id")]}
        async with httpx.AsyncClient(transport=upstream.transport, event_hooks=hooks) as client:
            await client.get("http://upstream.invalid/")
        return JSONResponse({})

    app = Starlette(routes=[Route("/call", call_out)])
    app.add_middleware(CorrelationIdMiddleware)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as client:
        response = await client.get("/call")
    cid = response.headers["x-correlation-id"]
    assert upstream.seen[0]["x-correlation-id"] == cid
    assert upstream.seen[0]["x-request-id"] == cid


def test_the_sync_client_gets_the_sync_hook_once() -> None:
    upstream = Upstream()
    with httpx.Client(transport=upstream.transport) as client:
        instrument_httpx_client(client, header_name="x-request-id")
        instrument_httpx_client(client)
        hooks = client.event_hooks["request"]
        assert len(hooks) == 1
        assert isinstance(hooks[0], SyncPropagationHook)
        with tracer.start_as_current_span("sync"):
            client.get("http://upstream.invalid/")
    assert "traceparent" in upstream.seen[0]
    # No request is being handled: no id to send, and none invented.
    assert "x-request-id" not in upstream.seen[0]
    assert "x-correlation-id" not in upstream.seen[0]


def test_outbound_headers_outside_a_request_and_span_are_empty() -> None:
    assert outbound_headers() == {}
