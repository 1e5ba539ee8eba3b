"""HttpMetricsMiddleware: bounded labels, route templates, 499, background tasks, slow log, skips."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import APIRouter, FastAPI
from rsf_observability.context import correlation_id
from rsf_observability.http_metrics import HttpMetricsMiddleware, PathSkipper
from rsf_observability.metrics import RsfMetrics
from rsf_observability.routes import UNMATCHED, route_template
from rsf_observability.settings import ObservabilitySettings
from rsf_server.embedded_store import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send

from tests.observability.apps.metrics_app import build_app
from tests.support.polling import async_wait_until


def _samples(metrics: RsfMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """``{sorted label pairs: value}`` of one sample name (e.g. ``http_requests_total``)."""
    out: dict[tuple[tuple[str, str], ...], float] = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                out[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def _count(metrics: RsfMetrics, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for key, value in _samples(metrics, name).items() if wanted <= set(key))


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
def metrics() -> RsfMetrics:
    return RsfMetrics()


@pytest.fixture
async def client(metrics: RsfMetrics) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(build_app(metrics)) as c:
        yield c


async def test_counts_duration_and_errors_with_route_template_labels(
    metrics: RsfMetrics, client: httpx.AsyncClient
) -> None:
    assert (await client.get("/ui/orders/42")).status_code == 200
    assert (await client.get("/ui/orders/43")).status_code == 200
    assert (await client.get("/teapot")).status_code == 418
    assert (await client.get("/boom")).status_code == 500

    ok = {"method": "GET", "route": "/ui/orders/{user_id}", "status_code": "200"}
    assert _count(metrics, "http_requests_total", **ok) == 2
    assert _count(metrics, "http_request_duration_seconds_count", **ok) == 2
    assert _count(metrics, "http_errors_total", route="/ui/orders/{user_id}") == 0
    assert _count(metrics, "http_errors_total", route="/teapot", status_code="418") == 1
    assert _count(metrics, "http_errors_total", route="/boom", status_code="500") == 1
    # Nothing in flight once every response is complete.
    assert _count(metrics, "http_requests_in_progress") == 0


async def test_ten_thousand_random_paths_add_only_a_handful_of_series(
    metrics: RsfMetrics,
) -> None:
    # Straight ASGI calls (what a server does), so the 10,000 requests take seconds, not minutes.
    app = build_app(metrics)
    request: list[Message] = [{"type": "http.request", "body": b"", "more_body": False}]
    methods = ["GET", "POST", "PROPFIND", "BREW"]
    for i in range(10_000):
        path = f"/{uuid.uuid4().hex}/{i}" if i % 2 else f"/ui/{uuid.uuid4().hex}"
        sent = await _drive(app, request, methods[i % len(methods)], path)
        assert sent[0]["status"] == 404

    series = _samples(metrics, "http_requests_total")
    assert sum(series.values()) == 10_000
    assert len(series) <= 6, series
    routes = {dict(key)["route"] for key in series}
    assert routes == {UNMATCHED}
    assert {dict(key)["method"] for key in series} == {"GET", "POST", "OTHER"}
    assert len(_samples(metrics, "http_request_duration_seconds_count")) == len(series)


async def test_mounted_routes_are_labelled_with_the_full_template(
    metrics: RsfMetrics, client: httpx.AsyncClient
) -> None:
    await client.get("/ui/tenants/acme/orders/7")
    await client.get("/ui/tenants/tenants/orders/8")
    await client.post("/whoami")  # partial match: 405 on a known route

    routes = {dict(key)["route"] for key in _samples(metrics, "http_requests_total")}
    assert routes == {"/ui/tenants/{tenant}/orders/{user_id}", "/whoami"}
    assert _count(metrics, "http_requests_total", route="/whoami", status_code="405") == 1


async def test_fastapi_routers_and_mounts_resolve_to_templates() -> None:
    seen: list[str | None] = []

    async def record(scope: Scope, receive: Receive, send: Send) -> None:
        await api(scope, receive, send)
        seen.append(route_template(scope))

    router = APIRouter()

    @router.get("/orders/{order_id}")
    async def order(order_id: str) -> dict[str, str]:
        return {"id": order_id}

    async def plain(request: Request) -> Response:
        return PlainTextResponse("plain")

    router.add_route("/plain/{n}", plain)
    api = FastAPI()
    api.include_router(router, prefix="/api/{tenant}")
    api.mount("/ui", Starlette(routes=[Route("/orders/{user_id}", plain)]))
    outer = Starlette(routes=[Mount("/v1", app=record)])

    async with _client(outer) as c:
        for path in ["/v1/api/t1/orders/9", "/v1/api/t2/plain/3", "/v1/ui/orders/5", "/v1/x"]:
            await c.get(path)
    # Mount("/v1") wraps a plain ASGI callable, whose routes the resolver cannot see: what
    # FastAPI matched inside keeps its template, the rest is one bounded "/v1/{path}".
    assert seen == [
        "/v1/api/{tenant}/orders/{order_id}",
        "/v1/api/{tenant}/plain/{n}",
        "/v1/ui/orders/{user_id}",
        "/v1/{path}",
    ]


async def test_background_task_is_not_part_of_the_duration(metrics: RsfMetrics) -> None:
    gate = asyncio.Event()
    done = asyncio.Event()
    async with _client(build_app(metrics, background_gate=gate, background_done=done)) as c:
        request = asyncio.create_task(c.get("/with-background"))
        try:
            # The request is recorded while its background task is still blocked on the gate.
            await async_wait_until(
                lambda: _count(metrics, "http_requests_total", route="/with-background") == 1
            )
            assert not done.is_set()
            assert _count(metrics, "http_requests_in_progress") == 0
        finally:
            gate.set()
        response = await request
    assert response.status_code == 200
    assert done.is_set()
    assert _count(metrics, "http_requests_total", route="/with-background") == 1


async def _drive(
    app: HttpMetricsMiddleware,
    messages: list[Message],
    method: str = "GET",
    path: str = "/wait",
) -> list[Message]:
    """Call the middleware as an ASGI server would, feeding ``messages`` to ``receive``."""
    queue = list(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        if queue:
            return queue.pop(0)
        await asyncio.Event().wait()  # a real server blocks until something happens
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return sent


async def test_client_disconnect_before_response_is_recorded_as_499(metrics: RsfMetrics) -> None:
    async def wait_for_client(request: Request) -> Response:
        # Starlette's own disconnect check: reads http.disconnect from receive.
        while not await request.is_disconnected():
            await asyncio.sleep(0)
        return PlainTextResponse("too late")

    app = HttpMetricsMiddleware(
        Starlette(routes=[Route("/wait", wait_for_client)]), metrics=metrics
    )
    await _drive(app, [{"type": "http.disconnect"}])

    assert _count(metrics, "http_requests_total", route="/wait", status_code="499") == 1
    assert _count(metrics, "http_errors_total", route="/wait", status_code="499") == 1
    assert _count(metrics, "http_requests_in_progress") == 0


async def test_request_cancelled_by_the_server_is_recorded_as_499(metrics: RsfMetrics) -> None:
    entered = asyncio.Event()

    async def hang(request: Request) -> Response:
        entered.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = HttpMetricsMiddleware(Starlette(routes=[Route("/wait", hang)]), metrics=metrics)
    task = asyncio.create_task(_drive(app, []))
    await asyncio.wait_for(entered.wait(), timeout=10)
    assert _count(metrics, "http_requests_in_progress", method="GET") == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert _count(metrics, "http_requests_total", route="/wait", status_code="499") == 1
    assert _count(metrics, "http_requests_in_progress") == 0


async def test_slow_request_logs_a_warning_with_labels_and_correlation_id(
    metrics: RsfMetrics, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ObservabilitySettings(slow_request_ms=0)
    inner = build_app(metrics, settings=settings)

    async def with_correlation(scope: Scope, receive: Receive, send: Send) -> None:
        token = correlation_id.set("corr-123")
        try:
            await inner(scope, receive, send)
        finally:
            correlation_id.reset(token)

    with caplog.at_level(logging.WARNING, logger="rsf.http"):
        async with _client(with_correlation) as c:
            await c.get("/ui/orders/5")

    records = [r for r in caplog.records if r.getMessage() == "Slow request detected"]
    assert len(records) == 1
    record = records[0]
    assert record.name == "rsf.http"
    assert record.__dict__["method"] == "GET"
    assert record.__dict__["route"] == "/ui/orders/{user_id}"
    assert record.__dict__["status_code"] == 200
    assert record.__dict__["duration"] >= 0
    assert record.__dict__["correlationId"] == "corr-123"


async def test_fast_requests_do_not_log_under_the_default_threshold(
    metrics: RsfMetrics, client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="rsf.http"):
        await client.get("/whoami")
    assert not [r for r in caplog.records if r.getMessage() == "Slow request detected"]


async def test_skip_list_paths_are_not_measured(metrics: RsfMetrics) -> None:
    settings = ObservabilitySettings(metrics_skip_paths="/metrics,/health,/ui/orders/*")
    async with _client(build_app(metrics, settings=settings)) as c:
        assert (await c.get("/health")).status_code == 200
        assert (await c.get("/metrics")).status_code == 200
        assert (await c.get("/ui/orders/1")).status_code == 200
        assert (await c.get("/whoami")).status_code == 200

    routes = {dict(key)["route"] for key in _samples(metrics, "http_requests_total")}
    assert routes == {"/whoami"}


async def test_default_skip_list_covers_metrics_and_health(
    metrics: RsfMetrics, client: httpx.AsyncClient
) -> None:
    await client.get("/metrics")
    await client.get("/health")
    assert _samples(metrics, "http_requests_total") == {}


async def test_lifespan_passes_through_untouched(metrics: RsfMetrics) -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        events.append(scope["type"])
        message = await receive()
        events.append(message["type"])
        await send({"type": "lifespan.startup.complete"})

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    await HttpMetricsMiddleware(app, metrics=metrics)({"type": "lifespan"}, receive, send)
    assert events == ["lifespan", "lifespan.startup"]
    assert sent == [{"type": "lifespan.startup.complete"}]
    assert _samples(metrics, "http_requests_total") == {}


async def test_real_client_hanging_up_on_uvicorn_is_recorded_as_499(metrics: RsfMetrics) -> None:
    entered = asyncio.Event()

    async def wait_for_hangup(request: Request) -> Response:
        entered.set()
        while (await request.receive())["type"] != "http.disconnect":
            pass
        return PlainTextResponse("nobody is listening")

    app = HttpMetricsMiddleware(
        Starlette(routes=[Route("/orders/{order_id}", wait_for_hangup)]), metrics=metrics
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    try:
        await async_wait_until(lambda: server.started, timeout=10)
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /orders/77 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        await asyncio.wait_for(entered.wait(), timeout=10)
        writer.close()
        await writer.wait_closed()
        await async_wait_until(
            lambda: _count(metrics, "http_requests_total", status_code="499") == 1, timeout=10
        )
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)
    assert _count(metrics, "http_requests_total", route="/orders/{order_id}") == 1
    assert _count(metrics, "http_requests_in_progress") == 0


async def test_inside_the_apps_middleware_stack_a_crash_is_a_500_on_its_route(
    metrics: RsfMetrics,
) -> None:
    async def boom(request: Request) -> Response:
        raise RuntimeError("boom")

    starlette_app = Starlette(routes=[Route("/items/{item_id}/boom", boom)])
    starlette_app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    fastapi_app = FastAPI()
    fastapi_app.add_api_route("/api/items/{item_id}", boom)
    fastapi_app.add_middleware(HttpMetricsMiddleware, metrics=metrics)

    async with _client(starlette_app) as c1, _client(fastapi_app) as c2:
        assert (await c1.get("/items/1/boom")).status_code == 500
        assert (await c2.get("/api/items/2")).status_code == 500

    assert (
        _count(metrics, "http_errors_total", route="/items/{item_id}/boom", status_code="500") == 1
    )
    assert (
        _count(metrics, "http_errors_total", route="/api/items/{item_id}", status_code="500") == 1
    )
    assert _count(metrics, "http_requests_in_progress") == 0


async def test_response_with_trailers_ends_at_the_last_trailers_message(
    metrics: RsfMetrics,
) -> None:
    trailers_sent = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "trailers": True})
        await send({"type": "http.response.body", "body": b"data"})
        # Body done, trailers still to come: the request is still in flight.
        assert _count(metrics, "http_requests_total") == 0
        await send({"type": "http.response.trailers", "headers": [], "more_trailers": False})
        trailers_sent.set()

    await _drive(HttpMetricsMiddleware(app, metrics=metrics), [])
    assert trailers_sent.is_set()
    assert _count(metrics, "http_requests_total", route=UNMATCHED, status_code="200") == 1


async def test_server_root_path_is_not_part_of_the_route_and_opaque_mounts_end_in_path(
    metrics: RsfMetrics,
) -> None:
    async def static_files(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("body { }")(scope, receive, send)

    async def order(request: Request) -> Response:
        return PlainTextResponse(request.path_params["user_id"])

    app = HttpMetricsMiddleware(
        Starlette(
            routes=[
                Mount("/ui", routes=[Route("/orders/{user_id}", order)]),
                Mount("/static", app=static_files),
            ]
        ),
        metrics=metrics,
    )
    transport = httpx.ASGITransport(app=app, root_path="/proxy")
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        assert (await c.get("/proxy/ui/orders/1")).status_code == 200
        assert (await c.get("/proxy/static/css/site.css")).status_code == 200
        assert (await c.get("/proxy/static/js/app.js")).status_code == 200

    routes = {dict(key)["route"]: v for key, v in _samples(metrics, "http_requests_total").items()}
    assert routes == {"/ui/orders/{user_id}": 1, "/static/{path}": 2}


async def test_mount_parameters_never_leak_raw_values(metrics: RsfMetrics) -> None:
    async def order(request: Request) -> Response:
        return PlainTextResponse("ok")

    hidden = Starlette(routes=[Mount("/g/{gid:int}", routes=[Route("/orders/{user_id}", order)])])

    async def opaque(scope: Scope, receive: Receive, send: Send) -> None:
        await hidden(scope, receive, send)  # its mounts are invisible from the outer app

    app = HttpMetricsMiddleware(
        Starlette(
            routes=[
                Mount("/t/{tid:int}", routes=[Route("/orders/{user_id}", order)]),
                Mount("/o", app=opaque),
            ]
        ),
        metrics=metrics,
    )
    async with _client(app) as c:
        for tid in ["7", "007", "0007", "t"]:
            await c.get(f"/t/{tid}/orders/1")
        for gid in ["5", "005"]:
            await c.get(f"/o/g/{gid}/orders/2")

    routes = {dict(key)["route"]: v for key, v in _samples(metrics, "http_requests_total").items()}
    # "t" is not an int: no route. Behind the opaque mount the parameter is put back from
    # path_params; "005" became 5 and is not in the path, so the prefix turns coarse, never raw.
    assert routes == {
        "/t/{tid}/orders/{user_id}": 3,
        UNMATCHED: 1,
        "/o/g/{gid}/orders/{user_id}": 1,
        "/{mount}/orders/{user_id}": 1,
    }


@pytest.mark.parametrize(
    "patterns",
    [
        ("/metrics", "/health", "/health/*", "/ui/health/*"),
        ("*",),
        ("/a/*/b", "/x?", "/p*", "/p?"),
        ("/[ab]c", "/static/*.css"),
    ],
)
def test_skip_patterns_match_as_fnmatch_does(patterns: tuple[str, ...]) -> None:
    """Exact paths, ``prefix*`` patterns and other globs are decided three ways; the answer is
    always fnmatch's (case-sensitive)."""
    skip = PathSkipper(patterns)
    paths = [
        "/", "/metrics", "/metricsx", "/health", "/health/", "/health/db", "/healthz",
        "/ui/health/x", "/ui/orders", "/a/q/b", "/a/q/c", "/xy", "/xyz", "/p", "/pq",
        "/ac", "/bc", "/cc", "/static/site.css", "/static/site.js", "/HEALTH/db",
    ]  # fmt: skip
    for path in paths:
        assert skip(path) == any(fnmatch.fnmatchcase(path, p) for p in patterns), path


def test_route_template_is_remembered_for_the_route_it_was_worked_out_for() -> None:
    """Tracing and metrics both ask after the app ran; the second answer comes from the scope,
    and a scope whose route changed (or was only routed later) is worked out again."""

    async def endpoint(request: Request) -> Response:
        return PlainTextResponse("ok")

    orders, settle = Route("/orders/{user_id}", endpoint), Route("/settle", endpoint)
    scope: dict[str, object] = {"type": "http", "path": "/orders/1", "root_path": ""}
    assert route_template(scope) is None
    scope["route"] = orders
    assert route_template(scope) == "/orders/{user_id}"
    assert route_template(scope) == "/orders/{user_id}"
    scope["route"] = settle
    assert route_template(scope) == "/settle"
