"""A settle or recon the receiver refuses, or never answers, leaves the records as they were."""

from __future__ import annotations

from typing import Any

import pytest
from rsf_core.agency_client import AgencyClient, RetryPolicy, SignerConfig
from rsf_core.enums import SettlementStatus
from rsf_core.errors import BusinessRuleViolation
from rsf_core.models import Reconciliation, RsfPayload, RsfTransaction, Settlement
from rsf_core.payloads import ReconRequest, generate_recon, generate_settle_np_np
from rsf_core.recon_flow import trigger_recon
from rsf_core.settle_flow import trigger_settle
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements

from tests.core._ondc_network import (
    ACK,
    OUR_ID,
    OUR_KEYS,
    SA_ID,
    Network,
    network_fixture,  # noqa: F401 (the "network" fixture)
    on_settle_for,
    stubs_fixture,  # noqa: F401 (the "stubs" fixture)
)

ORDER = "T-1"


async def prepared_settle(network: Network) -> dict[str, Any]:
    assert await network.deliver("on_confirm", network.on_confirm(ORDER)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(ORDER)])
    return await generate_settle_np_np(
        network.user_id, [ORDER], subscriber_id=OUR_ID, agency=network.agency
    )


async def the_settlement() -> Settlement:
    found = await Settlement.find_one({"order_id": ORDER})
    assert found is not None
    return found


async def test_nack_keeps_the_settlement_prepared_with_the_reason(network: Network) -> None:
    settle = await prepared_settle(network)
    network.sa.answer("nack", code="70030", message="receiver account unknown")
    result = await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    assert result.exchange.nacked
    assert result.order_ids == []
    assert result.answer()["error"] == {"code": "70030", "message": "receiver account unknown"}
    kept = await the_settlement()
    assert kept.status is SettlementStatus.PREPARED
    assert kept.initiated_date is None
    assert kept.transaction_ids == []
    assert kept.error == "70030: receiver account unknown"
    stored = await RsfTransaction.find_one({"context.action": "settle"})
    assert stored is not None
    assert stored.ack_status == "NACK"
    assert network.counted("settlement_requests_total", status="NACK", user_type="BAP") == 1
    assert network.counted("settlement_requests_total", status="PENDING", user_type="BAP") == 0


async def test_timeout_changes_no_status_and_the_same_message_can_be_resent(
    network: Network,
) -> None:
    settle = await prepared_settle(network)
    network.sa.answer("slow")
    impatient = AgencyClient(
        SignerConfig(OUR_ID, "k1", OUR_KEYS.private_key_b64),
        timeout=0.3,
        retry=RetryPolicy(attempts=1),
    )
    try:
        result = await trigger_settle(
            network.user_id,
            settle,
            client=impatient,
            agency=network.agency,
            metrics=network.metrics,
        )
    finally:
        network.sa.release()
        await impatient.aclose()
    assert result.exchange.error == "Timeout after 0.3s"
    assert result.answer()["error"]["code"] == "70000"
    kept = await the_settlement()
    assert (kept.status, kept.provider_status, kept.self_status) == (
        SettlementStatus.PREPARED,
        SettlementStatus.PREPARED,
        SettlementStatus.PREPARED,
    )
    assert kept.initiated_date is None
    assert kept.error == "Timeout after 0.3s"
    assert network.counted("settlement_requests_total", status="ERROR", user_type="BAP") == 1
    audit = await RsfPayload.find_one({"action": "settle"})
    assert audit is not None
    assert audit.ack_status == "ERROR"

    # Resent as it was (same message_id, so the agency can tell it is the same settle).
    again = await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    assert again.acked
    ids = {item.json["context"]["message_id"] for item in network.sa.requests_to("/settle")}
    assert ids == {settle["context"]["message_id"]}
    sent = await the_settlement()
    assert sent.status is SettlementStatus.PENDING
    assert sent.error is None
    assert await RsfTransaction.find({"context.action": "settle"}).count() == 1


async def test_5xx_then_ack_sends_the_same_message_twice_and_settles_once(
    network: Network,
) -> None:
    settle = await prepared_settle(network)
    network.sa.answer("500")
    result = await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    assert result.acked
    assert result.exchange.attempts == 2
    bodies = [item.body for item in network.sa.requests_to("/settle")]
    assert len(bodies) == 2
    assert bodies[0] == bodies[1]
    assert network.counted("settlement_requests_total", status="PENDING", user_type="BAP") == 1


async def test_a_sent_settle_cannot_be_sent_again(network: Network) -> None:
    settle = await prepared_settle(network)
    assert (
        await trigger_settle(network.user_id, settle, client=network.client, agency=network.agency)
    ).acked
    with pytest.raises(BusinessRuleViolation, match="PENDING"):
        await trigger_settle(network.user_id, settle, client=network.client, agency=network.agency)
    assert len(network.sa.requests_to("/settle")) == 1


async def test_edited_amount_is_refused_before_sending(network: Network) -> None:
    settle = await prepared_settle(network)
    settle["message"]["settlement"]["orders"][0]["inter_participant"]["amount"]["value"] = "999.99"
    with pytest.raises(BusinessRuleViolation, match=r"differs from the prepared 947\.37"):
        await trigger_settle(network.user_id, settle, client=network.client, agency=network.agency)
    assert network.sa.received == []


async def test_recon_nack_leaves_no_recon_and_the_settlement_as_it_was(network: Network) -> None:
    settle = await prepared_settle(network)
    await trigger_settle(network.user_id, settle, client=network.client, agency=network.agency)
    answer = on_settle_for(settle, {ORDER: "NOT_SETTLED"})
    assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    recon = await generate_recon(network.user_id, [ReconRequest(ORDER)])
    network.seller.answer("nack", code="70030", message="order unknown")
    result = await trigger_recon(network.user_id, recon, client=network.client)
    assert result.exchange.nacked
    assert await Reconciliation.find_all().count() == 0
    assert (await the_settlement()).status is SettlementStatus.NOT_SETTLED
