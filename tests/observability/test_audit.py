"""AuditMiddleware: the guide's "RSF Operation" record and the optional audit sink."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

import httpx
import pytest
from rsf_observability import (
    AuditEntry,
    AuditMiddleware,
    AuditSink,
    CorrelationIdMiddleware,
    ObservabilitySettings,
)
from rsf_observability.sanitize import REDACTED
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.log_capture import RecordList, capture_logs

ON_SETTLE = {
    "context": {
        "action": "on_settle",
        "bap_id": "bap.example.com",
        "bpp_id": "bpp.example.com",
        "transaction_id": "txn-001",
        "message_id": "msg-001",
    },
    "message": {"settlement": {"account_number": "1234567890", "ifsc_code": "HDFC0001"}},
}


async def ack(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse(
        {"message": {"ack": {"status": "ACK"}}, "received": len(body), "account_number": "777"}
    )


async def plain(request: Request) -> Response:
    return Response("not json", media_type="text/plain")


async def boom(request: Request) -> Response:
    await request.body()
    raise RuntimeError("broken")


ROUTES = [
    Route("/api/{action}", ack, methods=["POST"]),
    Route("/ui/plain", plain),
    Route("/ui/boom", boom, methods=["POST"]),
    Route("/other/{action}", ack, methods=["POST"]),
]


class ListSink:
    def __init__(self) -> None:
        self.entries: list[AuditEntry] = []

    async def write(self, entry: AuditEntry) -> None:
        self.entries.append(entry)


class FailingSink:
    async def write(self, entry: AuditEntry) -> None:
        raise ConnectionError("database is down")


class HangingSink:
    async def write(self, entry: AuditEntry) -> None:
        await asyncio.Event().wait()


def make_app(sink: AuditSink | None = None, **options: object) -> Starlette:
    app = Starlette(routes=ROUTES)
    app.add_middleware(
        AuditMiddleware,
        sink=sink,
        settings=ObservabilitySettings(),
        **options,  # type: ignore[arg-type]
    )
    app.add_middleware(CorrelationIdMiddleware)
    return app


async def post(
    app: Starlette, path: str, level: int = logging.INFO, **kwargs: object
) -> tuple[httpx.Response, RecordList]:
    with capture_logs("rsf.audit", level=level) as logs:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client:
            response = await client.post(path, **kwargs)  # type: ignore[arg-type]
    return response, logs


async def test_an_rsf_operation_is_logged_with_the_context_fields() -> None:
    before = datetime.now(UTC)
    response, logs = await post(make_app(), "/api/on_settle", json=ON_SETTLE)
    assert response.status_code == 200
    record = logs.one("RSF Operation")
    assert record.levelno == logging.INFO
    assert record.type == "audit"  # type: ignore[attr-defined]
    assert record.operation == "/api/on_settle"  # type: ignore[attr-defined]
    assert record.method == "POST"  # type: ignore[attr-defined]
    assert record.participant == "bap.example.com"  # type: ignore[attr-defined]
    assert record.transactionId == "txn-001"  # type: ignore[attr-defined]
    assert record.messageId == "msg-001"  # type: ignore[attr-defined]
    assert record.action == "on_settle"  # type: ignore[attr-defined]
    stamp = record.timestamp  # type: ignore[attr-defined]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert datetime.fromisoformat(stamp) >= before.replace(microsecond=0)


async def test_the_participant_falls_back_to_bpp_id() -> None:
    body = {"context": {"bpp_id": "bpp.only", "action": "recon"}}
    _, logs = await post(make_app(), "/api/recon", json=body)
    assert logs.one("RSF Operation").participant == "bpp.only"  # type: ignore[attr-defined]


async def test_the_app_still_receives_the_whole_body() -> None:
    payload = {"context": ON_SETTLE["context"], "padding": "p" * (100 * 1024)}
    response, _ = await post(make_app(), "/api/on_settle", json=payload)
    assert response.json()["received"] == len(response.request.content)
    assert len(response.request.content) > 100 * 1024


async def test_paths_outside_api_and_ui_are_not_audited() -> None:
    sink = ListSink()
    response, logs = await post(make_app(sink), "/other/on_settle", json=ON_SETTLE)
    assert response.status_code == 200
    assert logs.records == []
    assert sink.entries == []


@pytest.mark.parametrize(
    "content",
    [b"not json at all", b"\xff\xfe\xfa", b"[1, 2, 3]", b'{"context": "not an object"}', b""],
)
async def test_bodies_without_a_context_give_empty_fields_and_a_normal_response(
    content: bytes,
) -> None:
    sink = ListSink()
    response, logs = await post(make_app(sink), "/api/settle", content=content)
    assert response.status_code == 200
    assert response.json()["received"] == len(content)
    record = logs.one("RSF Operation")
    assert record.participant is None  # type: ignore[attr-defined]
    assert record.transactionId is None  # type: ignore[attr-defined]
    assert record.action is None  # type: ignore[attr-defined]
    (entry,) = sink.entries
    assert entry.transaction_id is None


async def test_a_body_over_the_cap_is_forwarded_whole_and_its_fields_are_unknown() -> None:
    sink = ListSink()
    app = make_app(sink, request_max_bytes=256)
    payload = {"context": ON_SETTLE["context"], "padding": "p" * 10_000}
    response, logs = await post(app, "/api/on_settle", json=payload)
    assert response.json()["received"] == len(response.request.content)
    assert logs.one("RSF Operation").transactionId is None  # type: ignore[attr-defined]
    assert sink.entries[0].request is None


async def test_control_characters_in_context_fields_are_escaped() -> None:
    body = {"context": {"bap_id": "evil\r\nFORGED\x1b[31m", "transaction_id": "t" * 1000}}
    _, logs = await post(make_app(), "/api/settle", json=body)
    record = logs.one("RSF Operation")
    assert record.participant == "evil\\r\\nFORGED\\x1b[31m"  # type: ignore[attr-defined]
    assert len(record.transactionId) == 256  # type: ignore[attr-defined]


async def test_the_sink_receives_a_redacted_entry_with_the_outcome() -> None:
    sink = ListSink()
    response, _ = await post(
        make_app(sink), "/api/on_settle", json=ON_SETTLE, headers={"x-correlation-id": "aud-1"}
    )
    (entry,) = sink.entries
    assert isinstance(entry, AuditEntry)
    assert entry.operation == "/api/on_settle"
    assert entry.route == "/api/{action}"
    assert entry.method == "POST"
    assert entry.correlation_id == "aud-1"
    assert entry.participant == "bap.example.com"
    assert entry.transaction_id == "txn-001"
    assert entry.message_id == "msg-001"
    assert entry.action == "on_settle"
    assert entry.status_code == 200
    assert entry.duration_ms >= 0
    assert entry.timestamp.tzinfo is not None
    assert entry.request["message"]["settlement"]["account_number"] == REDACTED
    assert entry.request["message"]["settlement"]["ifsc_code"] == REDACTED
    assert entry.request["context"] == ON_SETTLE["context"]
    assert entry.response["message"] == {"ack": {"status": "ACK"}}
    assert entry.response["account_number"] == REDACTED
    assert response.json()["account_number"] == "777"  # the client got the real response


async def test_a_non_json_or_oversized_response_is_stored_as_none() -> None:
    sink = ListSink()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=make_app(sink)), base_url="http://testserver"
    ) as client:
        await client.get("/ui/plain")
    big_sink = ListSink()
    await post(make_app(big_sink, response_max_bytes=10), "/api/on_settle", json=ON_SETTLE)
    assert sink.entries[0].response is None
    assert sink.entries[0].request is None
    assert big_sink.entries[0].response is None
    assert big_sink.entries[0].status_code == 200


async def test_a_failing_sink_never_breaks_the_response() -> None:
    response, logs = await post(make_app(FailingSink()), "/api/on_settle", json=ON_SETTLE)
    assert response.status_code == 200
    assert response.json()["message"] == {"ack": {"status": "ACK"}}
    failure = logs.one("Audit sink failed")
    assert failure.levelno == logging.ERROR
    assert failure.exc_info is not None
    assert failure.exc_info[0] is ConnectionError


async def test_a_hanging_sink_is_abandoned_after_its_timeout() -> None:
    app = make_app(HangingSink(), sink_timeout=0.05)
    response, logs = await post(app, "/api/on_settle", json=ON_SETTLE)
    assert response.status_code == 200
    assert logs.one("Audit sink failed").exc_info[0] is TimeoutError  # type: ignore[index]


async def test_an_app_exception_is_still_audited_as_500() -> None:
    sink = ListSink()
    response, _ = await post(make_app(sink), "/ui/boom", json=ON_SETTLE)
    assert response.status_code == 500
    (entry,) = sink.entries
    assert entry.status_code == 500
    assert entry.response is None
    assert entry.transaction_id == "txn-001"


async def test_with_the_logger_off_and_no_sink_nothing_is_logged() -> None:
    response, logs = await post(make_app(), "/api/on_settle", level=logging.WARNING, json=ON_SETTLE)
    assert response.status_code == 200
    assert logs.records == []


async def test_with_the_logger_off_the_sink_still_gets_entries() -> None:
    sink = ListSink()
    _, logs = await post(make_app(sink), "/api/on_settle", level=logging.WARNING, json=ON_SETTLE)
    assert logs.records == []
    assert sink.entries[0].transaction_id == "txn-001"
