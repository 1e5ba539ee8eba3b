"""The settlement flow through the server's HTTP API: signed /api ingestion, /ui prepare,
generate and trigger to a stub agency, the agency's on_settle, metrics and audit trail."""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from rsf_core.registry_lookup import RegistryKeyLookup
from rsf_core.signing import generate_keypair, sign_request
from rsf_server.app import create_app
from rsf_server.config import ServerSettings
from rsf_server.embedded_store import free_port

from tests.support.ondc_stub import StubNP

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ondc"
OUR_ID, OUR_URL = "buyer.example.com", "https://buyer.example.com/api"
SA_ID, SELLER_ID = "sa.example.com", "seller.example.com"
OUR_KEYS, SA_KEYS, SELLER_KEYS = generate_keypair(), generate_keypair(), generate_keypair()
ACK = {"message": {"ack": {"status": "ACK"}}}


@pytest.fixture(scope="module")
def agency() -> Iterator[StubNP]:
    with StubNP({OUR_ID: OUR_KEYS.public_key_b64}) as stub:
        yield stub


@pytest.fixture
async def client(mongo_uri: str, db_name: str, agency: StubNP) -> AsyncIterator[httpx.AsyncClient]:
    agency.reset()
    settings = ServerSettings(
        mongodb_uri=mongo_uri,
        mongodb_db=db_name,
        jwt_secret="flow-secret",
        subscriber_id=OUR_ID,
        unique_key_id="k1",
        signing_private_key=OUR_KEYS.private_key_b64,
        settlement_agency_id=SA_ID,
        settlement_agency_url=agency.url,
        public_keys={SA_ID: SA_KEYS.public_key_b64, SELLER_ID: SELLER_KEYS.public_key_b64},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as http:
            yield http


def _signed(
    payload: dict[str, Any] | bytes, sender: str, keys: Any
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {
        "Authorization": sign_request(body, sender, "k1", keys.private_key_b64),
        "Content-Type": "application/json",
    }
    return body, headers


def _on_confirm(order_id: str) -> dict[str, Any]:
    message: dict[str, Any] = json.loads((FIXTURES / "retail_on_confirm_flow.json").read_text())
    message["message"]["order"]["id"] = order_id
    message["context"]["transaction_id"] = f"txn-{order_id}"
    return message


def _on_settle(settle: dict[str, Any], status: str) -> dict[str, Any]:
    answer = copy.deepcopy(settle)
    answer["context"]["action"] = "on_settle"
    answer["message"]["settlement"]["orders"] = [
        {
            "id": order["id"],
            "inter_participant": {
                "amount": order["inter_participant"]["amount"],
                "status": status,
                "reference_no": f"UTR-{order['id']}",
            },
            "collector": order["collector"],
        }
        for order in settle["message"]["settlement"]["orders"]
    ]
    return answer


async def test_settle_flow_over_http(client: httpx.AsyncClient, agency: StubNP) -> None:
    token = (await client.post("/ui/auth/sign-token", json={"client_id": "ops"})).json()
    auth = {"Authorization": f"Bearer {token['data']['token']}"}
    participant = {
        "title": "Buyer NP",
        "role": "BAP",
        "subscriber_url": OUR_URL,
        "domain": "ONDC:RET10",
        "np_tcs": "1",
        "np_tds": "1",
        "tcs_applicability": "BOTH",
        "tds_applicability": "BOTH",
    }
    user_id = (await client.post("/ui/users", json=participant, headers=auth)).json()["data"]["id"]

    body, headers = _signed(_on_confirm("SRV-1"), SELLER_ID, SELLER_KEYS)
    ingested = await client.post("/api/on_confirm", content=body, headers=headers)
    assert ingested.status_code == 200
    assert ingested.json() == ACK
    orders = (await client.get(f"/ui/orders/{user_id}", headers=auth)).json()["data"]
    assert [order["order_id"] for order in orders["items"]] == ["SRV-1"]
    due = [{"order_id": "SRV-1", "due_date": "2030-01-31T00:00:00Z"}]
    patched = await client.patch(f"/ui/orders/{user_id}", json=due, headers=auth)
    assert patched.status_code == 200, patched.text
    in_range = await client.get(
        f"/ui/orders/{user_id}?due_date_from=2030-01-01&due_date_to=2030-02-01", headers=auth
    )
    assert in_range.json()["data"]["total"] == 1
    out_of_range = await client.get(f"/ui/orders/{user_id}?due_date_to=2029-12-31", headers=auth)
    assert out_of_range.json()["data"]["total"] == 0
    not_ready = await client.post(
        f"/ui/recon/{user_id}/move-to-ready", json={"orders": [{"order_id": "SRV-1"}]}, headers=auth
    )
    assert not_ready.status_code == 409
    assert "not accepted" in not_ready.json()["message"]

    prepared = await client.post(
        f"/ui/settle/{user_id}/prepare",
        json={"prepare_data": [{"id": "SRV-1", "strategy": "USER"}]},
        headers=auth,
    )
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["data"][0]["inter_np_settlement"] == "947.37"

    generated = await client.post(
        f"/ui/generate/{user_id}/settle/np-np", json={"order_ids": ["SRV-1"]}, headers=auth
    )
    assert generated.status_code == 200, generated.text
    settle = generated.json()["data"]
    triggered = await client.post(f"/ui/trigger/{user_id}/settle", json=settle, headers=auth)
    assert triggered.status_code == 200, triggered.text
    assert triggered.json()["data"]["order_ids"] == ["SRV-1"]
    (sent,) = agency.requests_to("/settle")
    assert sent.signature_ok
    assert sent.headers.get("x-correlation-id") == triggered.headers["x-correlation-id"]

    body, headers = _signed(_on_settle(settle, "SETTLED"), SA_ID, SA_KEYS)
    answered = await client.post("/api/on_settle", content=body, headers=headers)
    assert answered.json() == ACK
    settlements = (await client.get(f"/ui/settle/{user_id}", headers=auth)).json()["data"]
    assert settlements["items"][0]["status"] == "SETTLED"

    metrics = (await client.get("/metrics")).text
    assert 'settlement_requests_total{status="PENDING",user_type="BAP"} 1.0' in metrics
    assert 'route="/api/{action}"' in metrics


async def test_network_route_answers_transport_errors_and_nacks(client: httpx.AsyncClient) -> None:
    wrong_type = await client.post(
        "/api/on_settle", content=b"{}", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert wrong_type.json()["correlationId"] == wrong_type.headers["x-correlation-id"]
    huge = await client.post(
        "/api/on_settle",
        content=b"[" + b"0," * 600_000 + b"0]",
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413

    unsigned = await client.post("/api/on_settle", json=_on_confirm("X"))
    assert unsigned.status_code == 200
    assert unsigned.json()["error"]["code"] == "70001"

    body, headers = _signed(_on_confirm("X"), SELLER_ID, SELLER_KEYS)
    tampered = await client.post("/api/on_confirm", content=body + b" ", headers=headers)
    assert tampered.json()["error"]["code"] == "70001"

    body, headers = _signed(b"{not json", SELLER_ID, SELLER_KEYS)
    malformed = await client.post("/api/on_confirm", content=body, headers=headers)
    assert malformed.json()["error"]["code"] == "70002"


async def test_trigger_without_signing_identity_is_a_clear_409(
    mongo_uri: str, db_name: str
) -> None:
    app = create_app(ServerSettings(mongodb_uri=mongo_uri, mongodb_db=db_name, jwt_secret="s"))
    async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rsf.test")
        )
        token = (await http.post("/ui/auth/sign-token", json={"client_id": "ops"})).json()
        auth = {"Authorization": f"Bearer {token['data']['token']}"}
        answer = await http.post("/ui/trigger/abc/settle", json={"context": {}}, headers=auth)
        assert answer.status_code == 409
        assert answer.json()["errorCode"] == "not_configured"


async def test_registry_lookup_falls_back_to_configured_keys(mongo_uri: str, db_name: str) -> None:
    """A registry that cannot be reached NACKs unknown senders; configured keys still verify."""
    settings = ServerSettings(
        mongodb_uri=mongo_uri,
        mongodb_db=db_name,
        jwt_secret="s",
        registry_lookup_url=f"http://127.0.0.1:{free_port()}/lookup",
        public_keys={SELLER_ID: SELLER_KEYS.public_key_b64},
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert isinstance(app.state.rsf.key_lookup, RegistryKeyLookup)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rsf.test") as http:
            body, headers = _signed(_on_confirm("REG-1"), SELLER_ID, SELLER_KEYS)
            known = await http.post("/api/on_confirm", content=body, headers=headers)
            assert known.json().get("error", {}).get("code") != "70001"
            stranger = generate_keypair()
            body, headers = _signed(_on_confirm("REG-2"), "stranger.example.com", stranger)
            unknown = await http.post("/api/on_confirm", content=body, headers=headers)
            assert unknown.json()["error"]["code"] == "70001"
