"""JSON Schema validation of ONDC messages: valid fixtures pass, a bad one names its field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from rsf_core.acks import nack_from_error
from rsf_core.validation import SUPPORTED_ACTIONS, SchemaError, load_schema, validate_message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ondc"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def pointer_of(action: str, payload: Any) -> str:
    with pytest.raises(SchemaError) as caught:
        validate_message(action, payload)
    return caught.value.pointer


@pytest.mark.parametrize(
    ("action", "name"),
    [
        ("settle", "nts10_settle_np_np.json"),
        ("settle", "nts10_settle_misc.json"),
        ("settle", "nts10_settle_nil.json"),
        ("on_settle", "nts10_on_settle.json"),
        ("recon", "nts10_recon.json"),
        ("on_recon", "nts10_on_recon_accord.json"),
        ("on_recon", "nts10_on_recon_no_accord.json"),
        ("report", "nts10_report.json"),
        ("on_report", "nts10_on_report.json"),
        ("on_confirm", "retail_on_confirm_flow.json"),
    ],
)
def test_valid_messages_pass(action: str, name: str) -> None:
    validate_message(action, fixture(name))


def test_every_supported_action_has_a_well_formed_schema() -> None:
    for action in SUPPORTED_ACTIONS:
        schema = load_schema(action)
        assert schema["$schema"].endswith("2020-12/schema")


def test_retail_actions_accept_the_order_whatever_else_it_carries() -> None:
    message = fixture("retail_on_confirm_flow.json")
    message["message"]["order"]["x_vendor_extension"] = {"anything": [1, 2, 3]}
    for action in ("on_status", "on_update", "on_cancel"):
        variant = copy.deepcopy(message)
        variant["context"]["action"] = action
        validate_message(action, variant)


def test_missing_field_is_named_by_its_pointer() -> None:
    message = fixture("nts10_settle_np_np.json")
    del message["context"]["transaction_id"]
    assert pointer_of("settle", message) == "/context/transaction_id"


def test_negative_amount_points_into_the_order() -> None:
    message = fixture("nts10_settle_np_np.json")
    message["message"]["settlement"]["orders"][0]["inter_participant"]["amount"]["value"] = "-5.00"
    assert pointer_of("settle", message) == (
        "/message/settlement/orders/0/inter_participant/amount/value"
    )


def test_first_error_is_deterministic_by_document_path() -> None:
    message = fixture("nts10_recon.json")
    settlement = message["message"]["orders"][0]["settlements"][0]
    settlement["tds"]["value"] = "abc"
    settlement["amount"]["currency"] = "USD"
    del message["context"]["bap_uri"]
    # /context/... sorts before /message/...; the same answer on every run.
    for _ in range(3):
        assert pointer_of("recon", message) == "/context/bap_uri"
    message["context"]["bap_uri"] = "https://buyer.example.com/api"
    assert pointer_of("recon", message) == "/message/orders/0/settlements/0/amount/currency"


def test_array_indexes_order_numerically() -> None:
    message = fixture("nts10_recon.json")
    order = message["message"]["orders"][0]
    message["message"]["orders"] = [copy.deepcopy(order) for _ in range(11)]
    message["message"]["orders"][10]["id"] = ""
    message["message"]["orders"][2]["id"] = ""
    assert pointer_of("recon", message) == "/message/orders/2/id"


def test_action_must_agree_with_the_route() -> None:
    message = fixture("nts10_on_settle.json")
    assert pointer_of("recon", message) == "/context/action"


def test_wrong_domain_and_version_are_refused() -> None:
    message = fixture("nts10_on_settle.json")
    message["context"]["version"] = "1.0.0"
    assert pointer_of("on_settle", message) == "/context/version"
    retail = fixture("retail_on_confirm_flow.json")
    retail["context"]["domain"] = "ONDC:NTS10"
    assert pointer_of("on_confirm", retail) == "/context/domain"


def test_unexpected_field_is_named() -> None:
    message = fixture("nts10_settle_np_np.json")
    message["message"]["settlement"]["orders"][0]["bonus"] = {"amount": 1}
    assert pointer_of("settle", message) == "/message/settlement/orders/0/bonus"


def test_np_np_settle_needs_the_collector_and_receiver() -> None:
    message = fixture("nts10_settle_np_np.json")
    del message["message"]["receiver_app_id"]
    assert pointer_of("settle", message) == "/message/receiver_app_id"


def test_on_recon_with_accord_requires_a_due_date() -> None:
    message = fixture("nts10_on_recon_accord.json")
    del message["message"]["orders"][0]["settlements"][0]["due_date"]
    assert pointer_of("on_recon", message) == "/message/orders/0/settlements/0/due_date"


def test_on_settle_may_carry_only_an_error() -> None:
    message = fixture("nts10_on_settle.json")
    del message["message"]
    message["error"] = {"code": "70030", "message": "collector unknown"}
    validate_message("on_settle", message)
    del message["error"]
    assert pointer_of("on_settle", message) == "/message"


def test_not_an_object_at_all() -> None:
    assert pointer_of("on_settle", ["not", "an", "object"]) == ""


def test_unsupported_action_is_a_70002_nack_with_a_pointer() -> None:
    with pytest.raises(SchemaError) as caught:
        validate_message("search", {"context": {}})
    body = nack_from_error(caught.value)
    assert body["error"] == {
        "code": "70002",
        "message": "Unsupported action: search",
        "path": "/context/action",
    }


def test_schema_nack_carries_the_pointer() -> None:
    message = fixture("nts10_on_settle.json")
    message["message"]["settlement"]["orders"][0]["inter_participant"]["status"] = "MAYBE"
    with pytest.raises(SchemaError) as caught:
        validate_message("on_settle", message)
    body = nack_from_error(caught.value)
    pointer = "/message/settlement/orders/0/inter_participant/status"
    assert body["error"]["code"] == "70002"
    assert body["error"]["path"] == pointer
    assert body["error"]["message"].startswith(pointer)
