"""The agency client against a stub agency on loopback: signing, retries, timeouts, records."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from rsf_core.agency_client import AgencyClient, RetryPolicy, SignerConfig, action_url
from rsf_core.models import RsfPayload, RsfTransaction
from rsf_core.signing import generate_keypair
from rsf_observability.context import correlation_id
from rsf_server.embedded_store import free_port

from tests.support.ondc_stub import StubNP, serve_stub

pytestmark = pytest.mark.usefixtures("beanie_db")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ondc"
KEYS = generate_keypair()
SIGNER = SignerConfig("np.example.com", "key-1", KEYS.private_key_b64)


@pytest.fixture
def stub() -> Iterator[StubNP]:
    yield from serve_stub({"np.example.com": KEYS.public_key_b64})


def settle_payload(name: str = "nts10_settle_np_np.json") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_ack_is_signed_and_recorded(stub: StubNP) -> None:
    payload = settle_payload()
    async with AgencyClient(SIGNER) as client:
        result = await client.send(action_url(stub.url, "settle"), payload, user_id="u1")
    assert result.acked
    assert result.attempts == 1
    (received,) = stub.requests_to("/settle")
    assert received.signature_ok
    assert received.signer == "np.example.com"
    assert received.json == payload
    stored = await RsfTransaction.find_one({"context.action": "settle"})
    assert stored is not None
    assert (stored.direction, stored.ack_status, stored.user_id) == ("outgoing", "ACK", "u1")
    audit = await RsfPayload.find_one({"action": "settle"})
    assert audit is not None
    assert (audit.status_code, audit.ack_status, audit.route) == (200, "ACK", "outbound:settle")
    assert audit.message_id == payload["context"]["message_id"]


async def test_correlation_id_and_traceparent_are_forwarded(stub: StubNP) -> None:
    span_context = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=False,
        trace_flags=trace.TraceFlags(1),
    )
    cid_token = correlation_id.set("cid-agency-123")
    otel_token = otel_context.attach(
        trace.set_span_in_context(trace.NonRecordingSpan(span_context))
    )
    try:
        async with AgencyClient(SIGNER) as client:
            await client.send(action_url(stub.url, "settle"), settle_payload())
    finally:
        otel_context.detach(otel_token)
        correlation_id.reset(cid_token)
    (received,) = stub.received
    assert received.headers["x-correlation-id"] == "cid-agency-123"
    assert received.headers["traceparent"] == (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
    audit = await RsfPayload.find_one({"action": "settle"})
    assert audit is not None
    assert audit.correlation_id == "cid-agency-123"


async def test_5xx_is_retried_with_backoff_and_the_same_body(stub: StubNP) -> None:
    stub.answer("500", "500")
    sleep = RecordedSleep()
    async with AgencyClient(
        SIGNER, retry=RetryPolicy(attempts=3, base_delay=0.5), sleep=sleep
    ) as client:
        result = await client.send(action_url(stub.url, "settle"), settle_payload())
    assert result.acked
    assert result.attempts == 3
    assert sleep.delays == [0.5, 1.0]
    bodies = {item.body for item in stub.requests_to("/settle")}
    assert len(stub.requests_to("/settle")) == 3
    assert len(bodies) == 1, "every retry must carry the identical message (same message_id)"


async def test_nack_is_an_answer_and_not_retried(stub: StubNP) -> None:
    stub.answer("nack", code="70030", message="collector unknown")
    async with AgencyClient(SIGNER, sleep=RecordedSleep()) as client:
        result = await client.send(action_url(stub.url, "settle"), settle_payload())
    assert result.nacked
    assert result.attempts == 1
    assert result.error_text == "70030: collector unknown"
    stored = await RsfTransaction.find_one({"context.action": "settle"})
    assert stored is not None
    assert stored.ack_status == "NACK"


async def test_bad_signature_is_refused_by_the_receiver(stub: StubNP) -> None:
    stranger = SignerConfig("np.example.com", "key-1", generate_keypair().private_key_b64)
    async with AgencyClient(stranger) as client:
        result = await client.send(action_url(stub.url, "settle"), settle_payload())
    assert result.nacked
    assert result.ack.error_code == "70001"


async def test_connection_refused_is_retried_then_reported() -> None:
    sleep = RecordedSleep()
    url = f"http://127.0.0.1:{free_port()}/settle"
    async with AgencyClient(SIGNER, retry=RetryPolicy(attempts=2), sleep=sleep) as client:
        result = await client.send(url, settle_payload())
    assert not result.acked
    assert result.status_code is None
    assert result.attempts == 2
    assert result.error is not None
    assert result.error.startswith("Connection error")
    audit = await RsfPayload.find_one({"action": "settle"})
    assert audit is not None
    assert (audit.status_code, audit.ack_status) == (0, "ERROR")


async def test_timeout_is_reported_not_raised(stub: StubNP) -> None:
    stub.answer("slow")
    async with AgencyClient(SIGNER, timeout=0.3, retry=RetryPolicy(attempts=1)) as client:
        result = await client.send(action_url(stub.url, "settle"), settle_payload())
    stub.release()
    assert result.error == "Timeout after 0.3s"
    assert result.ack_status == "ERROR"


async def test_bank_details_are_redacted_in_the_audit_trail_only(stub: StubNP) -> None:
    payload = settle_payload("nts10_settle_misc.json")
    async with AgencyClient(SIGNER) as client:
        await client.send(action_url(stub.url, "settle"), payload)
    (received,) = stub.received
    bank = received.json["message"]["settlement"]["orders"][0]["provider"]["bank_details"]
    assert bank["account_no"] == "1234567890"
    audit = await RsfPayload.find_one({"action": "settle"})
    assert audit is not None
    audited = audit.request["message"]["settlement"]["orders"][0]["provider"]["bank_details"]
    assert audited == {"account_no": "[REDACTED]", "ifsc_code": "[REDACTED]"}
