"""``PATCH /ui/settle/{user_id}`` through HTTP: JSON and CSV amount updates, errors as JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from rsf_core.enums import SettlementStatus
from rsf_core.models import Settlement
from rsf_server.app import create_app

from tests.support.perf_server import PARTICIPANT, bearer, serve, server_settings

AUTH = bearer("settle-amounts-test")


@pytest.fixture
async def client(mongo_uri: str, db_name: str) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(server_settings(mongo_uri, db_name, max_body_bytes=4096))
    async with serve(app) as http:
        yield http


async def _user_with_settlements(client: httpx.AsyncClient) -> str:
    created = await client.post("/ui/users", json=PARTICIPANT, headers=AUTH)
    assert created.status_code == 201, created.text
    user_id: str = created.json()["data"]["id"]
    for order_id, status in (("O-1", SettlementStatus.PREPARED), ("O-2", SettlementStatus.SETTLED)):
        await Settlement(
            settlement_id=f"S-{order_id}",
            order_id=order_id,
            user_id=user_id,
            collector_id="buyer.example.com",
            receiver_id="seller.example.com",
            commission=Decimal("30.00"),
            status=status,
        ).insert()
    return user_id


async def _stored(user_id: str, order_id: str) -> Settlement:
    found = await Settlement.find_one({"user_id": user_id, "order_id": order_id})
    assert found is not None
    return found


def _assert_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["correlationId"] == response.headers["x-correlation-id"]
    return body


async def test_json_update(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}",
        json={"settlements": [{"order_id": "O-1", "commission": 12.345, "tds": "2"}]},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "1 settlement(s) updated"
    assert body["data"][0]["commission"] == "12.35"
    assert (await _stored(user_id, "O-1")).tds == Decimal("2.00")


async def test_csv_update(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}",
        content=b"order_id,commission,tcs\r\nO-1,7.5,1\r\n",
        headers={**AUTH, "content-type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    stored = await _stored(user_id, "O-1")
    assert (stored.commission, stored.tcs) == (Decimal("7.50"), Decimal("1.00"))


async def test_csv_error_names_the_line_and_writes_nothing(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}",
        content=b"order_id,commission\nO-1,1\nO-3,ten\n",
        headers={**AUTH, "content-type": "text/csv"},
    )
    body = _assert_error(response, 422)
    assert "line 3" in body["message"]
    assert body["details"]["line"] == 3
    assert (await _stored(user_id, "O-1")).commission == Decimal("30.00")


async def test_settled_settlement_is_refused(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}",
        json={"settlements": [{"order_id": "O-2", "commission": "1"}]},
        headers=AUTH,
    )
    body = _assert_error(response, 409)
    assert body["details"] == {"order_id": "O-2", "status": "SETTLED"}


async def test_other_content_type_is_415(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}",
        content=b"order_id=O-1",
        headers={**AUTH, "content-type": "application/x-www-form-urlencoded"},
    )
    _assert_error(response, 415)


async def test_csv_body_is_limited(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    big = b"order_id,commission\n" + b"O-1,1\n" * 1000
    response = await client.patch(
        f"/ui/settle/{user_id}", content=big, headers={**AUTH, "content-type": "text/csv"}
    )
    _assert_error(response, 413)


async def test_token_is_required(client: httpx.AsyncClient) -> None:
    user_id = await _user_with_settlements(client)
    response = await client.patch(
        f"/ui/settle/{user_id}", json={"settlements": [{"order_id": "O-1", "commission": "1"}]}
    )
    _assert_error(response, 401)
    assert (await _stored(user_id, "O-1")).commission == Decimal("30.00")
