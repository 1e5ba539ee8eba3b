"""A network around one participant, for the settle / recon flow tests.

Import ``network_fixture`` and ``stubs_fixture`` into a test module to use the ``network`` fixture.

Our NP is a BAP (``buyer.example.com``) that collects payment. A stub settlement agency and a
stub seller NP (the counterparty) run on loopback and check our signatures; messages *from*
them to us are signed with their own keys and go through ``handle_network_request`` exactly as
the server's ``POST /api/{action}`` would pass them.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from rsf_core.agency_client import AgencyClient, RetryPolicy, SignerConfig
from rsf_core.participants import create_participant
from rsf_core.payloads import SettlementAgency
from rsf_core.processors import handle_network_request
from rsf_core.signing import KeyPair, StaticKeyLookup, generate_keypair, sign_request
from rsf_observability.metrics import RsfMetrics

from tests.support.ondc_stub import StubNP

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ondc"

OUR_ID = "buyer.example.com"
OUR_URL = "https://buyer.example.com/api"
SA_ID = "sa.example.com"
SELLER_ID = "seller.example.com"

ACK = {"message": {"ack": {"status": "ACK"}}}
"""What a receiver answers to a request it accepts."""

OUR_KEYS = generate_keypair()
SA_KEYS = generate_keypair()
SELLER_KEYS = generate_keypair()


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


@dataclass
class Network:
    user_id: str
    agency: SettlementAgency
    sa: StubNP
    seller: StubNP
    client: AgencyClient
    metrics: RsfMetrics

    @property
    def lookup(self) -> StaticKeyLookup:
        return StaticKeyLookup(
            {SA_ID: SA_KEYS.public_key_b64, SELLER_ID: SELLER_KEYS.public_key_b64}
        )

    async def deliver(
        self,
        action: str,
        payload: dict[str, Any] | bytes,
        *,
        sender: str = SELLER_ID,
        keys: KeyPair | None = None,
        authorization: str | None = "sign",
    ) -> dict[str, Any]:
        """Post a message to our NP as ``sender`` would: signed with its key unless told not to."""
        body = payload if isinstance(payload, bytes) else encode(payload)
        if authorization == "sign":
            signing_keys = keys or (SA_KEYS if sender == SA_ID else SELLER_KEYS)
            authorization = sign_request(body, sender, "k1", signing_keys.private_key_b64)
        return await handle_network_request(
            action, body, authorization, key_lookup=self.lookup, metrics=self.metrics
        )

    def on_confirm(self, order_id: str) -> dict[str, Any]:
        """The retail on_confirm of the flow (total 1000, 3% fee, BAP collects) for ``order_id``."""
        message = load("retail_on_confirm_flow.json")
        message["message"]["order"]["id"] = order_id
        message["context"]["transaction_id"] = f"txn-{order_id}"
        message["context"]["bpp_uri"] = self.seller.url
        return message

    def counted(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


def on_settle_for(settle: dict[str, Any], statuses: dict[str, str]) -> dict[str, Any]:
    """The agency's on_settle for ``settle``: per order id, the inter-participant status."""
    answer = copy.deepcopy(settle)
    answer["context"]["action"] = "on_settle"
    orders = []
    for order in settle["message"]["settlement"]["orders"]:
        status = statuses[order["id"]]
        part: dict[str, Any] = {
            "amount": order["inter_participant"]["amount"],
            "status": status,
            "reference_no": f"UTR-{order['id']}",
        }
        if status == "NOT_SETTLED":
            part["error"] = {"code": "BANK-01", "message": "Beneficiary account frozen"}
        orders.append(
            {"id": order["id"], "inter_participant": part, "collector": order["collector"]}
        )
    answer["message"]["settlement"]["orders"] = orders
    return answer


@pytest.fixture(name="stubs", scope="module")
def stubs_fixture() -> Iterator[tuple[StubNP, StubNP]]:
    """The agency and the seller, shared by a module's tests (reset for each by ``network``)."""
    keys = {OUR_ID: OUR_KEYS.public_key_b64}
    with StubNP(dict(keys)) as sa, StubNP(dict(keys)) as seller:
        yield sa, seller


@pytest.fixture(name="network")
async def network_fixture(
    beanie_db: object, core_metrics: RsfMetrics, stubs: tuple[StubNP, StubNP]
) -> AsyncIterator[Network]:
    sa, seller = stubs
    sa.reset()
    seller.reset()
    participant = await create_participant(
        {
            "title": "Buyer NP",
            "role": "BAP",
            "subscriber_url": OUR_URL,
            "domain": "ONDC:RET10",
            "np_tcs": "1",
            "np_tds": "1",
            "tcs_applicability": "BOTH",
            "tds_applicability": "BOTH",
        }
    )
    client = AgencyClient(
        SignerConfig(OUR_ID, "k1", OUR_KEYS.private_key_b64),
        timeout=2.0,
        retry=RetryPolicy(attempts=2, base_delay=0.01),
    )
    try:
        yield Network(
            user_id=str(participant.id),
            agency=SettlementAgency(SA_ID, sa.url),
            sa=sa,
            seller=seller,
            client=client,
            metrics=core_metrics,
        )
    finally:
        await client.aclose()
