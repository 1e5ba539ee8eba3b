"""The development and JSON line formats, fed with real LogRecords."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging
import re
import sys
import time
from collections import OrderedDict, defaultdict
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from typing import Any, NamedTuple
from uuid import UUID

import pytest
from pydantic import BaseModel
from rsf_observability import context
from rsf_observability.log_enrichment import install_record_factory
from rsf_observability.log_format import DevFormatter, JsonFormatter

DEV_TIMESTAMP = r"\d{4}-\d{2}-\d{2} (0[1-9]|1[0-2]):[0-5]\d:[0-5]\d\.\d{3} (AM|PM)"
ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"


def make_record(
    msg: str = "Settlement generated",
    *,
    level: int = logging.INFO,
    args: tuple[Any, ...] = (),
    exc_info: Any = None,
    name: str = "rsf.test",
    **extra: Any,
) -> logging.LogRecord:
    """A record made the way ``Logger.log(..., extra=...)`` makes it (through the factory)."""
    install_record_factory()
    logger = logging.getLogger(name)
    return logger.makeRecord(name, level, __file__, 1, msg, args, exc_info, extra=extra or None)


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@dataclasses.dataclass
class Money:
    amount: Decimal
    currency: str


class Order(BaseModel):
    order_id: str
    placed: dt.datetime


class Weird:
    def __repr__(self) -> str:
        return "<Weird>"


class Hostile:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


# --- development format ------------------------------------------------------------------


def test_dev_format_layout_separator_timestamp_scope_fields() -> None:
    record = make_record(
        scope="SettlementService", settlementId="s-1", totalAmount=1500.5, ordersCount=25
    )
    lines = DevFormatter(colors=False).format(record).split("\n")

    assert lines[0] == "----------"
    assert re.fullmatch(DEV_TIMESTAMP + r" Settlement generated", lines[1])
    assert lines[2] == "scope: SettlementService"
    assert lines[3:] == ["settlementId: s-1", "totalAmount: 1500.5", "ordersCount: 25"]


def test_dev_timestamp_is_local_12_hour_clock() -> None:
    record = make_record()
    record.created = time.mktime((2024, 1, 15, 22, 30, 45, 0, 0, -1)) + 0.123
    headline = DevFormatter(colors=False).format(record).split("\n")[1]
    assert headline == "2024-01-15 10:30:45.123 PM Settlement generated"
    record.created = time.mktime((2024, 1, 15, 0, 5, 0, 0, 0, -1))
    assert (
        DevFormatter(colors=False)
        .format(record)
        .split("\n")[1]
        .startswith("2024-01-15 12:05:00.000 AM")
    )


def test_dev_format_without_scope_has_no_scope_line() -> None:
    lines = DevFormatter(colors=False).format(make_record(orderId="o-1")).split("\n")
    assert lines[2:] == ["orderId: o-1"]


def test_dev_format_pretty_prints_objects() -> None:
    record = make_record(query={"user_id": "user-123", "status": ["READY", "DONE"]})
    text = DevFormatter(colors=False).format(record)
    block = text.split("\n", 2)[2]
    assert block.startswith("query: {\n")
    assert json.loads(block.removeprefix("query: ")) == {
        "user_id": "user-123",
        "status": ["READY", "DONE"],
    }
    assert '\n  "user_id": "user-123",' in block


def test_dev_format_stack_trace_comes_last() -> None:
    try:
        raise ValueError("settlement failed")
    except ValueError:
        record = make_record("Settlement processing failed", exc_info=sys.exc_info(), orderId="o-1")
    lines = DevFormatter(colors=False).format(record).split("\n")
    field_index = lines.index("orderId: o-1")
    assert lines[field_index + 1] == "Traceback (most recent call last):"
    assert lines[-1] == "ValueError: settlement failed"


def test_dev_format_stack_field_of_the_guide_is_printed_last() -> None:
    record = make_record("failed", stack="Error: x\n    at f (a.js:1)", orderId="o-1")
    lines = DevFormatter(colors=False).format(record).split("\n")
    assert lines[-3:] == ["orderId: o-1", "Error: x", "    at f (a.js:1)"]


def test_dev_format_colors_only_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    record = make_record(scope="Svc")
    plain = DevFormatter(stream=io.StringIO()).format(record)
    colored = DevFormatter(stream=TTY()).format(record)
    assert "\x1b[" not in plain
    assert "\x1b[36mscope: Svc\x1b[0m" in colored
    assert "\x1b[32m" in colored  # info is green, as winston colors it


def test_dev_format_no_color_env_wins_over_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    text = DevFormatter(stream=TTY()).format(make_record(scope="Svc"))
    assert "\x1b" not in text


def test_dev_format_escapes_control_characters_in_message_and_values() -> None:
    record = make_record(
        "login\r\n2024-01-01 FAKE admin logged in\x1b[2J",
        scope="a\nb",
        userAgent="curl\r\nX-Forged: 1\x1b]0;title\x07",
        body={"note": "x\ny\x1b[31m"},
    )
    text = DevFormatter(colors=False).format(record)
    lines = text.split("\n")
    assert lines[1].endswith(r"login\r\n2024-01-01 FAKE admin logged in\x1b[2J")
    assert lines[2] == r"scope: a\nb"
    assert r"userAgent: curl\r\nX-Forged: 1\x1b]0;title\x07" in lines
    assert "\x1b" not in text
    assert "\r" not in text
    assert not any(line.startswith("X-Forged") or "FAKE" in line[:5] for line in lines)


def test_dev_format_redacts_secret_fields() -> None:
    record = make_record(headers={"authorization": "Bearer abc", "accept": "*/*"}, password="pw")
    text = DevFormatter(colors=False, redact_keys=["authorization", "password"]).format(record)
    assert "Bearer abc" not in text
    assert "pw" not in text.split("password: ")[1]
    assert "[REDACTED]" in text


# --- JSON format ---------------------------------------------------------------------------


def json_line(record: logging.LogRecord, **options: Any) -> dict[str, Any]:
    text = JsonFormatter(service="rsf-utility", environment="production", **options).format(record)
    assert "\n" not in text
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def test_json_line_schema() -> None:
    token = context.correlation_id.set("req_1704192645123_abc123def")
    try:
        record = make_record(scope="SettlementService", orderId="order_67890", duration=1250)
    finally:
        context.correlation_id.reset(token)
    line = json_line(record)

    assert list(line) == [
        "timestamp",
        "level",
        "message",
        "logger",
        "service",
        "environment",
        "correlationId",
        "scope",
        "orderId",
        "duration",
    ]
    assert re.fullmatch(ISO_TIMESTAMP, line["timestamp"])
    assert line["level"] == "info"
    assert line["message"] == "Settlement generated"
    assert line["logger"] == "rsf.test"
    assert line["service"] == "rsf-utility"
    assert line["environment"] == "production"
    assert line["correlationId"] == "req_1704192645123_abc123def"
    assert line["scope"] == "SettlementService"
    assert line["orderId"] == "order_67890"
    assert line["duration"] == 1250


def test_json_timestamp_is_utc_with_milliseconds() -> None:
    record = make_record()
    record.created = 1705314645.123456
    record.msecs = 123.456
    assert json_line(record)["timestamp"] == "2024-01-15T10:30:45.123Z"


@pytest.mark.parametrize(
    ("level", "name"),
    [
        (logging.DEBUG, "debug"),
        (logging.INFO, "info"),
        (logging.WARNING, "warn"),
        (logging.ERROR, "error"),
        (logging.CRITICAL, "error"),
    ],
)
def test_json_level_uses_the_guide_names(level: int, name: str) -> None:
    assert json_line(make_record(level=level))["level"] == name


def test_json_trace_and_span_ids_only_when_a_span_is_active() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    assert "trace_id" not in json_line(make_record())
    with tracer.start_as_current_span("work") as span:
        line = json_line(make_record())
    ctx = span.get_span_context()
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")


def test_json_correlation_falls_back_to_context_without_the_factory() -> None:
    record = logging.LogRecord("plain", logging.INFO, __file__, 1, "hi", (), None)
    token = context.correlation_id.set("req_fallback")
    try:
        line = json_line(record)
    finally:
        context.correlation_id.reset(token)
    assert line["correlationId"] == "req_fallback"


def test_json_exception_becomes_stack() -> None:
    try:
        raise KeyError("missing")
    except KeyError:
        line = json_line(make_record("lookup failed", level=logging.ERROR, exc_info=sys.exc_info()))
    assert line["stack"].startswith("Traceback (most recent call last):")
    assert line["stack"].endswith("KeyError: 'missing'")
    assert list(line)[-1] == "stack"


def test_any_value_serialises() -> None:
    class Color:
        pass

    cyclic: list[Any] = []
    cyclic.append(cyclic)
    record = make_record(
        when=dt.datetime(2024, 1, 15, 10, 30, tzinfo=dt.UTC),
        day=dt.date(2024, 1, 15),
        amount=Decimal("1500.50"),
        raw=b"\x00\xffbytes",
        tags={"b", "a"},
        error=ValueError("bad"),
        money=Money(Decimal("1.50"), "INR"),
        order=Order(order_id="o-1", placed=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
        thing=Weird(),
        hostile=Hostile(),
        tuple_keys={(1, 2): "x"},
        nan=float("nan"),
        cyclic=cyclic,
        klass=Color,
    )
    line = json_line(record)
    assert line["when"] == "2024-01-15T10:30:00+00:00"
    assert line["day"] == "2024-01-15"
    assert line["amount"] == "1500.50"
    assert line["raw"] == "\x00\\xffbytes"
    assert line["tags"] == ["a", "b"]
    assert line["error"] == "ValueError('bad')"
    assert line["money"] == {"amount": "1.50", "currency": "INR"}
    assert line["order"] == {"order_id": "o-1", "placed": "2024-01-01T00:00:00Z"}
    assert line["thing"] == "<Weird>"
    assert line["hostile"] == "<unrepresentable Hostile>"
    assert line["tuple_keys"] == {"(1, 2)": "x"}
    assert line["nan"] == "nan"
    assert line["cyclic"] == ["[CIRCULAR]"]
    assert "Color" in line["klass"]


def test_broken_percent_format_still_logs() -> None:
    line = json_line(make_record("total %d of %s", args=("x",)))
    assert line["message"].startswith("total %d of %s")


def test_json_escapes_control_characters() -> None:
    record = make_record("a\r\nb", userAgent="x\x1b[31m\x9b\u2028y")
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "\r" not in text
    assert "\x1b" not in text
    assert "\x9b" not in text
    assert "\u2028" not in text
    line = json.loads(text)
    assert line["message"] == "a\r\nb"
    assert line["userAgent"] == "x\x1b[31m\x9b\u2028y"


def test_extra_colliding_with_a_core_key_is_renamed() -> None:
    line = json_line(make_record(level_hint="x", service="other", timestamp="yesterday"))
    assert line["service"] == "rsf-utility"
    assert line["field_service"] == "other"
    assert line["field_timestamp"] == "yesterday"
    assert line["level_hint"] == "x"


def test_json_redacts_secret_keys_at_any_depth() -> None:
    record = make_record(
        headers={"Authorization": "Bearer t", "accept": "*/*"},
        payment={"account_number": "123", "bank": "X"},
    )
    line = json_line(record, redact_keys=["authorization", "account_number"])
    assert line["headers"] == {"Authorization": "[REDACTED]", "accept": "*/*"}
    assert line["payment"] == {"account_number": "[REDACTED]", "bank": "X"}


def test_plain_stdlib_logger_through_json_formatter() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(service="svc", environment="staging"))
    logger = logging.getLogger("plain.stdlib.json")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.warning("disk at %d%%", 91, extra={"mount": "/data"})
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = json.loads(stream.getvalue())
    assert line["message"] == "disk at 91%"
    assert line["level"] == "warn"
    assert line["mount"] == "/data"
    assert line["scope"] is None


def test_uvicorn_color_message_is_not_an_extra_field() -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Finished server process [%d]", (42,), None
    )
    record.color_message = "Finished server process [\x1b[36m%d\x1b[0m]"
    line = json.loads(JsonFormatter(service="rsf-utility", environment="test").format(record))
    assert line["message"] == "Finished server process [42]"
    assert "color_message" not in line
    dev = DevFormatter(colors=False).format(record)
    assert "color_message" not in dev


# --- the fused default pipeline ------------------------------------------------------------


def _records_of_every_shape() -> list[logging.LogRecord]:
    from opentelemetry.sdk.trace import TracerProvider

    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    tracer = TracerProvider().get_tracer("test")
    records = [
        make_record(),
        make_record("total %d", args=(3,), scope="SettlementService", orderId="o-1"),
        make_record(
            "Outgoing response",
            name="rsf.access",
            method="GET",
            statusCode=200,
            headers={"authorization": "Bearer t", "accept": "*/*"},
            body={"password": "x", "items": [{"api_key": "k"}, 1, None]},
        ),
        make_record(service="other", timestamp="yesterday", field_service="again"),
        make_record(stack="a stack passed as a field"),
        make_record(stack={"token": "t", "frames": [1]}),
        make_record("failed", level=logging.ERROR, exc_info=exc_info, stack="ignored"),
        make_record(scope={"api_key": "k"}, Secret="s", **{"x-api-key": "h"}),
        make_record(amount=Decimal("1.5"), when=dt.datetime(2024, 1, 1, tzinfo=dt.UTC)),
    ]
    with_stack_info = make_record()
    with_stack_info.stack_info = "Stack (most recent call last):\n  here"
    records.append(with_stack_info)
    with_text = make_record()
    with_text.exc_text = "Traceback: cached text"
    records.append(with_text)
    odd_key = make_record()
    odd_key.__dict__[42] = "a non-string attribute"
    records.append(odd_key)
    token = context.correlation_id.set("req_fused")
    try:
        with tracer.start_as_current_span("work"):
            records.append(make_record(password="p"))
    finally:
        context.correlation_id.reset(token)
    records.append(logging.LogRecord("plain", logging.INFO, __file__, 1, "no factory", (), None))
    return records


@pytest.mark.parametrize(
    "redact_keys",
    [None, [], ["authorization", "password", "api_key", "token", "secret", "x-api-key"]],
)
def test_json_default_pipeline_fast_path_gives_the_processors_result(
    redact_keys: list[str] | None,
) -> None:
    from rsf_observability.log_format import json_processors, run_processors

    formatter = JsonFormatter(service="svc", environment="test", redact_keys=redact_keys)
    processors = json_processors("svc", "test", redact_keys)
    for record in _records_of_every_shape():
        fast = formatter.event(record)
        slow = run_processors(processors, record)
        assert fast == slow
        assert list(fast) == list(slow)


def test_json_fast_path_redacts_core_keys_when_they_are_secret() -> None:
    formatter = JsonFormatter(redact_keys=["message", "scope"])
    line = json.loads(formatter.format(make_record("secret text", scope="S", other="o")))
    assert line["message"] == "[REDACTED]"
    assert line["scope"] == "[REDACTED]"
    assert line["other"] == "o"


def test_json_formatter_follows_processors_changed_after_construction() -> None:
    formatter = JsonFormatter(service="svc", environment="test")

    def add_host(record: logging.LogRecord, event: dict[str, Any]) -> dict[str, Any]:
        event["host"] = "h-1"
        return event

    formatter.processors.append(add_host)
    assert json.loads(formatter.format(make_record()))["host"] == "h-1"
    formatter.processors[:] = [p for p in formatter.processors if p is not add_host][:3]
    assert list(json.loads(formatter.format(make_record()))) == ["timestamp", "level", "message"]


# --- orjson writes what the json module would ----------------------------------------------


def _json_module_line(value: Any) -> str:
    """The line as the json module alone writes it (the formatter's path before orjson)."""
    from rsf_observability.log_format import json_default, to_jsonable

    try:
        return json.dumps(
            value,
            default=json_default,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError, RecursionError):
        return json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))


class Level(Enum):
    LOW = 1.5
    ODD = float("nan")


class Code(IntEnum):
    OK = 200


class Tag(StrEnum):
    A = "a"


class Ratio(float):
    pass


class Pair(NamedTuple):
    left: int
    right: float


@dataclasses.dataclass
class Reading:
    value: float
    when: dt.datetime
    pair: Pair


class Sample(BaseModel):
    value: float


def _value_zoo() -> list[Any]:
    nested: Any = "leaf"
    for _ in range(300):
        nested = {"n": nested}
    cyclic: dict[str, Any] = {}
    cyclic["self"] = cyclic
    when = dt.datetime(2024, 1, 15, 10, 30, 45, 123456, tzinfo=dt.UTC)
    return [
        {"message": "plain", "count": 3, "ratio": 0.1, "none": None, "flag": True},
        {"big": 10**30, "neg": -(2**63), "u64": 2**64 - 1, "past_u64": 2**64},
        {"floats": [1e16, 1e-7, -0.0, 123456789.123456789, 5e-324, 1.7976931348623157e308]},
        {"nan": float("nan")},
        {"deep": [{"inf": float("inf")}]},
        {"ninf": -float("inf"), "ok": 1},
        {"enum": Level.LOW, "int_enum": Code.OK, "str_enum": Tag.A},
        {"nan_enum": Level.ODD},
        {"subclass": Ratio(2.5), "nan_subclass": Ratio("nan")},
        {"pair": Pair(1, 2.5), "tuple": (1, "two", None)},
        {"reading": Reading(1.25, when, Pair(3, 4.0))},
        {"reading_nan": Reading(float("nan"), when, Pair(3, 4.0))},
        {"when": when, "naive": dt.datetime(2024, 1, 1), "day": dt.date(2024, 1, 2)},
        {"time": dt.time(10, 30, tzinfo=dt.UTC), "delta": dt.timedelta(seconds=1.5)},
        {"money": Money(Decimal("1.50"), "INR"), "uuid": UUID(int=7), "raw": b"\x00\xff"},
        {"model": Order(order_id="o-1", placed=when), "sample_nan": Sample(value=float("nan"))},
        {"set": {3, 1, 2}, "frozen": frozenset({"b", "a"}), "weird": Weird(), "hostile": Hostile()},
        {1: "int key", None: "none key", 2.5: "float key"},
        {True: "bool key", False: "other bool key"},
        {(1, 2): "tuple key"},
        {"surrogate": "\ud800"},
        {"controls": "a\r\nb\x1b[31m\x7f\x9b\u2028", "unicode": "naïve ✓ ₹ 😀"},
        {"nested": nested},
        {"cyclic": cyclic},
        {"ordered": OrderedDict([("b", 1), ("a", 2)]), "default": defaultdict(int, {"x": 1})},
        [1, "list at the top", {"k": [None, 2.5]}],
        "a bare string",
    ]


@pytest.mark.parametrize("value", _value_zoo(), ids=lambda v: type(v).__name__)
def test_json_lines_mean_what_the_json_module_writes(value: Any) -> None:
    from rsf_observability.log_format import dumps

    line = dumps(value)
    expected = _json_module_line(value)
    assert "\n" not in line
    if "\ud800" in expected:  # not UTF-8: compared as text
        assert line == expected
        return
    assert json.loads(line) == json.loads(expected)


def test_a_typical_record_line_is_byte_for_byte_the_json_modules() -> None:
    from rsf_observability.log_format import dumps

    formatter = JsonFormatter(service="svc", environment="production", redact_keys=["token"])
    record = make_record(
        "Outgoing response",
        name="rsf.access",
        method="GET",
        path="/ui/orders/u-42",
        statusCode=200,
        processingTime=0.123,
        duration=0.123,
        responseSize=52,
        headers={"content-type": "application/json", "token": "t"},
    )
    event = formatter.event(record)
    assert dumps(event) == _json_module_line(event)


@pytest.mark.parametrize("redact_keys", [None, ["token"]])
@pytest.mark.parametrize("value", _value_zoo(), ids=lambda v: type(v).__name__)
def test_json_record_lines_mean_what_the_json_module_writes(
    value: Any, redact_keys: list[str] | None
) -> None:
    formatter = JsonFormatter(service="svc", environment="test", redact_keys=redact_keys)
    records = [
        make_record(value=value),
        make_record(value=value, ratio=float("nan")),
        make_record(scope=value),
        make_record(stack=value),
    ]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        records.append(make_record(**{f"x_{key}": item for key, item in value.items()}))
    for record in records:
        line = formatter.format(record)
        expected = _json_module_line(formatter.event(record))
        if "\ud800" in expected:
            assert line == expected
        else:
            assert json.loads(line) == json.loads(expected)


def test_json_odd_core_values_are_written_and_redacted_as_the_pipeline_does() -> None:
    from rsf_observability.log_format import json_processors, run_processors

    nan = float("nan")
    formatter = JsonFormatter(service=nan, environment="test", redact_keys=["token"])  # type: ignore[arg-type]
    record = logging.LogRecord(
        {"token": "t", "n": float("inf")},  # type: ignore[arg-type]
        logging.INFO,
        __file__,
        1,
        "odd",
        (),
        None,
    )
    processors = json_processors(nan, "test", ["token"])  # type: ignore[arg-type]
    expected = run_processors(processors, record)
    assert expected["logger"] == {"token": "[REDACTED]", "n": float("inf")}
    assert formatter.event(record) == expected
    line = json.loads(formatter.format(record))
    assert line["service"] == "nan"
    assert line["logger"] == {"token": "[REDACTED]", "n": "inf"}
    plain = JsonFormatter(service="svc", environment="test", redact_keys=["token"])
    line = json.loads(plain.format(record))
    assert line["logger"] == {"token": "[REDACTED]", "n": "inf"}


def test_trace_ids_follow_the_current_span_in_and_out_of_nested_spans() -> None:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")

    def ids() -> tuple[str | None, str | None]:
        line = json_line(make_record())
        return line.get("trace_id"), line.get("span_id")

    def hex_ids(span: trace.Span) -> tuple[str, str]:
        ctx = span.get_span_context()
        return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

    assert ids() == (None, None)
    with tracer.start_as_current_span("outer") as outer:
        assert ids() == hex_ids(outer)
        with tracer.start_as_current_span("inner") as inner:
            assert ids() == ids() == hex_ids(inner)
        assert ids() == hex_ids(outer)
        token = otel_context.attach(otel_context.set_value("other", "value"))
        try:  # another context, the same span
            assert ids() == hex_ids(outer)
        finally:
            otel_context.detach(token)
    assert ids() == (None, None)
