"""Preparing settlements from ingested orders (USER) and agreed recons (RECON)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from rsf_core.enums import (
    ReconStatus,
    SettlementStatus,
    SettlementType,
    SettleStatus,
    Strategy,
)
from rsf_core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from rsf_core.ingestion import ingest_order
from rsf_core.models import Order, Participant, ReconBreakdown, Reconciliation, Settlement
from rsf_core.participants import create_participant
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements

from tests.core._ondc_fixtures import load_message

pytestmark = pytest.mark.usefixtures("beanie_db")
D = Decimal


async def _buyer(**overrides: Any) -> Participant:
    data: dict[str, Any] = {
        "title": "Buyer NP",
        "role": "BAP",
        "subscriber_url": "https://buyer.example.com/ondc",
        "domain": "ONDC:RET10",
        "np_tcs": "1",
        "np_tds": "1",
        "tcs_applicability": "BOTH",
        "tds_applicability": "BOTH",
    }
    data.update(overrides)
    return await create_participant(data)


async def _ingested(buyer: Participant, **payment: Any) -> Order:
    await ingest_order(load_message("retail_on_confirm"))
    message = load_message("retail_on_status_completed")
    message["message"]["order"]["payment"].update(payment)
    await ingest_order(message)
    order = await Order.find_one({"user_id": str(buyer.id), "order_id": "O-1001"})
    assert order is not None
    return order


async def _order_status(buyer: Participant) -> SettleStatus:
    order = await Order.find_one({"user_id": str(buyer.id), "order_id": "O-1001"})
    assert order is not None
    return order.settle_status


async def test_worked_example_end_to_end_from_messages() -> None:
    buyer = await _buyer()
    order = await _ingested(buyer)
    [settlement] = await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])

    stored = await Settlement.find_one({"user_id": str(buyer.id), "order_id": "O-1001"})
    assert stored is not None
    assert stored.settlement_id == settlement.settlement_id
    assert (stored.commission, stored.tcs, stored.tds) == (D("33.63"), D("9.50"), D("9.50"))
    assert stored.inter_np_settlement == D("947.37")
    assert stored.collector_settlement == D("52.63")
    assert stored.total_order_value == D("1000.00")
    assert stored.withholding_amount == D("60.00")
    assert (stored.collector_id, stored.receiver_id) == ("buyer.example.com", "seller.example.com")
    assert stored.type is SettlementType.NP_NP
    assert stored.strategy is Strategy.USER
    assert {stored.status, stored.provider_status, stored.self_status} == {
        SettlementStatus.PREPARED
    }
    assert stored.due_date == order.due_date
    assert stored.provider_id == "P1"
    assert await _order_status(buyer) is SettleStatus.SETTLE
    # preparing does not touch the order's ONDC updated_at (later-wins ingestion relies on it)
    after = await Order.find_one({"user_id": str(buyer.id), "order_id": "O-1001"})
    assert after is not None
    assert after.updated_at == order.updated_at


async def test_bpp_collected_order() -> None:
    buyer = await _buyer()
    await _ingested(buyer, collected_by="BPP")
    [settlement] = await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])
    assert settlement.inter_np_settlement == D("33.63")
    assert settlement.collector_settlement == D("966.37")
    assert (settlement.collector_id, settlement.receiver_id) == (
        "seller.example.com",
        "buyer.example.com",
    )


async def test_re_prepare_replaces_in_place_until_sent() -> None:
    buyer = await _buyer()
    await _ingested(buyer)
    [first] = await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])
    await buyer.set({"np_tds": D("2")})
    [second] = await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])
    assert second.settlement_id == first.settlement_id
    assert await Settlement.count() == 1
    stored = await Settlement.find_one({"order_id": "O-1001"})
    assert stored is not None
    assert stored.tds == D("19.00")

    await stored.set({"status": SettlementStatus.PENDING})
    with pytest.raises(BusinessRuleViolation) as info:
        await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])
    assert info.value.code == "ALREADY_SETTLING"


async def test_nothing_is_written_when_one_order_is_bad() -> None:
    buyer = await _buyer()
    await _ingested(buyer)
    with pytest.raises(NotFound):
        await prepare_settlements(
            str(buyer.id), [PrepareRequest("O-1001"), PrepareRequest("NO-SUCH-ORDER")]
        )
    assert await Settlement.count() == 0
    assert await _order_status(buyer) is SettleStatus.READY
    with pytest.raises(ValidationFailed):
        await prepare_settlements(
            str(buyer.id), [PrepareRequest("O-1001"), PrepareRequest("O-1001")]
        )
    with pytest.raises(ValidationFailed):
        await prepare_settlements(str(buyer.id), [])
    with pytest.raises(NotFound):
        await prepare_settlements("000000000000000000000000", [PrepareRequest("O-1001")])


async def test_recon_strategy_uses_agreed_breakdown() -> None:
    buyer = await _buyer()
    order = await _ingested(buyer)
    with pytest.raises(BusinessRuleViolation) as info:
        await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001", Strategy.RECON)])
    assert info.value.code == "NOT_IN_RECON"

    await order.set({"settle_status": SettleStatus.RECON})
    with pytest.raises(BusinessRuleViolation) as info:
        await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001", Strategy.RECON)])
    assert info.value.code == "NO_AGREED_RECON"

    sent = ReconBreakdown(
        amount=D("947.37"),
        commission=D("33.63"),
        withholding_amount=D("60"),
        tcs=D("9.50"),
        tds=D("9.50"),
    )
    agreed = sent.model_copy(update={"amount": D("940.00"), "commission": D("41.00")})
    await Reconciliation(
        user_id=str(buyer.id),
        order_id="O-1001",
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        recon_status=ReconStatus.INACTIVE,
        recon_breakdown=sent,
        on_recon_breakdown=agreed,
        recon_accord=True,
    ).insert()
    with pytest.raises(BusinessRuleViolation):
        # USER is refused while the order is in RECON
        await prepare_settlements(str(buyer.id), [PrepareRequest("O-1001")])

    [settlement] = await prepare_settlements(
        str(buyer.id), [PrepareRequest("O-1001", Strategy.RECON)]
    )
    assert settlement.strategy is Strategy.RECON
    assert settlement.inter_np_settlement == D("940.00")
    assert settlement.commission == D("41.00")
    assert settlement.collector_settlement == D("0.00")
    assert settlement.status is SettlementStatus.PREPARED
    assert await _order_status(buyer) is SettleStatus.SETTLE


async def test_recon_strategy_falls_back_to_the_recon_breakdown() -> None:
    buyer = await _buyer()
    order = await _ingested(buyer)
    await order.set({"settle_status": SettleStatus.RECON})
    await Reconciliation(
        user_id=str(buyer.id),
        order_id="O-1001",
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        recon_breakdown=ReconBreakdown(
            amount=D("900"), commission=D("30"), withholding_amount=D("0"), tcs=D("0"), tds=D("0")
        ),
    ).insert()
    [settlement] = await prepare_settlements(
        str(buyer.id), [PrepareRequest("O-1001", Strategy.RECON)]
    )
    assert settlement.inter_np_settlement == D("900.00")
