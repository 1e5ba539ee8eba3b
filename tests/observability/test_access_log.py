"""AccessLogMiddleware: the guide's "Incoming request" / "Outgoing response" records."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from rsf_observability import AccessLogMiddleware, CorrelationIdMiddleware, ObservabilitySettings
from rsf_observability.sanitize import REDACTED
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.log_capture import RecordList, capture_logs

SECRET_BODY = {
    "context": {"action": "settle", "bap_id": "bap.example"},
    "message": {
        "account_number": "1234567890",
        "settlement": {"ifsc_code": "HDFC0001234", "amount": "12.50"},
        "items": [{"Authorization": "Bearer nested"}],
    },
}


async def echo(request: Request) -> Response:
    body = await request.body()
    return Response(
        body, media_type=request.headers.get("content-type", "application/octet-stream")
    )


async def length(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {"length": len(body), "first": body[:1].decode(), "last": body[-1:].decode()}
    )


async def secrets_out(request: Request) -> JSONResponse:
    response = JSONResponse({"account_number": "999", "status": "ok"})
    response.set_cookie("session", "s3cr3t")
    return response


async def streamed(request: Request) -> StreamingResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    return StreamingResponse(chunks(), media_type="text/plain")


async def boom(request: Request) -> Response:
    raise RuntimeError("broken")


def make_app(body_max_bytes: int = 4096) -> Starlette:
    routes = [
        Route("/echo", echo, methods=["POST"]),
        Route("/length", length, methods=["POST"]),
        Route("/secrets", secrets_out),
        Route("/streamed", streamed),
        Route("/boom", boom),
    ]
    app = Starlette(routes=routes)
    settings = ObservabilitySettings(log_body_max_bytes=body_max_bytes)
    app.add_middleware(AccessLogMiddleware, settings=settings)
    app.add_middleware(CorrelationIdMiddleware)
    return app


def client_for(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


async def request_logged(
    level: int, method: str, path: str, app: Starlette | None = None, **kwargs: object
) -> tuple[httpx.Response, RecordList]:
    with capture_logs("rsf.access", level=level) as logs:
        async with client_for(app or make_app()) as client:
            response = await client.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response, logs


async def test_info_logs_request_and_response_fields_without_bodies() -> None:
    response, logs = await request_logged(
        logging.INFO,
        "POST",
        "/echo?page=2&token=abc",
        json=SECRET_BODY,
        headers={
            "Authorization": "Bearer top-secret",
            "Cookie": "session=abc",
            "User-Agent": "rsf-test/1.0",
            "x-correlation-id": "acc-1",
        },
    )
    assert response.status_code == 200
    incoming = logs.one("Incoming request")
    assert incoming.levelno == logging.INFO
    assert incoming.method == "POST"  # type: ignore[attr-defined]
    assert incoming.path == "/echo"  # type: ignore[attr-defined]
    assert incoming.query == f"page=2&token={REDACTED}"  # type: ignore[attr-defined]
    assert incoming.ip == "127.0.0.1"  # type: ignore[attr-defined]
    assert incoming.userAgent == "rsf-test/1.0"  # type: ignore[attr-defined]
    assert incoming.headers["authorization"] == REDACTED  # type: ignore[attr-defined]
    assert incoming.headers["cookie"] == REDACTED  # type: ignore[attr-defined]
    assert incoming.headers["x-correlation-id"] == "acc-1"  # type: ignore[attr-defined]
    assert not hasattr(incoming, "body")

    outgoing = logs.one("Outgoing response")
    assert outgoing.statusCode == 200  # type: ignore[attr-defined]
    assert outgoing.responseSize == len(response.content)  # type: ignore[attr-defined]
    assert isinstance(outgoing.processingTime, float)  # type: ignore[attr-defined]
    assert outgoing.processingTime >= 0  # type: ignore[attr-defined]
    assert outgoing.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    assert not hasattr(outgoing, "responseBody")


async def test_debug_logs_both_bodies_with_secrets_redacted() -> None:
    response, logs = await request_logged(logging.DEBUG, "POST", "/echo", json=SECRET_BODY)
    assert response.json() == SECRET_BODY  # the app saw the real, unredacted body
    body = logs.one("Incoming request").body  # type: ignore[attr-defined]
    assert body["message"]["account_number"] == REDACTED
    assert body["message"]["settlement"]["ifsc_code"] == REDACTED
    assert body["message"]["settlement"]["amount"] == "12.50"
    assert body["message"]["items"][0]["Authorization"] == REDACTED
    assert body["context"] == SECRET_BODY["context"]
    response_body = logs.one("Outgoing response").responseBody  # type: ignore[attr-defined]
    assert response_body["message"]["account_number"] == REDACTED


async def test_response_headers_and_body_are_redacted() -> None:
    response, logs = await request_logged(logging.DEBUG, "GET", "/secrets")
    assert response.cookies["session"] == "s3cr3t"
    outgoing = logs.one("Outgoing response")
    assert outgoing.headers["set-cookie"] == REDACTED  # type: ignore[attr-defined]
    assert outgoing.responseBody == {"account_number": REDACTED, "status": "ok"}  # type: ignore[attr-defined]


async def test_a_large_body_is_truncated_in_the_log_but_reaches_the_app_whole() -> None:
    big = {"account_number": "1234567890", "padding": "p" * (100 * 1024)}
    raw = json.dumps(big).encode()
    app = make_app(body_max_bytes=64)
    response, logs = await request_logged(
        logging.DEBUG,
        "POST",
        "/length",
        app=app,
        content=raw,
        headers={"content-type": "application/json"},
    )
    assert response.json()["length"] == len(raw)
    logged = logs.one("Incoming request").body  # type: ignore[attr-defined]
    assert isinstance(logged, str)
    assert logged.startswith("[body truncated at 64 bytes]")
    assert "1234567890" not in logged
    assert REDACTED in logged
    assert len(logged) < 200


async def test_a_streamed_request_body_in_many_chunks_reaches_the_app_whole() -> None:
    chunk = b"a" * 4096

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(25):
            yield chunk if index < 24 else b"z"

    response, logs = await request_logged(
        logging.DEBUG, "POST", "/length", app=make_app(body_max_bytes=1000), content=chunks()
    )
    assert response.json() == {"length": 24 * 4096 + 1, "first": "a", "last": "z"}
    assert logs.one("Incoming request").body.startswith("[body truncated at 1000 bytes]")  # type: ignore[attr-defined]


async def test_a_truncated_secret_value_cut_mid_string_is_still_redacted() -> None:
    raw = b'{"note": "x", "account_number": "12345678901234567890"}'
    cut = raw.index(b"1234") + 6
    _, logs = await request_logged(
        logging.DEBUG,
        "POST",
        "/echo",
        app=make_app(body_max_bytes=cut),
        content=raw,
        headers={"content-type": "application/json"},
    )
    logged = logs.one("Incoming request").body  # type: ignore[attr-defined]
    assert "123456" not in logged
    assert REDACTED in logged


@pytest.mark.parametrize(
    ("content", "marker"),
    [
        (b"plain words, not json", "[body not JSON] plain words, not json"),
        (b"password=hunter2&user=al", f"[body not JSON] password={REDACTED}&user=al"),
        (b"\xff\xfe\x00bad\r\n", "[body invalid UTF-8] \\xff\\xfe\\x00bad\\r\\n"),
        (b'{"unterminated": ', '[body not JSON] {"unterminated": '),
    ],
)
async def test_bodies_that_are_not_json_are_logged_as_escaped_markers(
    content: bytes, marker: str
) -> None:
    response, logs = await request_logged(
        logging.DEBUG, "POST", "/echo", content=content, headers={"content-type": "text/plain"}
    )
    assert response.status_code == 200
    assert response.content == content
    assert logs.one("Incoming request").body == marker  # type: ignore[attr-defined]


async def test_control_characters_in_headers_path_and_agent_are_escaped() -> None:
    _, logs = await request_logged(
        logging.INFO,
        "POST",
        "/echo%0d%0aforged",
        content=b"",
        headers={
            "x-evil": "a\r\nInjected: yes\x1b[31m",
            "User-Agent": "agent\nsecond line",
        },
    )
    incoming = logs.one("Incoming request")
    assert incoming.headers["x-evil"] == "a\\r\\nInjected: yes\\x1b[31m"  # type: ignore[attr-defined]
    assert incoming.userAgent == "agent\\nsecond line"  # type: ignore[attr-defined]
    assert incoming.path == "/echo\\r\\nforged"  # type: ignore[attr-defined]
    outgoing = logs.one("Outgoing response")
    assert outgoing.statusCode == 404  # type: ignore[attr-defined]


async def test_json_string_values_with_control_characters_are_escaped() -> None:
    _, logs = await request_logged(
        logging.DEBUG, "POST", "/echo", json={"note": "line\r\nFORGED \x1b[2J"}
    )
    assert logs.one("Incoming request").body == {"note": "line\\r\\nFORGED \\x1b[2J"}  # type: ignore[attr-defined]


async def test_streamed_responses_are_sized_and_capped() -> None:
    response, logs = await request_logged(
        logging.DEBUG, "GET", "/streamed", app=make_app(body_max_bytes=100)
    )
    assert len(response.content) == 10_000
    outgoing = logs.one("Outgoing response")
    assert outgoing.responseSize == 10_000  # type: ignore[attr-defined]
    assert outgoing.responseBody == "[body truncated at 100 bytes] " + "x" * 100  # type: ignore[attr-defined]


async def test_below_info_nothing_is_logged_and_requests_still_work() -> None:
    response, logs = await request_logged(logging.WARNING, "POST", "/echo", json=SECRET_BODY)
    assert response.json() == SECRET_BODY
    assert logs.records == []


async def test_an_app_exception_is_logged_as_a_500_response() -> None:
    response, logs = await request_logged(logging.INFO, "GET", "/boom")
    assert response.status_code == 500
    outgoing = logs.one("Outgoing response")
    assert outgoing.statusCode == 500  # type: ignore[attr-defined]
    assert outgoing.error == "RuntimeError"  # type: ignore[attr-defined]


async def test_both_records_carry_the_correlation_id_of_the_response() -> None:
    from rsf_observability.log_enrichment import (
        install_record_factory,
        record_factory_installed,
        uninstall_record_factory,
    )

    was_installed = record_factory_installed()
    install_record_factory()
    try:
        response, logs = await request_logged(logging.INFO, "GET", "/secrets")
    finally:
        if not was_installed:
            uninstall_record_factory()
    cid = response.headers["x-correlation-id"]
    assert logs.one("Incoming request").correlationId == cid  # type: ignore[attr-defined]
    assert logs.one("Outgoing response").correlationId == cid  # type: ignore[attr-defined]


async def test_a_client_disconnect_while_peeking_is_replayed_to_the_app() -> None:
    """Raw ASGI: the body never finishes; the app must still see the disconnect."""
    seen: list[str] = []

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect":
                return

    messages = [
        {"type": "http.request", "body": b'{"a":', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict:  # type: ignore[type-arg]
        return messages.pop(0)

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        raise AssertionError("nothing should be sent")

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "query_string": b"",
        "headers": [],
        "client": None,
    }
    middleware = AccessLogMiddleware(app, settings=ObservabilitySettings())
    with capture_logs("rsf.access") as logs:
        await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert seen == ["http.request", "http.disconnect"]
    assert logs.one("Incoming request").body == '[body truncated at 5 bytes] {"a":'  # type: ignore[attr-defined]


async def test_response_headers_are_logged_as_the_app_sent_them() -> None:
    """Raw ASGI: an outer layer appending to the app's header list in place does not change
    the record; a one-shot header iterable still reaches the server whole."""
    delivered: list[list[tuple[bytes, bytes]]] = []

    def header_pairs() -> Iterator[tuple[bytes, bytes]]:
        yield (b"content-type", b"text/plain")
        yield (b"set-cookie", b"session=s3cr3t")

    async def app(scope: dict, receive, send) -> None:  # type: ignore[no-untyped-def]
        await send({"type": "http.response.start", "status": 201, "headers": header_pairs()})
        await send({"type": "http.response.body", "body": b"made"})

    async def send(message: dict) -> None:  # type: ignore[type-arg]
        if message["type"] == "http.response.start":
            headers = list(message["headers"])
            message["headers"].append((b"x-added-outside", b"1"))
            delivered.append(headers)

    async def receive() -> dict:  # type: ignore[type-arg]
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/made",
        "query_string": b"",
        "headers": [(b"user-agent", b"ua\x1b[2J")],
        "client": ("10.0.0.1", 1),
    }
    middleware = AccessLogMiddleware(app, settings=ObservabilitySettings())
    with capture_logs("rsf.access", level=logging.INFO) as logs:
        await middleware(scope, receive, send)  # type: ignore[arg-type]
    assert delivered == [[(b"content-type", b"text/plain"), (b"set-cookie", b"session=s3cr3t")]]
    incoming = logs.one("Incoming request")
    assert incoming.userAgent == "ua\\x1b[2J"  # type: ignore[attr-defined]
    assert incoming.query == ""  # type: ignore[attr-defined]
    outgoing = logs.one("Outgoing response")
    assert outgoing.statusCode == 201  # type: ignore[attr-defined]
    assert outgoing.headers == {"content-type": "text/plain", "set-cookie": REDACTED}  # type: ignore[attr-defined]
    assert outgoing.pathname.endswith("access_log.py")
    assert outgoing.funcName == "_log_response"
