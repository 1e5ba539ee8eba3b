"""Retail order ingestion: matching, derived fields, later-wins upserts, unknown participants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rsf_core.enums import CollectedBy, OrderState, Role, SettleStatus
from rsf_core.errors import ValidationFailed
from rsf_core.ingestion import UnknownParticipant, ingest_order
from rsf_core.models import Order, Participant
from rsf_core.order_facts import breakup_lines, buyer_finder_fee, due_date, item_tax, msn_from_tags
from rsf_core.participants import create_participant

from tests.core._ondc_fixtures import load_message

pytestmark = pytest.mark.usefixtures("beanie_db")


async def _buyer(**overrides: Any) -> Participant:
    data: dict[str, Any] = {
        "title": "Buyer NP",
        "role": "BAP",
        "subscriber_url": "https://buyer.example.com/ondc",
        "domain": "ONDC:RET10",
    }
    data.update(overrides)
    return await create_participant(data)


async def _seller() -> Participant:
    return await create_participant(
        {
            "title": "Seller NP",
            "role": "BPP",
            "subscriber_url": "https://seller.example.com/ondc/",
            "domain": "ONDC:RET10",
        }
    )


async def _order(user: Participant, order_id: str = "O-1001") -> Order:
    order = await Order.find_one({"order_id": order_id, "user_id": str(user.id)})
    assert order is not None
    return order


async def test_on_confirm_derives_every_field() -> None:
    buyer = await _buyer()
    result = await ingest_order(load_message("retail_on_confirm"))
    assert [(o.user_id, o.status) for o in result.outcomes] == [(str(buyer.id), "inserted")]

    order = await _order(buyer)
    assert order.state is OrderState.ACCEPTED
    assert order.collected_by is CollectedBy.BAP
    assert order.provider_id == "P1"
    assert order.counterparty_id == "seller.example.com"
    assert order.quote is not None
    assert order.quote.total_order_value == Decimal("1000.00")
    assert [(line.title, line.price, line.id) for line in order.quote.breakup] == [
        ("item", Decimal("850.00"), "I1"),
        ("tax", Decimal("50.00"), "I1"),
        ("delivery", Decimal("100.00"), "F1"),
        ("tax", Decimal("0.00"), "F1"),
    ]
    assert order.item_tax == Decimal("50.00")
    # (850 + 100) * 3% = 28.50, plus 18% GST
    assert order.buyer_finder_fee_type == "percent"
    assert order.buyer_finder_fee_amount == Decimal("33.63")
    # 1% of 1000 plus the item tax
    assert order.withholding_amount == Decimal("60.00")
    assert order.msn is False
    assert order.settlement_basis == "delivery"
    assert order.settlement_window == "P1D"
    assert order.settle_status is SettleStatus.READY
    assert order.due_date is None
    assert order.updated_at == datetime(2025, 8, 18, 10, 0, tzinfo=UTC)
    assert order.created_at == datetime(2025, 8, 18, 9, 59, tzinfo=UTC)


async def test_both_sides_get_their_own_order() -> None:
    buyer, seller = await _buyer(), await _seller()
    result = await ingest_order(load_message("retail_on_confirm"))
    assert {(o.role, o.status) for o in result.outcomes} == {
        (Role.BAP, "inserted"),
        (Role.BPP, "inserted"),
    }
    assert (await _order(seller)).counterparty_id == "buyer.example.com"
    assert (await _order(buyer)).counterparty_id == "seller.example.com"
    assert await Order.count() == 2


async def test_completed_sets_due_date_and_keeps_on_confirm_fields() -> None:
    buyer = await _buyer()
    await ingest_order(load_message("retail_on_confirm"))
    result = await ingest_order(load_message("retail_on_status_completed"))
    assert result.outcomes[0].status == "updated"
    order = await _order(buyer)
    assert order.state is OrderState.COMPLETED
    # delivery basis: updated_at (2025-08-19T06:00Z) + P1D
    assert order.due_date == datetime(2025, 8, 20, 6, 0, tzinfo=UTC)
    # withholding and msn come only from on_confirm: kept
    assert order.withholding_amount == Decimal("60.00")
    assert order.created_at == datetime(2025, 8, 18, 9, 59, tzinfo=UTC)


async def test_shipment_basis_counts_from_pickup() -> None:
    buyer = await _buyer()
    message = load_message("retail_on_status_completed")
    message["message"]["order"]["payment"]["@ondc/org/settlement_basis"] = "shipment"
    message["message"]["order"]["payment"]["@ondc/org/settlement_window"] = "PT36H"
    await ingest_order(message)
    order = await _order(buyer)
    assert order.due_date == datetime(2025, 8, 20, 0, 0, tzinfo=UTC)  # picked up 08-18 12:00 + 36h


async def test_older_message_does_not_overwrite() -> None:
    buyer = await _buyer()
    await ingest_order(load_message("retail_on_status_completed"))
    result = await ingest_order(load_message("retail_on_cancel"))  # updated earlier
    assert result.outcomes[0].status == "stale"
    assert (await _order(buyer)).state is OrderState.COMPLETED
    # The same message again is not "later" either.
    again = await ingest_order(load_message("retail_on_status_completed"))
    assert again.outcomes[0].status == "stale"


async def test_on_update_recomputes_quote_amounts() -> None:
    buyer = await _buyer()
    await ingest_order(load_message("retail_on_confirm"))
    await ingest_order(load_message("retail_on_update"))
    order = await _order(buyer)
    assert order.state is OrderState.IN_PROGRESS
    assert order.total_order_value == Decimal("900.00")
    # (750 + 100) * 3% = 25.50 * 1.18 = 30.09
    assert order.buyer_finder_fee_amount == Decimal("30.09")
    assert order.withholding_amount == Decimal("60.00")  # on_update does not carry it


async def test_on_cancel_after_confirm() -> None:
    buyer = await _buyer()
    await ingest_order(load_message("retail_on_confirm"))
    await ingest_order(load_message("retail_on_cancel"))
    assert (await _order(buyer)).state is OrderState.CANCELLED


async def test_msn_from_bpp_terms_on_confirm() -> None:
    buyer = await _buyer()
    message = load_message("retail_on_confirm")
    message["message"]["order"]["tags"][0]["list"][0]["value"] = "MSN"
    await ingest_order(message)
    assert (await _order(buyer)).msn is True


async def test_unknown_participant_and_other_domain() -> None:
    with pytest.raises(UnknownParticipant) as info:
        await ingest_order(load_message("retail_on_confirm"))
    assert info.value.code == "PARTICIPANT_NOT_FOUND"
    await _buyer(domain="ONDC:RET11")  # same URL, other domain: no match
    with pytest.raises(UnknownParticipant):
        await ingest_order(load_message("retail_on_confirm"))
    assert await Order.count() == 0


async def test_unusable_messages_are_rejected_with_a_path() -> None:
    await _buyer()
    message = load_message("retail_on_confirm")
    message["message"]["order"]["quote"]["breakup"][0]["price"]["value"] = "lots"
    with pytest.raises(ValidationFailed) as info:
        await ingest_order(message)
    assert info.value.details["path"] == "message.order.quote.breakup.0.price.value"

    message = load_message("retail_on_confirm")
    message["context"]["action"] = "confirm"
    with pytest.raises(ValidationFailed):
        await ingest_order(message)

    message = load_message("retail_on_confirm")
    message["message"]["order"]["state"] = "Lost"
    with pytest.raises(ValidationFailed):
        await ingest_order(message)
    assert await Order.count() == 0


async def test_concurrent_ingest_of_the_same_order_makes_one_document() -> None:
    buyer = await _buyer()
    messages = [load_message("retail_on_confirm") for _ in range(5)]
    results = await asyncio.gather(*(ingest_order(m) for m in messages))
    statuses = sorted(r.outcomes[0].status for r in results)
    assert statuses == ["inserted", "stale", "stale", "stale", "stale"]
    assert await Order.find({"user_id": str(buyer.id)}).count() == 1


def test_derivation_rules_on_their_own() -> None:
    lines = breakup_lines(load_message("retail_on_confirm")["message"]["order"]["quote"])
    assert item_tax(lines) == Decimal("50.00")
    assert buyer_finder_fee(lines, "amount", "10") == Decimal("11.80")
    assert buyer_finder_fee(lines, "percent", None) == Decimal("0.00")
    assert msn_from_tags(
        [
            {
                "descriptor": {"code": "bpp_terms"},
                "list": [{"descriptor": {"code": "np_type"}, "value": "MSN"}],
            }
        ]
    )
    assert not msn_from_tags(None)
    updated = datetime(2025, 1, 31, tzinfo=UTC)
    assert due_date("delivery", "P1M", updated, None) == datetime(2025, 2, 28, tzinfo=UTC)
    assert due_date("shipment", "P1D", updated, None) is None
    assert due_date("delivery", None, updated, None) is None
