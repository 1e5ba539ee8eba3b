"""The documents round-trip through nx-27017 with Decimals, UTC datetimes and unique indexes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import DuplicateKeyError
from rsf_core.enums import Applicability, OrderState, Role, SettlementType
from rsf_core.models import (
    AlertLog,
    BreakupLine,
    Order,
    Participant,
    Quote,
    RsfTransaction,
    Settlement,
)


def _participant(title: str = "Buyer NP", **overrides: Any) -> Participant:
    fields: dict[str, Any] = {
        "title": title,
        "role": Role.BAP,
        "subscriber_url": "https://buyer.example.com/api",
        "domain": "ONDC:RET10",
        "np_tcs": Decimal("1"),
        "np_tds": Decimal("0.5"),
        "tcs_applicability": Applicability.BOTH,
    }
    fields.update(overrides)
    return Participant(**fields)


async def test_participant_round_trips_decimals_and_enums(beanie_db: AsyncMongoClient[Any]) -> None:
    saved = await _participant().insert()
    loaded = await Participant.get(saved.id)
    assert loaded is not None
    assert loaded.np_tds == Decimal("0.5")
    assert loaded.tcs_applicability is Applicability.BOTH
    assert loaded.created_at.tzinfo is not None
    assert loaded.created_at.utcoffset() == timedelta(0)


async def test_money_is_stored_as_decimal_string(
    beanie_db: AsyncMongoClient[Any], db_name: str
) -> None:
    order = Order(
        order_id="O1",
        user_id="u1",
        bap_id="buyer.example.com",
        bap_uri="https://buyer.example.com/api",
        bpp_id="seller.example.com",
        bpp_uri="https://seller.example.com/api",
        domain="ONDC:RET10",
        state=OrderState.CREATED,
        item_tax=Decimal("50.00"),
        quote=Quote(
            total_order_value=Decimal("1000.00"),
            breakup=[BreakupLine(title="item", price=Decimal("850.00"), id="I1")],
        ),
    )
    await order.insert()
    raw = await beanie_db[db_name]["orders"].find_one({"order_id": "O1"})
    assert raw is not None
    assert raw["item_tax"] == "50.00"
    assert raw["quote"]["total_order_value"] == "1000.00"
    assert raw["quote"]["breakup"][0]["price"] == "850.00"
    loaded = await Order.find_one(Order.order_id == "O1")
    assert loaded is not None
    assert loaded.quote is not None
    assert loaded.quote.breakup[0].price == Decimal("850.00")


async def test_unique_title_and_identity_are_enforced(beanie_db: AsyncMongoClient[Any]) -> None:
    await _participant().insert()
    with pytest.raises(DuplicateKeyError):
        await _participant(subscriber_url="https://other.example.com").insert()
    with pytest.raises(DuplicateKeyError):
        await _participant(title="Another title").insert()
    # Same url and domain, other role: a distinct participant.
    await _participant(title="Seller side", role=Role.BPP).insert()
    assert await Participant.count() == 2


async def test_settlement_unique_per_user_and_order(beanie_db: AsyncMongoClient[Any]) -> None:
    def make() -> Settlement:
        return Settlement(
            settlement_id="s-1",
            order_id="O1",
            user_id="u1",
            collector_id="a",
            receiver_id="b",
            type=SettlementType.NP_NP,
        )

    await make().insert()
    with pytest.raises(DuplicateKeyError):
        await make().insert()


async def test_rsf_transaction_unique_on_context_triplet(beanie_db: AsyncMongoClient[Any]) -> None:
    ctx = {"transaction_id": "t1", "action": "on_settle", "message_id": "m1"}
    await RsfTransaction(context=dict(ctx), message={"x": 1}).insert()
    with pytest.raises(DuplicateKeyError):
        await RsfTransaction(context=dict(ctx), message={"x": 2}).insert()
    await RsfTransaction(context={**ctx, "message_id": "m2"}).insert()
    assert await RsfTransaction.count() == 2


async def test_datetimes_are_normalised_to_utc(beanie_db: AsyncMongoClient[Any]) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    starts = datetime(2026, 1, 2, 10, 0, tzinfo=ist)
    await AlertLog(
        alertname="X", severity="critical", status="firing", fingerprint="f", starts_at=starts
    ).insert()
    loaded = await AlertLog.find_one(AlertLog.fingerprint == "f")
    assert loaded is not None
    assert loaded.starts_at == datetime(2026, 1, 2, 4, 30, tzinfo=UTC)
    naive = AlertLog(
        alertname="X",
        severity="critical",
        status="resolved",
        fingerprint="f",
        starts_at=datetime(2026, 1, 2, 4, 30),
    )
    assert naive.starts_at.tzinfo is not None
