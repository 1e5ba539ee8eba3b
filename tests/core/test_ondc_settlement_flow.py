"""The original tool's end-to-end flow, on nx-27017 with a stub agency and counterparty on loopback.

participant -> on_confirm ingested -> prepared -> settle generated and triggered (ACK) ->
on_settle NOT_SETTLED -> recon -> on_recon without and with accord -> incoming recon ->
on_recon generated -> move-to-ready -> re-prepared with RECON. Business metrics by value.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from rsf_core.enums import ReconStatus, SettlementStatus, SettleStatus, Strategy
from rsf_core.errors import BusinessRuleViolation
from rsf_core.models import Order, ReconBreakdown, Reconciliation, RsfTransaction, Settlement
from rsf_core.payloads import (
    OnReconAnswer,
    ReconRequest,
    generate_on_recon,
    generate_recon,
    generate_report,
    generate_settle_np_np,
)
from rsf_core.recon_flow import move_to_ready, trigger_on_recon, trigger_recon
from rsf_core.settle_flow import trigger_report, trigger_settle
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements

from tests.core._ondc_network import (
    ACK,
    OUR_ID,
    OUR_URL,
    SA_ID,
    SELLER_ID,
    Network,
    network_fixture,  # noqa: F401 (the "network" fixture)
    on_settle_for,
    stubs_fixture,  # noqa: F401 (the "stubs" fixture)
)

ORDER_SENT = "FLOW-1001"  # we reconcile it with the seller
ORDER_RECEIVED = "FLOW-1002"  # the seller reconciles it with us


async def settlement(network: Network, order_id: str) -> Settlement:
    found = await Settlement.find_one({"user_id": network.user_id, "order_id": order_id})
    assert found is not None
    return found


async def recon_of(network: Network, order_id: str) -> Reconciliation:
    found = await Reconciliation.find_one({"user_id": network.user_id, "order_id": order_id})
    assert found is not None
    return found


def seller_on_recon(recon: dict[str, Any], *, accord: bool) -> dict[str, Any]:
    """The seller's answer to our recon: agree, or counter amount 200.00 and tcs 12.00."""
    answer = copy.deepcopy(recon)
    answer["context"]["action"] = "on_recon"
    for order in answer["message"]["orders"]:
        order["recon_accord"] = accord
        entry = order["settlements"][0]
        if accord:
            entry["due_date"] = "2025-09-01T00:00:00.000Z"
        else:
            entry["amount"] = {"currency": "INR", "value": "900.00", "diff_value": "47.37"}
            entry["tcs"] = {"currency": "INR", "value": "12.00", "diff_value": "2.50"}
            for name in ("commission", "withholding_amount", "tds"):
                entry[name] = {**entry[name], "diff_value": "0.00"}
    return answer


def seller_recon(network: Network) -> dict[str, Any]:
    """The seller's own recon about ORDER_RECEIVED, addressed to us (we are the order's BAP)."""
    return {
        "context": {
            "domain": "ONDC:NTS10",
            "location": {"country": {"code": "IND"}, "city": {"code": "*"}},
            "version": "2.0.0",
            "action": "recon",
            "bap_id": OUR_ID,
            "bap_uri": OUR_URL,
            "bpp_id": SELLER_ID,
            "bpp_uri": network.seller.url,
            "transaction_id": "seller-recon-txn-1",
            "message_id": "seller-recon-msg-1",
            "timestamp": "2025-08-20T10:00:00.000Z",
            "ttl": "P1D",
        },
        "message": {
            "orders": [
                {
                    "id": ORDER_RECEIVED,
                    "amount": {"currency": "INR", "value": "1000.00"},
                    "settlements": [
                        {
                            "id": "seller-settlement-1",
                            "payment_id": "pay-77",
                            "status": "NOT_SETTLED",
                            "amount": {"currency": "INR", "value": "940.00"},
                            "commission": {"currency": "INR", "value": "33.63"},
                            "withholding_amount": {"currency": "INR", "value": "0.00"},
                            "tcs": {"currency": "INR", "value": "9.50"},
                            "tds": {"currency": "INR", "value": "9.50"},
                            "updated_at": "2025-08-20T10:00:00.000Z",
                        }
                    ],
                }
            ]
        },
    }


async def test_whole_settlement_and_reconciliation_flow(network: Network) -> None:
    # --- on_confirm ingested for our participant ------------------------------------------
    for order_id in (ORDER_SENT, ORDER_RECEIVED):
        assert await network.deliver("on_confirm", network.on_confirm(order_id)) == ACK
    assert await Order.find({"user_id": network.user_id}).count() == 2

    # --- prepared with the participant's rates (the spec's worked example) -----------------
    prepared = await prepare_settlements(
        network.user_id, [PrepareRequest(ORDER_SENT), PrepareRequest(ORDER_RECEIVED)]
    )
    first = prepared[0]
    assert (first.commission, first.tcs, first.tds) == (
        Decimal("33.63"),
        Decimal("9.50"),
        Decimal("9.50"),
    )
    assert (first.inter_np_settlement, first.collector_settlement) == (
        Decimal("947.37"),
        Decimal("52.63"),
    )

    # --- settle generated and triggered: the agency ACKs -----------------------------------
    settle = await generate_settle_np_np(
        network.user_id,
        [ORDER_SENT, ORDER_RECEIVED],
        subscriber_id=OUR_ID,
        agency=network.agency,
    )
    assert settle["message"]["collector_app_id"] == OUR_ID
    assert settle["message"]["receiver_app_id"] == SELLER_ID
    assert settle["message"]["settlement"]["orders"][0]["inter_participant"]["amount"] == {
        "currency": "INR",
        "value": "947.37",
    }
    result = await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    assert result.acked
    assert sorted(result.order_ids) == [ORDER_SENT, ORDER_RECEIVED]
    (sent,) = network.sa.requests_to("/settle")
    assert sent.signature_ok
    assert sent.json["context"]["message_id"] == settle["context"]["message_id"]
    pending = await settlement(network, ORDER_SENT)
    assert pending.status is SettlementStatus.PENDING
    assert pending.initiated_date is not None
    assert pending.transaction_ids == [settle["context"]["transaction_id"]]
    assert network.counted("settlement_requests_total", status="PENDING", user_type="BAP") == 2

    # --- on_settle from the agency: NOT_SETTLED ---------------------------------------------
    on_settle = on_settle_for(settle, {ORDER_SENT: "NOT_SETTLED", ORDER_RECEIVED: "NOT_SETTLED"})
    assert await network.deliver("on_settle", on_settle, sender=SA_ID) == ACK
    failed = await settlement(network, ORDER_SENT)
    assert failed.status is SettlementStatus.NOT_SETTLED
    assert failed.settlement_reference == f"UTR-{ORDER_SENT}"
    assert failed.error == "inter_participant: BANK-01: Beneficiary account frozen"
    assert failed.settled_date is not None
    assert network.counted("settlement_requests_total", status="NOT_SETTLED", user_type="BAP") == 2
    assert network.counted("settlement_processing_duration_seconds_count") == 2
    assert network.counted("settlement_volume_total", currency="INR", agency=SA_ID) == 0

    received_on_settle = await RsfTransaction.find_one({"context.action": "on_settle"})
    assert received_on_settle is not None
    assert (received_on_settle.direction, received_on_settle.ack_status) == ("incoming", "ACK")
    assert received_on_settle.user_id == network.user_id

    # The same on_settle again: ACKed, not processed twice.
    assert await network.deliver("on_settle", on_settle, sender=SA_ID) == ACK
    assert network.counted("settlement_requests_total", status="NOT_SETTLED", user_type="BAP") == 2

    # --- recon to the seller; the seller answers without accord ----------------------------
    recon = await generate_recon(network.user_id, [ReconRequest(ORDER_SENT, payment_id="pay-1")])
    claim = recon["message"]["orders"][0]["settlements"][0]
    assert (claim["status"], claim["amount"]["value"], claim["tcs"]["value"]) == (
        "NOT_SETTLED",
        "947.37",
        "9.50",
    )
    sent_recon = await trigger_recon(network.user_id, recon, client=network.client)
    assert sent_recon.acked
    assert network.seller.requests_to("/recon")[0].signature_ok
    assert (await recon_of(network, ORDER_SENT)).recon_status is ReconStatus.SENT_PENDING
    assert (await settlement(network, ORDER_SENT)).status is SettlementStatus.IN_RECON
    with pytest.raises(BusinessRuleViolation, match="SENT_PENDING"):
        await generate_recon(network.user_id, [ReconRequest(ORDER_SENT)])

    assert await network.deliver("on_recon", seller_on_recon(recon, accord=False)) == ACK
    rejected = await recon_of(network, ORDER_SENT)
    assert rejected.recon_status is ReconStatus.SENT_REJECTED
    assert rejected.recon_accord is False
    assert rejected.on_recon_breakdown is not None
    assert rejected.on_recon_breakdown.amount == Decimal("900.00")
    assert rejected.discrepancy == Decimal("49.87")
    assert network.counted("reconciliation_discrepancy_amount_sum") == pytest.approx(49.87)
    assert network.counted("reconciliation_discrepancy_amount_count") == 1

    # --- a new recon (a rejected one does not block it); this time the seller agrees -------
    recon_again = await generate_recon(network.user_id, [ReconRequest(ORDER_SENT)])
    assert (await trigger_recon(network.user_id, recon_again, client=network.client)).acked
    assert await network.deliver("on_recon", seller_on_recon(recon_again, accord=True)) == ACK
    accepted = await recon_of(network, ORDER_SENT)
    assert accepted.recon_status is ReconStatus.SENT_ACCEPTED
    assert accepted.recon_accord is True
    assert accepted.due_date == datetime(2025, 9, 1, tzinfo=UTC)
    assert accepted.on_recon_breakdown is None
    assert network.counted("reconciliation_processing_duration_seconds_count") == 2

    # --- the seller reconciles the other order with us --------------------------------------
    assert await network.deliver("recon", seller_recon(network)) == ACK
    received = await recon_of(network, ORDER_RECEIVED)
    assert received.recon_status is ReconStatus.RECEIVED_PENDING
    assert received.recon_breakdown is not None
    assert received.recon_breakdown.amount == Decimal("940.00")
    assert (await settlement(network, ORDER_RECEIVED)).status is SettlementStatus.IN_RECON

    # --- we generate and send the on_recon (accord) -----------------------------------------
    on_recon = await generate_on_recon(
        network.user_id,
        [
            OnReconAnswer(
                ORDER_RECEIVED, recon_accord=True, due_date=datetime(2025, 9, 5, tzinfo=UTC)
            )
        ],
    )
    assert on_recon["context"]["transaction_id"] == "seller-recon-txn-1"
    assert on_recon["context"]["message_id"] == "seller-recon-msg-1"
    assert on_recon["message"]["orders"][0]["settlements"][0]["amount"]["value"] == "940.00"
    answered = await trigger_on_recon(
        network.user_id, on_recon, client=network.client, metrics=network.metrics
    )
    assert answered.acked
    assert network.seller.requests_to("/on_recon")[0].json == on_recon
    assert (await recon_of(network, ORDER_RECEIVED)).recon_status is ReconStatus.RECEIVED_ACCEPTED
    assert network.counted("reconciliation_processing_duration_seconds_count") == 3

    # --- move to ready, prepared again with the RECON strategy ------------------------------
    moved = await move_to_ready(network.user_id, [ORDER_SENT, ORDER_RECEIVED])
    assert moved.order_ids == [ORDER_SENT, ORDER_RECEIVED]
    by_order = {s.order_id: s for s in moved.settlements}
    assert by_order[ORDER_SENT].strategy is Strategy.RECON
    assert by_order[ORDER_SENT].status is SettlementStatus.PREPARED
    assert by_order[ORDER_SENT].inter_np_settlement == Decimal("947.37")
    assert by_order[ORDER_RECEIVED].inter_np_settlement == Decimal("940.00")
    assert by_order[ORDER_RECEIVED].collector_settlement == Decimal("0.00")
    order = await Order.find_one({"user_id": network.user_id, "order_id": ORDER_SENT})
    assert order is not None
    assert order.due_date == datetime(2025, 9, 1, tzinfo=UTC)
    assert order.settle_status is SettleStatus.SETTLE
    assert (await recon_of(network, ORDER_SENT)).recon_status is ReconStatus.INACTIVE
    assert (await recon_of(network, ORDER_RECEIVED)).recon_status is ReconStatus.INACTIVE


async def test_on_recon_figures_without_accord_are_stored_per_figure(network: Network) -> None:
    assert await network.deliver("on_confirm", network.on_confirm(ORDER_SENT)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(ORDER_SENT)])
    counter = ReconBreakdown(
        amount=Decimal("900"),
        commission=Decimal("33.63"),
        withholding_amount=Decimal("0"),
        tcs=Decimal("12"),
        tds=Decimal("9.5"),
    )
    recon = await generate_recon(network.user_id, [ReconRequest(ORDER_SENT, figures=counter)])
    claim = recon["message"]["orders"][0]["settlements"][0]
    assert claim["status"] == "TO_BE_INITIATED"
    assert (claim["amount"]["value"], claim["tcs"]["value"], claim["tds"]["value"]) == (
        "900.00",
        "12.00",
        "9.50",
    )


async def test_settled_outcome_counts_volume_and_duration(network: Network) -> None:
    for order_id in (ORDER_SENT, ORDER_RECEIVED):
        assert await network.deliver("on_confirm", network.on_confirm(order_id)) == ACK
    await prepare_settlements(
        network.user_id, [PrepareRequest(ORDER_SENT), PrepareRequest(ORDER_RECEIVED)]
    )
    settle = await generate_settle_np_np(
        network.user_id, [ORDER_SENT, ORDER_RECEIVED], subscriber_id=OUR_ID, agency=network.agency
    )
    assert (
        await trigger_settle(
            network.user_id,
            settle,
            client=network.client,
            agency=network.agency,
            metrics=network.metrics,
        )
    ).acked
    answer = on_settle_for(settle, {ORDER_SENT: "SETTLED", ORDER_RECEIVED: "NOT_SETTLED"})
    assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    assert (await settlement(network, ORDER_SENT)).status is SettlementStatus.SETTLED
    assert network.counted("settlement_requests_total", status="SETTLED", user_type="BAP") == 1
    assert network.counted("settlement_requests_total", status="NOT_SETTLED", user_type="BAP") == 1
    assert network.counted(
        "settlement_volume_total", currency="INR", agency=SA_ID
    ) == pytest.approx(947.37)
    assert network.counted("settlement_processing_duration_seconds_count") == 2


async def test_payload_level_error_marks_every_settlement_not_settled(network: Network) -> None:
    assert await network.deliver("on_confirm", network.on_confirm(ORDER_SENT)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(ORDER_SENT)])
    settle = await generate_settle_np_np(
        network.user_id, [ORDER_SENT], subscriber_id=OUR_ID, agency=network.agency
    )
    await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    answer = {
        "context": {**settle["context"], "action": "on_settle"},
        "error": {"code": "70030", "message": "Settlement window closed"},
    }
    assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    failed = await settlement(network, ORDER_SENT)
    assert (failed.status, failed.provider_status, failed.self_status) == (
        SettlementStatus.NOT_SETTLED,
        SettlementStatus.NOT_SETTLED,
        SettlementStatus.NOT_SETTLED,
    )
    assert failed.error == "70030: Settlement window closed"


async def test_report_asks_the_agency_and_on_report_applies_the_status(network: Network) -> None:
    assert await network.deliver("on_confirm", network.on_confirm(ORDER_SENT)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(ORDER_SENT)])
    settle = await generate_settle_np_np(
        network.user_id, [ORDER_SENT], subscriber_id=OUR_ID, agency=network.agency
    )
    await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    report = await generate_report(
        network.user_id,
        ref_transaction_id=settle["context"]["transaction_id"],
        ref_message_id=settle["context"]["message_id"],
        subscriber_id=OUR_ID,
        agency=network.agency,
    )
    sent = await trigger_report(
        network.user_id, report, client=network.client, agency=network.agency
    )
    assert sent.acked
    assert network.sa.requests_to("/report")[0].json["message"] == {
        "ref_transaction_id": settle["context"]["transaction_id"],
        "ref_message_id": settle["context"]["message_id"],
    }
    on_report = on_settle_for(settle, {ORDER_SENT: "SETTLED"})
    on_report["context"] = {**report["context"], "action": "on_report"}
    assert await network.deliver("on_report", on_report, sender=SA_ID) == ACK
    settled = await settlement(network, ORDER_SENT)
    assert settled.status is SettlementStatus.SETTLED
    assert settled.settlement_reference == f"UTR-{ORDER_SENT}"
    assert network.counted("settlement_requests_total", status="SETTLED", user_type="BAP") == 1
