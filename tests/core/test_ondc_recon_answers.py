"""The less travelled answers: on_recon errors, our own rejection, MISC and NIL settles."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from rsf_core.enums import ReconStatus, SettlementStatus
from rsf_core.errors import BusinessRuleViolation
from rsf_core.models import ReconBreakdown, Reconciliation, RsfTransaction, Settlement
from rsf_core.payloads import (
    MiscItem,
    OnReconAnswer,
    ReconRequest,
    generate_on_recon,
    generate_recon,
    generate_settle_misc,
    generate_settle_nil,
)
from rsf_core.recon_flow import move_to_ready, trigger_on_recon, trigger_recon
from rsf_core.settle_flow import trigger_settle
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements

from tests.core._ondc_network import (
    ACK,
    OUR_ID,
    OUR_URL,
    SELLER_ID,
    Network,
    network_fixture,  # noqa: F401 (the "network" fixture)
    stubs_fixture,  # noqa: F401 (the "stubs" fixture)
)

ORDER = "R-1"


async def recon_of(order_id: str = ORDER) -> Reconciliation:
    found = await Reconciliation.find_one({"order_id": order_id})
    assert found is not None
    return found


async def prepared(network: Network) -> None:
    assert await network.deliver("on_confirm", network.on_confirm(ORDER)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(ORDER)])


def incoming_recon(network: Network, amount: str = "940.00") -> dict[str, Any]:
    figure = {"currency": "INR", "value": "9.50"}
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
            "transaction_id": "in-recon-txn",
            "message_id": "in-recon-msg",
            "timestamp": "2025-08-20T10:00:00.000Z",
        },
        "message": {
            "orders": [
                {
                    "id": ORDER,
                    "amount": {"currency": "INR", "value": "1000.00"},
                    "settlements": [
                        {
                            "id": "seller-s-1",
                            "status": "TO_BE_INITIATED",
                            "amount": {"currency": "INR", "value": amount},
                            "commission": {"currency": "INR", "value": "33.63"},
                            "withholding_amount": {"currency": "INR", "value": "0.00"},
                            "tcs": figure,
                            "tds": figure,
                        }
                    ],
                }
            ]
        },
    }


async def test_on_recon_error_marks_the_recon_error(network: Network) -> None:
    await prepared(network)
    recon = await generate_recon(network.user_id, [ReconRequest(ORDER)])
    assert (await trigger_recon(network.user_id, recon, client=network.client)).acked
    answer = {
        "context": {**recon["context"], "action": "on_recon"},
        "error": {"code": "70030", "message": "order unknown to the seller"},
    }
    assert await network.deliver("on_recon", answer) == ACK
    errored = await recon_of()
    assert errored.recon_status is ReconStatus.ERROR
    assert errored.on_recon_error == {"code": "70030", "message": "order unknown to the seller"}
    # An errored recon does not block a new one.
    await generate_recon(network.user_id, [ReconRequest(ORDER)])


async def test_accord_with_other_figures_is_refused_and_changes_nothing(network: Network) -> None:
    await prepared(network)
    recon = await generate_recon(network.user_id, [ReconRequest(ORDER)])
    await trigger_recon(network.user_id, recon, client=network.client)
    answer = copy.deepcopy(recon)
    answer["context"]["action"] = "on_recon"
    order = answer["message"]["orders"][0]
    order["recon_accord"] = True
    order["settlements"][0]["due_date"] = "2025-09-01T00:00:00.000Z"
    order["settlements"][0]["amount"]["value"] = "1.00"
    reply = await network.deliver("on_recon", answer)
    assert reply["error"]["code"] == "70030"
    assert (await recon_of()).recon_status is ReconStatus.SENT_PENDING


async def test_our_rejection_of_a_received_recon(network: Network) -> None:
    await prepared(network)
    assert await network.deliver("recon", incoming_recon(network)) == ACK
    counter = ReconBreakdown(
        amount=Decimal("947.37"),
        commission=Decimal("33.63"),
        withholding_amount=Decimal("0"),
        tcs=Decimal("9.50"),
        tds=Decimal("9.50"),
    )
    on_recon = await generate_on_recon(
        network.user_id, [OnReconAnswer(ORDER, recon_accord=False, figures=counter)]
    )
    entry = on_recon["message"]["orders"][0]["settlements"][0]
    assert entry["amount"] == {"currency": "INR", "value": "947.37", "diff_value": "7.37"}
    result = await trigger_on_recon(
        network.user_id, on_recon, client=network.client, metrics=network.metrics
    )
    assert result.acked
    rejected = await recon_of()
    assert rejected.recon_status is ReconStatus.RECEIVED_REJECTED
    assert rejected.discrepancy == Decimal("7.37")
    assert rejected.on_recon_breakdown == counter
    assert network.counted("reconciliation_discrepancy_amount_sum") == pytest.approx(7.37)
    with pytest.raises(BusinessRuleViolation, match="not accepted"):
        await move_to_ready(network.user_id, [ORDER])


async def test_wrong_diff_value_is_refused_before_sending(network: Network) -> None:
    await prepared(network)
    assert await network.deliver("recon", incoming_recon(network)) == ACK
    counter = ReconBreakdown(
        amount=Decimal("900"),
        commission=Decimal("33.63"),
        withholding_amount=Decimal("0"),
        tcs=Decimal("9.50"),
        tds=Decimal("9.50"),
    )
    on_recon = await generate_on_recon(
        network.user_id, [OnReconAnswer(ORDER, recon_accord=False, figures=counter)]
    )
    on_recon["message"]["orders"][0]["settlements"][0]["amount"]["diff_value"] = "1.00"
    with pytest.raises(BusinessRuleViolation, match="diff_value"):
        await trigger_on_recon(network.user_id, on_recon, client=network.client)
    assert network.seller.requests_to("/on_recon") == []
    assert (await recon_of()).recon_status is ReconStatus.RECEIVED_PENDING


async def test_misc_and_nil_settles_are_sent_and_recorded_only(network: Network) -> None:
    await prepared(network)
    misc = await generate_settle_misc(
        network.user_id,
        [MiscItem(self_amount=Decimal("12.5"))],
        subscriber_id=OUR_ID,
        agency=network.agency,
    )
    nil = await generate_settle_nil(network.user_id, subscriber_id=OUR_ID, agency=network.agency)
    for payload in (misc, nil):
        result = await trigger_settle(
            network.user_id, payload, client=network.client, agency=network.agency
        )
        assert result.acked
        assert result.order_ids == []
    kinds = [
        item.json["message"]["settlement"]["type"] for item in network.sa.requests_to("/settle")
    ]
    assert kinds == ["MISC", "NIL"]
    assert await RsfTransaction.find({"context.action": "settle", "ack_status": "ACK"}).count() == 2
    untouched = await Settlement.find_one({"order_id": ORDER})
    assert untouched is not None
    assert untouched.status is SettlementStatus.PREPARED
