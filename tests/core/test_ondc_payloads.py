"""Payload builders: the messages' shape (schema-valid), and every rule they enforce."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from beanie import PydanticObjectId
from rsf_core.enums import ReconStatus, Role, SettlementStatus
from rsf_core.errors import BusinessRuleViolation, NotFound, ValidationFailed
from rsf_core.models import (
    Order,
    Participant,
    ProviderDetail,
    Quote,
    ReconBreakdown,
    Reconciliation,
    Settlement,
)
from rsf_core.payloads import (
    MiscItem,
    OnReconAnswer,
    ReconRequest,
    SettlementAgency,
    build_on_recon,
    build_recon,
    build_report,
    build_settle_misc,
    build_settle_nil,
    build_settle_np_np,
    iso_timestamp,
)
from rsf_core.validation import validate_message

pytestmark = pytest.mark.usefixtures("beanie_db")

AGENCY = SettlementAgency("sa.example.com", "https://sa.example.com")
NOW = datetime(2025, 8, 19, 6, 4, 45, 46_789, tzinfo=UTC)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def participant() -> Participant:
    return Participant(
        id=PydanticObjectId(),
        title="Buyer NP",
        role=Role.BAP,
        subscriber_url="https://buyer.example.com/api",
        domain="ONDC:RET10",
        provider_details=[
            ProviderDetail(
                provider_name="Fresh Farms",
                provider_id="P1",
                account_number="001122334455",
                ifsc_code="EXMP0001234",
                bank_name="Example Bank",
            )
        ],
    )


def settlement(owner: Participant, order_id: str = "50333", **changes: Any) -> Settlement:
    fields: dict[str, Any] = {
        "settlement_id": f"s-{order_id}",
        "order_id": order_id,
        "user_id": str(owner.id),
        "collector_id": "buyer.example.com",
        "receiver_id": "seller.example.com",
        "total_order_value": Decimal("211.00"),
        "commission": Decimal("7.08"),
        "collector_settlement": Decimal("7.08"),
        "tcs": Decimal("0"),
        "tds": Decimal("0"),
        "inter_np_settlement": Decimal("203.92"),
    }
    fields.update(changes)
    return Settlement(**fields)


def order(owner: Participant, order_id: str = "50333", **changes: Any) -> Order:
    fields: dict[str, Any] = {
        "order_id": order_id,
        "user_id": str(owner.id),
        "bap_id": "buyer.example.com",
        "bap_uri": "https://buyer.example.com/api",
        "bpp_id": "seller.example.com",
        "bpp_uri": "https://seller.example.com/api",
        "domain": "ONDC:RET10",
        "state": "Completed",
        "quote": Quote(total_order_value=Decimal("211.00")),
    }
    fields.update(changes)
    return Order(**fields)


def test_timestamp_is_utc_with_milliseconds() -> None:
    assert iso_timestamp(NOW) == "2025-08-19T06:04:45.046Z"


def test_np_np_settle_matches_the_spec_example() -> None:
    owner = participant()
    message = build_settle_np_np(
        owner, [settlement(owner)], subscriber_id="buyer.example.com", agency=AGENCY, now=NOW
    )
    validate_message("settle", message)
    context = message["context"]
    assert (context["domain"], context["version"], context["ttl"]) == ("ONDC:NTS10", "2.0.0", "P1D")
    assert (context["bap_id"], context["bap_uri"]) == (
        "buyer.example.com",
        "https://buyer.example.com/api",
    )
    assert (context["bpp_id"], context["bpp_uri"]) == ("sa.example.com", "https://sa.example.com")
    assert UUID.match(context["transaction_id"])
    assert UUID.match(context["message_id"])
    assert context["timestamp"] == "2025-08-19T06:04:45.046Z"
    assert message["message"]["collector_app_id"] == "buyer.example.com"
    assert message["message"]["receiver_app_id"] == "seller.example.com"
    assert message["message"]["settlement"]["orders"] == [
        {
            "id": "50333",
            "inter_participant": {"amount": {"currency": "INR", "value": "203.92"}},
            "collector": {"amount": {"currency": "INR", "value": "7.08"}},
        }
    ]


def test_every_message_gets_fresh_ids() -> None:
    owner = participant()
    first = build_settle_nil(owner, subscriber_id="buyer.example.com", agency=AGENCY)
    second = build_settle_nil(owner, subscriber_id="buyer.example.com", agency=AGENCY)
    assert first["context"]["message_id"] != second["context"]["message_id"]
    validate_message("settle", first)
    assert "orders" not in first["message"]["settlement"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": SettlementStatus.PENDING}, "PENDING"),
        ({"status": SettlementStatus.SETTLED}, "SETTLED"),
        ({"status": SettlementStatus.IN_RECON}, "IN_RECON"),
        ({"receiver_id": "buyer.example.com"}, "same app"),
        ({"inter_np_settlement": Decimal("-1.00")}, "negative"),
        ({"collector_settlement": Decimal("-0.01")}, "negative"),
    ],
)
def test_settle_rules(changes: dict[str, Any], message: str) -> None:
    owner = participant()
    with pytest.raises(BusinessRuleViolation, match=message):
        build_settle_np_np(owner, [settlement(owner, **changes)], subscriber_id="b", agency=AGENCY)


def test_a_not_settled_settlement_may_be_sent_again() -> None:
    owner = participant()
    build_settle_np_np(
        owner,
        [settlement(owner, status=SettlementStatus.NOT_SETTLED)],
        subscriber_id="b",
        agency=AGENCY,
    )


def test_one_collector_receiver_pair_per_settle() -> None:
    owner = participant()
    mixed = [settlement(owner, "1"), settlement(owner, "2", receiver_id="other.example.com")]
    with pytest.raises(BusinessRuleViolation, match="one \\(collector, receiver\\) pair"):
        build_settle_np_np(owner, mixed, subscriber_id="b", agency=AGENCY)


def test_someone_elses_or_repeated_or_no_settlement_is_refused() -> None:
    owner = participant()
    with pytest.raises(NotFound):
        build_settle_np_np(
            owner, [settlement(owner, user_id="someone-else")], subscriber_id="b", agency=AGENCY
        )
    with pytest.raises(ValidationFailed, match="twice"):
        build_settle_np_np(
            owner, [settlement(owner), settlement(owner)], subscriber_id="b", agency=AGENCY
        )
    with pytest.raises(ValidationFailed, match="at least one"):
        build_settle_np_np(owner, [], subscriber_id="b", agency=AGENCY)


def test_misc_settle_pays_providers_from_their_bank_details() -> None:
    owner = participant()
    message = build_settle_misc(
        owner,
        [MiscItem("P1", Decimal("120"), Decimal("10.5")), MiscItem(self_amount=Decimal("3"))],
        subscriber_id="buyer.example.com",
        agency=AGENCY,
    )
    validate_message("settle", message)
    first, second = message["message"]["settlement"]["orders"]
    assert first["provider"] == {
        "id": "P1",
        "name": "Fresh Farms",
        "bank_details": {"account_no": "001122334455", "ifsc_code": "EXMP0001234"},
        "amount": {"currency": "INR", "value": "120.00"},
    }
    assert first["self"] == {"amount": {"currency": "INR", "value": "10.50"}}
    assert second == {"self": {"amount": {"currency": "INR", "value": "3.00"}}}
    assert message["message"]["settlement"]["type"] == "MISC"


def test_misc_rules() -> None:
    owner = participant()
    with pytest.raises(NotFound, match="bank details"):
        build_settle_misc(owner, [MiscItem("P9", Decimal("1"))], subscriber_id="b", agency=AGENCY)
    with pytest.raises(ValidationFailed, match="neither"):
        build_settle_misc(owner, [MiscItem("P1", Decimal("0"))], subscriber_id="b", agency=AGENCY)
    with pytest.raises(BusinessRuleViolation, match="negative"):
        build_settle_misc(
            owner, [MiscItem(self_amount=Decimal("-2"))], subscriber_id="b", agency=AGENCY
        )


def test_recon_carries_the_settlement_figures_and_goes_to_the_order_parties() -> None:
    owner = participant()
    message = build_recon(
        owner,
        [
            (
                order(owner),
                settlement(owner, status=SettlementStatus.NOT_SETTLED),
                None,
                ReconRequest("50333", payment_id="pay-1"),
            )
        ],
        now=NOW,
    )
    validate_message("recon", message)
    assert message["context"]["bpp_uri"] == "https://seller.example.com/api"
    (entry,) = message["message"]["orders"]
    assert entry["amount"] == {"currency": "INR", "value": "211.00"}
    claim = entry["settlements"][0]
    assert claim["status"] == "NOT_SETTLED"
    assert claim["payment_id"] == "pay-1"
    assert claim["amount"]["value"] == "203.92"
    assert claim["commission"]["value"] == "7.08"


@pytest.mark.parametrize(
    "status",
    [
        ReconStatus.SENT_PENDING,
        ReconStatus.RECEIVED_PENDING,
        ReconStatus.SENT_ACCEPTED,
        ReconStatus.RECEIVED_ACCEPTED,
    ],
)
def test_recon_is_blocked_while_one_is_pending_or_accepted(status: ReconStatus) -> None:
    owner = participant()
    open_recon = Reconciliation(
        user_id=str(owner.id),
        order_id="50333",
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        recon_status=status,
    )
    with pytest.raises(BusinessRuleViolation, match=status.value):
        build_recon(owner, [(order(owner), settlement(owner), open_recon, ReconRequest("50333"))])


def received_recon(owner: Participant) -> tuple[dict[str, Any], dict[str, Reconciliation]]:
    message = {
        "context": {
            "bap_id": "buyer.example.com",
            "bap_uri": "https://buyer.example.com/api",
            "bpp_id": "seller.example.com",
            "bpp_uri": "https://seller.example.com/api",
            "transaction_id": "t-1",
            "message_id": "m-1",
        },
        "message": {"orders": [{"id": "50333", "amount": {"currency": "INR", "value": "211.00"}}]},
    }
    recon = Reconciliation(
        user_id=str(owner.id),
        order_id="50333",
        collector_id="buyer.example.com",
        receiver_id="seller.example.com",
        settlement_id="s-1",
        recon_status=ReconStatus.RECEIVED_PENDING,
        recon_breakdown=ReconBreakdown(
            amount=Decimal("203.92"),
            commission=Decimal("7.08"),
            withholding_amount=Decimal("0"),
            tcs=Decimal("2"),
            tds=Decimal("2"),
        ),
    )
    return message, {"50333": recon}


def test_on_recon_without_accord_carries_counter_values_and_diffs() -> None:
    message, recons = received_recon(participant())
    counter = ReconBreakdown(
        amount=Decimal("200"),
        commission=Decimal("7.08"),
        withholding_amount=Decimal("0"),
        tcs=Decimal("2.5"),
        tds=Decimal("1.75"),
    )
    answer = build_on_recon(message, recons, [OnReconAnswer("50333", False, figures=counter)])
    validate_message("on_recon", answer)
    assert (answer["context"]["transaction_id"], answer["context"]["message_id"]) == ("t-1", "m-1")
    assert answer["context"]["action"] == "on_recon"
    settlement_entry = answer["message"]["orders"][0]["settlements"][0]
    assert settlement_entry["amount"] == {
        "currency": "INR",
        "value": "200.00",
        "diff_value": "3.92",
    }
    assert settlement_entry["tcs"] == {"currency": "INR", "value": "2.50", "diff_value": "0.50"}
    assert settlement_entry["tds"] == {"currency": "INR", "value": "1.75", "diff_value": "0.25"}
    assert settlement_entry["commission"]["diff_value"] == "0.00"


def test_on_recon_with_accord_repeats_the_figures_and_needs_a_due_date() -> None:
    message, recons = received_recon(participant())
    with pytest.raises(ValidationFailed, match="due_date"):
        build_on_recon(message, recons, [OnReconAnswer("50333", True)])
    answer = build_on_recon(
        message, recons, [OnReconAnswer("50333", True, due_date=datetime(2025, 9, 1, tzinfo=UTC))]
    )
    validate_message("on_recon", answer)
    entry = answer["message"]["orders"][0]["settlements"][0]
    assert entry["due_date"] == "2025-09-01T00:00:00.000Z"
    assert entry["amount"] == {"currency": "INR", "value": "203.92"}


def test_on_recon_must_answer_every_order_of_the_recon() -> None:
    message, recons = received_recon(participant())
    with pytest.raises(ValidationFailed, match="not answered: 50333"):
        build_on_recon(message, recons, [OnReconAnswer("OTHER", True, due_date=NOW)])
    with pytest.raises(ValidationFailed, match="counter figures"):
        build_on_recon(message, recons, [OnReconAnswer("50333", False)])


def test_report_refers_to_the_settle() -> None:
    report = build_report(
        participant(),
        ref_transaction_id="t-1",
        ref_message_id="m-1",
        subscriber_id="buyer.example.com",
        agency=AGENCY,
    )
    validate_message("report", report)
    assert report["message"] == {"ref_transaction_id": "t-1", "ref_message_id": "m-1"}
