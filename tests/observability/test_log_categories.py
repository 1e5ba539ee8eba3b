"""The guide's audit, business and system log categories as JSON lines."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from rsf_observability.log_categories import audit_log, business_log, system_log
from rsf_observability.log_format import JsonFormatter
from rsf_observability.logger import get_logger

from tests.support.log_capture import capture_logs


def only_line(records: Any) -> dict[str, Any]:
    assert len(records.records) == 1
    line: dict[str, Any] = json.loads(JsonFormatter().format(records.records[0]))
    return line


def test_audit_log_has_the_documented_fields() -> None:
    with capture_logs("rsf") as records:
        audit_log(
            get_logger("Auth"),
            "user_authentication",
            user="user_12345",
            action="login_success",
            ip_address="192.168.1.100",
            user_agent="Mozilla/5.0...",
        )
    line = only_line(records)
    assert line["type"] == "audit"
    assert line["event"] == "user_authentication"
    assert line["user"] == "user_12345"
    assert line["action"] == "login_success"
    assert line["ipAddress"] == "192.168.1.100"
    assert line["userAgent"] == "Mozilla/5.0..."
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["timestamp"])
    assert line["level"] == "info"


def test_audit_log_leaves_out_unknown_fields_and_keeps_extra_ones() -> None:
    with capture_logs("rsf") as records:
        audit_log(get_logger(), "token_revoked", user="u1", reason="expired")
    line = only_line(records)
    assert "ipAddress" not in line
    assert "userAgent" not in line
    assert line["reason"] == "expired"


def test_business_log_has_the_documented_fields() -> None:
    with capture_logs("rsf") as records:
        business_log(
            get_logger("Settlement"),
            "settlement_processing",
            "validation_complete",
            orderId="order_67890",
            validationResult="passed",
            nextStage="payment_initiation",
        )
    line = only_line(records)
    assert {k: line[k] for k in ("type", "workflow", "stage", "orderId", "nextStage")} == {
        "type": "business",
        "workflow": "settlement_processing",
        "stage": "validation_complete",
        "orderId": "order_67890",
        "nextStage": "payment_initiation",
    }
    assert line["validationResult"] == "passed"


def test_system_log_with_a_plain_stdlib_logger_and_level() -> None:
    logger = logging.getLogger("rsf.system")
    with capture_logs("rsf.system") as records:
        system_log(
            logger,
            "database",
            "connection_restored",
            level=logging.WARNING,
            dbHost="mongodb://localhost:27017",
            downtime="45s",
        )
    line = only_line(records)
    assert line["type"] == "system"
    assert line["component"] == "database"
    assert line["event"] == "connection_restored"
    assert line["dbHost"] == "mongodb://localhost:27017"
    assert line["downtime"] == "45s"
    assert line["level"] == "warn"
    assert records.records[0].funcName == "test_system_log_with_a_plain_stdlib_logger_and_level"


def test_category_record_points_at_the_caller() -> None:
    with capture_logs("rsf") as records:
        business_log(get_logger(), "w", "s")
    assert records.records[0].funcName == "test_category_record_points_at_the_caller"
