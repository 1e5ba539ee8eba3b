"""Settlement amount updates on a real nx-27017: who may change, what is written, what is not."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from rsf_core.enums import SettlementStatus
from rsf_core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from rsf_core.models import Settlement
from rsf_core.settlement_amounts import AmountUpdate, parse_amount_csv, update_settlement_amounts

USER = "user-1"


async def _settlement(order_id: str, status: SettlementStatus = SettlementStatus.PREPARED) -> None:
    await Settlement(
        settlement_id=f"S-{order_id}",
        order_id=order_id,
        user_id=USER,
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        total_order_value=Decimal("1000.00"),
        commission=Decimal("30.00"),
        inter_np_settlement=Decimal("950.00"),
        status=status,
    ).insert()


async def _raw(order_id: str) -> dict[str, Any]:
    raw = await Settlement.get_pymongo_collection().find_one({"order_id": order_id})
    assert raw is not None
    return dict(raw)


async def test_prepared_settlement_amounts_are_updated_and_dates_stay_dates(
    beanie_db: AsyncMongoClient[Any],
) -> None:
    await _settlement("O-1")
    await _settlement("O-2", SettlementStatus.NOT_SETTLED)
    before = await _raw("O-1")

    updated = await update_settlement_amounts(
        USER,
        [
            AmountUpdate("O-1", {"commission": Decimal("12.345"), "tds": Decimal("1")}),
            AmountUpdate("O-2", {"inter_np_settlement": Decimal("900")}),
        ],
    )

    assert [s.order_id for s in updated] == ["O-1", "O-2"]
    raw = await _raw("O-1")
    assert raw["commission"] == "12.35"
    assert raw["tds"] == "1.00"
    assert raw["inter_np_settlement"] == "950.00"
    assert isinstance(raw["updated_at"], datetime)
    assert isinstance(raw["created_at"], datetime)
    assert raw["updated_at"] >= before["updated_at"]
    assert (await _raw("O-2"))["inter_np_settlement"] == "900.00"


@pytest.mark.parametrize("status", [SettlementStatus.PENDING, SettlementStatus.SETTLED])
async def test_sent_settlements_are_refused(
    beanie_db: AsyncMongoClient[Any], status: SettlementStatus
) -> None:
    await _settlement("O-1", status)
    with pytest.raises(BusinessRuleViolation) as caught:
        await update_settlement_amounts(USER, [AmountUpdate("O-1", {"commission": Decimal(5)})])
    assert caught.value.details == {"order_id": "O-1", "status": status.value}
    assert (await _raw("O-1"))["commission"] == "30.00"


async def test_nothing_is_written_when_one_row_is_bad(beanie_db: AsyncMongoClient[Any]) -> None:
    await _settlement("O-1")
    await _settlement("O-2", SettlementStatus.SETTLED)
    good = AmountUpdate("O-1", {"commission": Decimal(1)})

    with pytest.raises(BusinessRuleViolation):
        await update_settlement_amounts(USER, [good, AmountUpdate("O-2", {"tds": Decimal(1)})])
    with pytest.raises(NotFound) as missing:
        await update_settlement_amounts(USER, [good, AmountUpdate("O-9", {"tds": Decimal(1)})])
    with pytest.raises(ValidationFailed) as negative:
        await update_settlement_amounts(USER, [good, AmountUpdate("O-2", {"tds": Decimal(-1)})])

    assert missing.value.details == {"order_id": "O-9"}
    assert negative.value.details["field"] == "tds"
    assert (await _raw("O-1"))["commission"] == "30.00"


async def test_other_users_settlement_is_not_found(beanie_db: AsyncMongoClient[Any]) -> None:
    await _settlement("O-1")
    with pytest.raises(NotFound):
        await update_settlement_amounts("user-2", [AmountUpdate("O-1", {"tcs": Decimal(1)})])


def test_unknown_field_is_a_validation_error_naming_order_and_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        AmountUpdate.from_mapping({"order_id": "O-1", "status": "SETTLED"}, "settlements[0]")
    assert caught.value.details["order_id"] == "O-1"
    assert caught.value.details["field"] == "status"


def test_csv_rows_become_rounded_updates_and_empty_cells_are_left_out() -> None:
    text = "order_id,commission,tds\nO-1,10.005,\nO-2, 3 ,0.1\n\n"
    updates = parse_amount_csv(text)
    assert updates == [
        AmountUpdate("O-1", {"commission": Decimal("10.01")}),
        AmountUpdate("O-2", {"commission": Decimal("3.00"), "tds": Decimal("0.10")}),
    ]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("order_id,colour\nO-1,1\n", 1, "colour"),
        ("commission\n1\n", 1, "order_id"),
        ("order_id,commission\nO-1,1\nO-2,abc\n", 3, "commission is not an amount"),
        ("order_id,commission\nO-1,1\n,2\n", 3, "order_id is required"),
        ("order_id,commission\nO-1,1,2\n", 2, "cells"),
        ("order_id,commission\nO-1,-4\n", 2, "negative"),
    ],
)
def test_bad_csv_names_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_amount_csv(text)
    assert caught.value.details["line"] == line
    assert f"line {line}" in caught.value.message
    assert fragment in caught.value.message
