"""Every NACK the network entry point gives, and what it leaves behind (nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from rsf_core.enums import SettlementStatus
from rsf_core.models import Order, Reconciliation, RsfTransaction, Settlement
from rsf_core.payloads import generate_settle_np_np
from rsf_core.processors import handle_network_request
from rsf_core.settle_flow import trigger_settle
from rsf_core.settlement_prep import PrepareRequest, prepare_settlements
from rsf_core.signing import generate_keypair

from tests.core._ondc_network import (
    ACK,
    OUR_ID,
    SA_ID,
    Network,
    encode,
    load,
    network_fixture,  # noqa: F401 (the "network" fixture)
    on_settle_for,
    stubs_fixture,  # noqa: F401 (the "stubs" fixture)
)


def error_of(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["message"]["ack"]["status"] == "NACK"
    error: dict[str, Any] = answer["error"]
    return error


async def sent_settle(network: Network, order_id: str = "N-1") -> dict[str, Any]:
    assert await network.deliver("on_confirm", network.on_confirm(order_id)) == ACK
    await prepare_settlements(network.user_id, [PrepareRequest(order_id)])
    settle = await generate_settle_np_np(
        network.user_id, [order_id], subscriber_id=OUR_ID, agency=network.agency
    )
    result = await trigger_settle(
        network.user_id,
        settle,
        client=network.client,
        agency=network.agency,
        metrics=network.metrics,
    )
    assert result.acked
    return settle


async def test_missing_signature_is_70001(network: Network) -> None:
    answer = await network.deliver("on_confirm", network.on_confirm("N-1"), authorization=None)
    assert error_of(answer)["code"] == "70001"
    assert await Order.find_all().count() == 0


async def test_signature_by_another_key_is_70001(network: Network) -> None:
    answer = await network.deliver("on_confirm", network.on_confirm("N-1"), keys=generate_keypair())
    assert error_of(answer) == {
        "code": "70001",
        "message": "signature does not match the body or the key",
    }
    assert await Order.find_all().count() == 0


async def test_unknown_signer_is_70001(network: Network) -> None:
    answer = await network.deliver("on_confirm", network.on_confirm("N-1"), sender="rogue.example")
    assert error_of(answer)["code"] == "70001"


async def test_verification_is_on_unless_switched_off_explicitly(network: Network) -> None:
    with pytest.raises(ValueError, match="public key lookup"):
        await handle_network_request("on_confirm", b"{}", None, key_lookup=None)
    body = encode(network.on_confirm("N-1"))
    answer = await handle_network_request(
        "on_confirm", body, None, key_lookup=None, verify_signature=False
    )
    assert answer == ACK


async def test_schema_error_names_the_field(network: Network) -> None:
    message = network.on_confirm("N-1")
    message["message"]["order"]["state"] = "Shipped"
    error = error_of(await network.deliver("on_confirm", message))
    assert error["code"] == "70002"
    assert error["path"] == "/message/order/state"
    assert await Order.find_all().count() == 0


async def test_malformed_json_is_70002(network: Network) -> None:
    error = error_of(await network.deliver("on_settle", b'{"context": ', sender=SA_ID))
    assert error["code"] == "70002"


async def test_settle_is_not_accepted_by_an_np(network: Network) -> None:
    error = error_of(await network.deliver("settle", load("nts10_settle_np_np.json")))
    assert (error["code"], error["path"]) == ("70002", "/context/action")


async def test_unknown_participant_is_70030(network: Network) -> None:
    message = network.on_confirm("N-1")
    message["context"]["bap_uri"] = "https://stranger.example.com/api"
    assert error_of(await network.deliver("on_confirm", message))["code"] == "70030"


async def test_recon_for_an_order_nobody_here_holds_is_70030(network: Network) -> None:
    recon = load("nts10_recon.json")
    recon["context"]["bap_uri"] = "https://buyer.example.com/api"
    error = error_of(await network.deliver("recon", recon))
    assert error["code"] == "70030"
    assert await Reconciliation.find_all().count() == 0
    assert await RsfTransaction.find({"context.action": "recon"}).count() == 0


async def test_on_settle_for_a_settle_never_sent_is_70030(network: Network) -> None:
    error = error_of(await network.deliver("on_settle", load("nts10_on_settle.json"), sender=SA_ID))
    assert error["code"] == "70030"
    assert await RsfTransaction.find({"context.action": "on_settle"}).count() == 0


async def test_on_settle_naming_an_order_not_in_the_settle_changes_nothing(
    network: Network,
) -> None:
    settle = await sent_settle(network)
    answer = on_settle_for(settle, {"N-1": "SETTLED"})
    answer["message"]["settlement"]["orders"].append(
        {"id": "OTHER", "inter_participant": {"status": "SETTLED"}}
    )
    assert error_of(await network.deliver("on_settle", answer, sender=SA_ID))["code"] == "70030"
    pending = await Settlement.find_one({"order_id": "N-1"})
    assert pending is not None
    assert pending.status is SettlementStatus.PENDING
    # A refused message is not remembered as processed: resent, it is refused again.
    assert error_of(await network.deliver("on_settle", answer, sender=SA_ID))["code"] == "70030"


async def test_duplicate_message_is_acked_and_processed_once(network: Network) -> None:
    settle = await sent_settle(network)
    answer = on_settle_for(settle, {"N-1": "SETTLED"})
    for _ in range(3):
        assert await network.deliver("on_settle", answer, sender=SA_ID) == ACK
    assert network.counted("settlement_requests_total", status="SETTLED", user_type="BAP") == 1
    assert network.counted(
        "settlement_volume_total", currency="INR", agency=SA_ID
    ) == pytest.approx(947.37)
    assert await RsfTransaction.find({"context.action": "on_settle"}).count() == 1


async def test_recon_while_one_is_open_is_503(network: Network) -> None:
    settle = await sent_settle(network)
    await network.deliver("on_settle", on_settle_for(settle, {"N-1": "NOT_SETTLED"}), sender=SA_ID)
    recon = load("nts10_recon.json")
    recon["context"].update(
        bap_id=OUR_ID, bap_uri="https://buyer.example.com/api", bpp_uri=network.seller.url
    )
    recon["message"]["orders"][0]["id"] = "N-1"
    assert await network.deliver("recon", recon) == ACK
    again = load("nts10_recon.json")
    again["context"].update(
        bap_id=OUR_ID,
        bap_uri="https://buyer.example.com/api",
        bpp_uri=network.seller.url,
        message_id="another-message",
    )
    again["message"]["orders"][0]["id"] = "N-1"
    assert error_of(await network.deliver("recon", again))["code"] == "503"


async def test_settled_claim_against_an_unsettled_settlement_is_70030(network: Network) -> None:
    settle = await sent_settle(network)
    await network.deliver("on_settle", on_settle_for(settle, {"N-1": "NOT_SETTLED"}), sender=SA_ID)
    recon = load("nts10_recon.json")
    recon["context"].update(bap_id=OUR_ID, bap_uri="https://buyer.example.com/api")
    recon["message"]["orders"][0]["id"] = "N-1"
    recon["message"]["orders"][0]["settlements"][0]["status"] = "SETTLED"
    error = error_of(await network.deliver("recon", recon))
    assert error["code"] == "70030"
    assert "NOT_SETTLED" in error["message"]
    assert await Reconciliation.find_all().count() == 0
