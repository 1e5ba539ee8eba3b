"""get_logger: the guide's AutomationLogger (scope, bound fields, extras) on stdlib logging."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import pytest
from rsf_observability.log_format import JsonFormatter
from rsf_observability.logger import BoundLogger, get_logger

from tests.support.log_capture import RecordList, capture_logs


def test_scope_names_the_logger_and_is_on_every_record() -> None:
    log = get_logger("SettlementService")
    assert log.name == "rsf.SettlementService"
    assert get_logger().name == "rsf"
    with capture_logs("rsf") as records:
        log.info("Settlement generated", settlementId="settlement-123", totalAmount=1500.5)
    record = records.one("Settlement generated")
    assert record.scope == "SettlementService"  # type: ignore[attr-defined]
    assert record.settlementId == "settlement-123"  # type: ignore[attr-defined]
    assert record.totalAmount == 1500.5  # type: ignore[attr-defined]


def test_bound_fields_are_added_and_bind_returns_a_new_logger() -> None:
    base = get_logger("Recon", participantId="participant-789")
    child = base.bind(orderId="order-456")
    assert child is not base
    assert base.fields == {"participantId": "participant-789"}
    with capture_logs("rsf") as records:
        child.warn("Mismatch", amount=10)
        base.info("Plain")
    mismatch = JsonFormatter().event(records.one("Mismatch"))
    assert mismatch["participantId"] == "participant-789"
    assert mismatch["orderId"] == "order-456"
    assert mismatch["level"] == "warn"
    assert "orderId" not in JsonFormatter().event(records.one("Plain"))


def test_call_fields_override_bound_fields_and_scope() -> None:
    log = get_logger("A", stage="one")
    with capture_logs("rsf") as records:
        log.info("x", stage="two", scope="B")
    event = JsonFormatter().event(records.one("x"))
    assert event["stage"] == "two"
    assert event["scope"] == "B"


def test_field_names_colliding_with_record_attributes_do_not_crash() -> None:
    log = get_logger("Collide", name="bound-name")
    with capture_logs("rsf") as records:
        log.info("collide", message="m", args=[1], levelname="x", msg="y", correlationId="c")
    event = JsonFormatter().event(records.one("collide"))
    assert event["message"] == "collide"
    assert event["field_name"] == "bound-name"
    assert event["field_message"] == "m"
    assert event["field_args"] == [1]
    assert event["field_levelname"] == "x"
    assert event["field_msg"] == "y"
    assert event["field_correlationId"] == "c"


def test_all_level_methods() -> None:
    log = get_logger("Levels")
    with capture_logs("rsf") as records:
        log.debug("d")
        log.info("i")
        log.warning("w")
        log.warn("w2")
        log.error("e")
        log.critical("c")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            log.exception("x")
    levels = [(r.getMessage(), r.levelno) for r in records.records]
    assert levels == [
        ("d", logging.DEBUG),
        ("i", logging.INFO),
        ("w", logging.WARNING),
        ("w2", logging.WARNING),
        ("e", logging.ERROR),
        ("c", logging.CRITICAL),
        ("x", logging.ERROR),
    ]
    assert records.one("x").exc_info is not None


def test_disabled_level_creates_no_record() -> None:
    log = get_logger("Quiet")
    with capture_logs("rsf", level=logging.INFO) as records:
        log.debug("hidden", expensive="x")
    assert records.records == []


def test_caller_location_is_the_application_code() -> None:
    with capture_logs("rsf") as records:
        get_logger("Where").info("here")
    record = records.one("here")
    assert record.funcName == "test_caller_location_is_the_application_code"
    assert record.pathname == __file__


def test_wraps_a_plain_stdlib_logger() -> None:
    log = BoundLogger(logging.getLogger("thirdparty.lib"), scope="Lib", fields={"k": 1})
    with capture_logs("thirdparty.lib") as records:
        log.info("hello %s", "world", extra_field=True)
    record = records.one("hello world")
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "thirdparty.lib"
    assert line["scope"] == "Lib"
    assert line["k"] == 1
    assert line["extra_field"] is True


def _log_here(logger: logging.Logger, **fields: object) -> int:
    from rsf_observability.logger import log_fields

    line = _line_after()
    log_fields(logger, logging.INFO, "Per-request record", dict(fields))
    return line


def _line_after() -> int:
    return sys._getframe(1).f_lineno + 1


def test_log_fields_makes_the_record_logger_info_would() -> None:
    from rsf_observability import context
    from rsf_observability.log_enrichment import install_record_factory

    install_record_factory()
    logger = logging.getLogger("rsf.test.log_fields")
    token = context.correlation_id.set("req_log_fields")
    try:
        with capture_logs("rsf.test.log_fields", level=logging.INFO) as records:
            line = _log_here(logger, method="GET", statusCode=200)
            logger.info("Per-request record", extra={"method": "GET", "statusCode": 200})
    finally:
        context.correlation_id.reset(token)
    fast, stdlib = records.records
    assert fast.pathname == stdlib.pathname == __file__
    assert (fast.funcName, fast.lineno) == ("_log_here", line)
    for record in (fast, stdlib):
        assert record.getMessage() == "Per-request record"
        assert record.method == "GET"  # type: ignore[attr-defined]
        assert record.statusCode == 200  # type: ignore[attr-defined]
        assert record.correlationId == "req_log_fields"  # type: ignore[attr-defined]
    assert JsonFormatter().event(fast).keys() == JsonFormatter().event(stdlib).keys()


def test_log_fields_keeps_levels_filters_and_the_disabled_flag() -> None:
    logger = logging.getLogger("rsf.test.log_fields.gates")
    with capture_logs("rsf.test.log_fields.gates", level=logging.WARNING) as records:
        _log_here(logger, step=1)  # below the level
        logger.setLevel(logging.INFO)
        drop_two = logging.Filter()
        drop_two.filter = lambda record: getattr(record, "step", None) != 2  # type: ignore[method-assign]
        logger.addFilter(drop_two)
        try:
            _log_here(logger, step=2)  # refused by the logger's filter
            _log_here(logger, step=3)
        finally:
            logger.removeFilter(drop_two)
        logger.disabled = True
        _log_here(logger, step=4)
    assert [r.step for r in records.records] == [3]  # type: ignore[attr-defined]


def test_log_fields_refuses_fields_that_overwrite_the_record_like_stdlib() -> None:
    logger = logging.getLogger("rsf.test.log_fields.clash")
    with (
        capture_logs("rsf.test.log_fields.clash", level=logging.INFO),
        pytest.raises(KeyError, match="Attempt to overwrite"),
    ):
        _log_here(logger, lineno=1)


def test_log_fields_honours_switched_off_caller_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logging, "_srcfile", None)
    logger = logging.getLogger("rsf.test.log_fields.nocaller")
    with capture_logs("rsf.test.log_fields.nocaller", level=logging.INFO) as records:
        _log_here(logger)
    (record,) = records.records
    assert (record.pathname, record.lineno, record.funcName) == (
        "(unknown file)",
        0,
        "(unknown function)",
    )


def test_log_fields_refuses_message_and_asctime_like_stdlib() -> None:
    logger = logging.getLogger("rsf.test.log_fields.reserved")
    for name in ("message", "asctime"):
        with (
            capture_logs("rsf.test.log_fields.reserved", level=logging.INFO) as records,
            pytest.raises(KeyError, match=f"Attempt to overwrite '{name}'"),
        ):
            _log_here(logger, ok=1, **{name: "x"})
        assert records.records == []


def test_log_fields_gives_a_custom_logger_class_its_extra() -> None:
    seen: list[dict[str, object] | None] = []

    class Custom(logging.Logger):
        def makeRecord(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
            seen.append(args[8] if len(args) > 8 else kwargs.get("extra"))
            return super().makeRecord(*args, **kwargs)

    logger = Custom("rsf.test.log_fields.custom")
    logger.setLevel(logging.INFO)
    handler = RecordList()
    logger.addHandler(handler)
    _log_here(logger, orderId="o-1")
    assert seen == [{"orderId": "o-1"}]
    assert handler.records[0].orderId == "o-1"  # type: ignore[attr-defined]
