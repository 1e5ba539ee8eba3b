"""ACK / NACK bodies and reading the other side's answer."""

from __future__ import annotations

from typing import Any

import pytest
from rsf_core.acks import ack, nack, nack_from_error, parse_ack
from rsf_core.errors import BusinessRuleViolation, NotFound


def test_ack_and_nack_shapes() -> None:
    assert ack() == {"message": {"ack": {"status": "ACK"}}}
    assert nack(70030, "no participant") == {
        "message": {"ack": {"status": "NACK"}},
        "error": {"code": "70030", "message": "no participant"},
    }
    assert nack("70002", "bad", "/context/action")["error"]["path"] == "/context/action"


def test_parse_ack_reads_an_ack() -> None:
    result = parse_ack(ack())
    assert result.acked
    assert result.error_code is None


def test_parse_nack_keeps_code_message_and_path() -> None:
    result = parse_ack(nack("70002", "bad field", "/message/orders/0/id"))
    assert not result.acked
    assert (result.error_code, result.error_message, result.error_path) == (
        "70002",
        "bad field",
        "/message/orders/0/id",
    )
    assert result.error_text == "70002: bad field"


@pytest.mark.parametrize(
    "body",
    [
        None,
        "ACK",
        [],
        {},
        {"message": {}},
        {"message": {"ack": {"status": "ack"}}},
        {"message": {"ack": {"status": "ACK"}}, "error": {"code": "70000", "message": "x"}},
    ],
)
def test_anything_but_a_clean_ack_is_a_nack(body: Any) -> None:
    result = parse_ack(body)
    assert not result.acked
    assert result.error_text


def test_domain_errors_map_to_business_rule_nacks() -> None:
    assert nack_from_error(NotFound("no participant for order 7"))["error"] == {
        "code": "70030",
        "message": "no participant for order 7",
    }
    assert nack_from_error(BusinessRuleViolation("amounts disagree"))["error"]["code"] == "70030"


def test_unexpected_errors_do_not_leak_details() -> None:
    body = nack_from_error(RuntimeError("connection string mongodb://user:pw@host"))
    assert body["error"] == {"code": "70000", "message": "Internal error"}
