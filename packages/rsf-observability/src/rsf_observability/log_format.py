"""Log line formatters: the guide's development format and one-JSON-object-per-line.

Both are small ``logging.Formatter`` subclasses assembled from *processors*: plain functions
``(record, event) -> event`` that each add one part of the line (structlog style), so an app can
add, drop or reorder parts without subclassing. The formatters never raise: any value
serialises, a broken ``%`` format still yields a line.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import math
import os
import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import PurePath
from typing import IO, Any
from uuid import UUID

import orjson

from rsf_observability import context
from rsf_observability.log_enrichment import current_trace_ids
from rsf_observability.sanitize import (
    LEAF_TYPES,
    REDACTED,
    escape_control,
    is_secret_key,
    normalise_keys,
    redact,
)

EventDict = dict[str, Any]
Processor = Callable[[logging.LogRecord, EventDict], EventDict]

#: Attributes every ``LogRecord`` has (plus those ``Formatter.format`` adds); anything else on a
#: record came from ``extra=`` and is an extra field.
STANDARD_RECORD_ATTRS: frozenset[str] = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "taskName"}

#: Attributes the enrichment (``log_enrichment.install_record_factory``) and ``get_logger``
#: put on records; they have their own keys in a line rather than appearing as extras.
#: ``color_message`` is uvicorn's ANSI-coloured copy of the message, never a field.
ENRICHMENT_ATTRS: frozenset[str] = frozenset(
    {"correlationId", "trace_id", "span_id", "scope", "color_message"}
)

#: Keys of a JSON line that an extra field may not overwrite (it is renamed ``field_<key>``).
CORE_KEYS: frozenset[str] = frozenset(
    {
        "timestamp",
        "level",
        "message",
        "logger",
        "service",
        "environment",
        "correlationId",
        "trace_id",
        "span_id",
        "scope",
        "stack",
    }
)

_MISSING = object()


# --- level names ---------------------------------------------------------------------------


def level_name(levelno: int) -> str:
    """The guide's level names: ``error``, ``warn``, ``info``, ``debug``.

    ``CRITICAL`` counts as ``error`` (the guide has four levels, and Loki's ``level`` label
    stays within them); custom levels fall to the nearest standard level at or below them.
    """
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    return "debug"


_LEVEL_NAMES: dict[int, str] = {
    level: level_name(level)
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
}


# --- timestamps ----------------------------------------------------------------------------


def _split_millis(created: float) -> tuple[int, int]:
    """Whole seconds and milliseconds, via microseconds so float noise (``.123`` stored as
    ``.12299999``) does not turn 123 ms into 122."""
    seconds, micros = divmod(round(created * 1_000_000), 1_000_000)
    return seconds, micros // 1000


# Records come in bursts within the same second: format the seconds part once per second.
# (A tuple is swapped atomically, so threads at worst format the same second twice.)
_iso_cache: tuple[int, str] = (-1, "")


def iso_utc_timestamp(created: float) -> str:
    """``2024-01-15T10:30:45.123Z`` (the guide's structured-log timestamp)."""
    global _iso_cache
    seconds, millis = _split_millis(created)
    cached_second, prefix = _iso_cache
    if cached_second != seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _iso_cache = (seconds, prefix)
    return f"{prefix}.{millis:03d}Z"


def dev_timestamp(created: float) -> str:
    """``2024-01-15 10:30:45.123 AM`` in local time (winston's ``YYYY-MM-DD hh:mm:ss.SSS A``).

    AM/PM is spelled out rather than taken from ``%p``, which depends on the locale.
    """
    seconds, millis = _split_millis(created)
    local = time.localtime(seconds)
    hour12 = local.tm_hour % 12 or 12
    meridiem = "AM" if local.tm_hour < 12 else "PM"
    return (
        f"{local.tm_year:04d}-{local.tm_mon:02d}-{local.tm_mday:02d} "
        f"{hour12:02d}:{local.tm_min:02d}:{local.tm_sec:02d}.{millis:03d} {meridiem}"
    )


# --- making any value serialisable ---------------------------------------------------------


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:  # a __repr__ that raises must not take the logger down
        return f"<unrepresentable {type(value).__name__}>"


def json_default(value: object) -> Any:
    """``json.dumps(default=...)``: a JSON-able stand-in for any value, never raising."""
    try:
        if isinstance(value, _dt.datetime | _dt.date | _dt.time):
            return value.isoformat()
        if isinstance(value, _dt.timedelta):
            return value.total_seconds()
        if isinstance(value, Decimal | UUID | PurePath):
            return str(value)
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).decode("utf-8", errors="backslashreplace")
        if isinstance(value, set | frozenset):
            return sorted(value, key=_safe_repr)
        if isinstance(value, BaseException):
            return _safe_repr(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        model_dump = getattr(value, "model_dump", None)
        if callable(model_dump) and not isinstance(value, type):
            return model_dump(mode="json")
    except Exception:  # noqa: S110 - fall through to repr below
        pass
    return _safe_repr(value)


def to_jsonable(value: Any, _depth: int = 0, _seen: frozenset[int] = frozenset()) -> Any:
    """A deep copy of ``value`` that ``json.dumps`` always accepts.

    The slow path, used only when the fast ``json.dumps`` fails: non-string dict keys,
    cycles, NaN, hostile nesting.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    if _depth > 32 or id(value) in _seen:
        return "[TRUNCATED]" if _depth > 32 else "[CIRCULAR]"
    seen = _seen | {id(value)}
    if isinstance(value, Mapping):
        return {
            (key if isinstance(key, str) else _safe_repr(key)): to_jsonable(item, _depth + 1, seen)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [to_jsonable(item, _depth + 1, seen) for item in value]
    replacement = json_default(value)
    if isinstance(replacement, str):
        return replacement
    return to_jsonable(replacement, _depth + 1, seen)


# JSON escapes C0 controls itself; DEL, C1 controls and the JS line separators are escaped
# here too so that no byte of a line can act as a terminal escape or split it elsewhere.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029]")


# ``json.dumps`` with options builds a new encoder per call; one line's worth of records share
# this one (``encode`` keeps no state between calls, so threads may share it too).
_LINE_ENCODER = json.JSONEncoder(
    default=json_default, ensure_ascii=False, allow_nan=False, separators=(",", ":")
)


def _escape_unsafe(text: str) -> str:
    # The common line is ASCII without DEL: two C scans instead of a regex pass.
    if text.isascii() and "\x7f" not in text:
        return text
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# orjson writes a line in a tenth of the json module's time. Where the two would write a value
# differently, the value goes the json way so a line keeps its meaning: datetimes and
# dataclasses pass through json_default (isoformat, asdict), float and tuple subclasses become
# numbers and arrays (orjson would ask json_default, which answers a repr), and a line holding
# NaN or an infinity (null for orjson, "nan"/"inf" on the json path) is written by json.
# Whatever orjson refuses (non-string keys, ints past 64 bits, cycles, deep nesting, lone
# surrogates) is written by json as before.
_ORJSON_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
_PLAIN: frozenset[type] = frozenset({str, int, bool, type(None)})
_MAX_NESTING = 255  # orjson refuses deeper values itself


def _not_finite(value: Any, _depth: int = 0) -> bool:
    """Whether ``value`` holds a NaN or an infinity where orjson would write it as null."""
    if type(value) in _PLAIN or _depth > _MAX_NESTING:
        return False
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        items: Iterable[Any] = value.values()
    elif isinstance(value, list | tuple):
        items = value
    elif isinstance(value, Enum):
        return _not_finite(value.value, _depth + 1)
    else:  # other objects reach _orjson_default, which checks what it returns
        return False
    for item in items:
        kind = type(item)
        if kind in _PLAIN:
            continue
        if kind is float:
            if not math.isfinite(item):
                return True
        elif _not_finite(item, _depth + 1):
            return True
    return False


def _orjson_default(value: Any) -> Any:
    if isinstance(value, float):
        return float(value)
    if isinstance(value, tuple):
        return list(value)
    replacement = json_default(value)
    if _not_finite(replacement):
        raise TypeError("not finite: the json module writes this value")
    return replacement


def _json_line(value: Any, look: bool = True) -> str:
    """The line of ``value``; ``look=False`` when the caller has seen to NaN and infinities."""
    if not (look and _not_finite(value)):
        try:
            return orjson.dumps(value, default=_orjson_default, option=_ORJSON_OPTIONS).decode()
        except TypeError:  # orjson.JSONEncodeError: a value only the json module writes
            pass
    return _LINE_ENCODER.encode(value)


def dumps(value: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` that never raises and never lets a control character through raw."""
    if indent is None:
        return _dumps_line(value)
    try:
        text = json.dumps(
            value,
            default=json_default,
            ensure_ascii=False,
            allow_nan=False,
            separators=(",", ": "),
            indent=indent,
        )
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(
            to_jsonable(value), ensure_ascii=False, separators=(",", ": "), indent=indent
        )
    return _escape_unsafe(text)


def _dumps_line(value: Any, look: bool = True) -> str:
    try:
        text = _json_line(value, look)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps(to_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    return _escape_unsafe(text)


# --- processors ----------------------------------------------------------------------------


def record_message(record: logging.LogRecord) -> str:
    """``record.getMessage()``, or the raw message and its args when ``%`` formatting fails."""
    try:
        return record.getMessage()
    except Exception:
        return f"{record.msg!s} {_safe_repr(record.args)}"


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The record's ``extra=`` fields: every attribute not standard and not enrichment."""
    return {
        key: value
        for key, value in record.__dict__.items()
        if key not in STANDARD_RECORD_ATTRS and key not in ENRICHMENT_ATTRS
    }


def add_timestamp(record: logging.LogRecord, event: EventDict) -> EventDict:
    event["timestamp"] = iso_utc_timestamp(record.created)
    return event


def add_level(record: logging.LogRecord, event: EventDict) -> EventDict:
    event["level"] = level_name(record.levelno)
    return event


def add_message(record: logging.LogRecord, event: EventDict) -> EventDict:
    event["message"] = record_message(record)
    return event


def add_logger_name(record: logging.LogRecord, event: EventDict) -> EventDict:
    event["logger"] = record.name
    return event


def add_static(**fields: Any) -> Processor:
    """A processor adding fixed fields (``service``, ``environment``) to every line."""

    def _add_static(record: logging.LogRecord, event: EventDict) -> EventDict:
        event.update(fields)
        return event

    return _add_static


def add_correlation(record: logging.LogRecord, event: EventDict) -> EventDict:
    """``correlationId`` always; ``trace_id``/``span_id`` only while a span is active.

    The record factory of ``log_enrichment`` sets these on the producing thread; records made
    before it was installed fall back to the current context.
    """
    cid = getattr(record, "correlationId", _MISSING)
    if cid is _MISSING:
        event["correlationId"] = context.correlation_id.get()
        trace_id, span_id = current_trace_ids()
    else:
        event["correlationId"] = cid
        trace_id, span_id = getattr(record, "trace_id", None), getattr(record, "span_id", None)
    if trace_id:
        event["trace_id"] = trace_id
    if span_id:
        event["span_id"] = span_id
    return event


def add_scope(record: logging.LogRecord, event: EventDict) -> EventDict:
    event["scope"] = getattr(record, "scope", None)
    return event


def add_extras(record: logging.LogRecord, event: EventDict) -> EventDict:
    """Extra fields after the core keys; one that collides with a core key becomes ``field_<key>``.

    An extra called ``stack`` (the guide passes ``stack: error.stack``) is the line's stack
    unless the record carries an exception of its own.
    """
    for key, value in extra_fields(record).items():
        if key == "stack" and not record.exc_info and "stack" not in event:
            event["stack"] = value
        elif key in CORE_KEYS:
            event[f"field_{key}"] = value
        else:
            event[key] = value
    return event


def _format_exc_info(record: logging.LogRecord) -> str | None:
    parts: list[str] = []
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    elif record.exc_text:
        parts.append(record.exc_text)
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts) if parts else None


def add_stack(record: logging.LogRecord, event: EventDict) -> EventDict:
    """``stack``: the formatted exception (and ``stack_info``), last in the line."""
    stack = _format_exc_info(record)
    if stack is not None:
        event.pop("stack", None)
        event["stack"] = stack
    elif "stack" in event:
        event["stack"] = event.pop("stack")
    return event


def redact_secrets(secret_keys: Iterable[str]) -> Processor:
    """A processor replacing secret-keyed fields (at any depth) by ``[REDACTED]``."""
    keys = normalise_keys(secret_keys)

    def _redact_secrets(record: logging.LogRecord, event: EventDict) -> EventDict:
        result: EventDict = redact(event, keys)
        return result

    return _redact_secrets


def run_processors(
    processors: Sequence[Processor], record: logging.LogRecord, event: EventDict | None = None
) -> EventDict:
    result: EventDict = {} if event is None else event
    for processor in processors:
        result = processor(record, result)
    return result


# --- JSON ----------------------------------------------------------------------------------


def json_processors(
    service: str, environment: str, redact_keys: Iterable[str] | None = None
) -> list[Processor]:
    """The default pipeline of :class:`JsonFormatter`; key order is the line's key order."""
    processors: list[Processor] = [
        add_timestamp,
        add_level,
        add_message,
        add_logger_name,
        add_static(service=service, environment=environment),
        add_correlation,
        add_scope,
        add_extras,
        add_stack,
    ]
    if redact_keys:
        processors.append(redact_secrets(redact_keys))
    return processors


_NOT_EXTRA: frozenset[str] = STANDARD_RECORD_ATTRS | ENRICHMENT_ATTRS


_STACK = object()  # the plan's mark for an extra called ``stack``: decided per record
_Step = tuple[Any, Any, bool]  # (record attribute, key in the line or _STACK, secret)
_PLANS_MAX = 256


class _DefaultJsonEvent:
    """:func:`json_processors`' pipeline fused into one pass over the record.

    Every record, the request path's included, goes through the default pipeline; run as nine
    processors plus a redaction copy it cost more than the JSON encoding. This builds the same
    dict (keys, order, values: tested against :func:`run_processors`) in one function. Records
    from one call site have the same attributes in the same order, so which of them are extra
    fields, under which key and whether that key is secret is worked out once per such shape.
    """

    __slots__ = ("_inline", "_plans", "_redact_whole", "_secret_keys", "_static", "_static_suspect")

    def __init__(self, static: Mapping[str, Any], secret_keys: frozenset[str]) -> None:
        self._secret_keys = secret_keys
        # Odd settings (a core key or a static value that the redaction would touch): redact
        # the finished dict as the pipeline does.
        self._redact_whole = bool(secret_keys) and (
            any(is_secret_key(key, secret_keys) for key in CORE_KEYS | set(static))
            or any(type(value) not in LEAF_TYPES for value in static.values())
        )
        self._inline = bool(secret_keys) and not self._redact_whole
        self._static_suspect = self._redact_whole or not _PLAIN.issuperset(
            type(value) for value in static.values()
        )
        self._static = dict(static)
        self._plans: dict[tuple[Any, ...], tuple[_Step, ...]] = {}

    def _plan(self, shape: tuple[Any, ...]) -> tuple[_Step, ...]:
        check = self._inline
        steps: list[_Step] = []
        for name in shape:
            if name in _NOT_EXTRA:
                continue
            key: Any = name
            if name in CORE_KEYS:
                key = f"field_{name}"
            secret = check and isinstance(key, str) and is_secret_key(key, self._secret_keys)
            steps.append((name, _STACK if name == "stack" else key, secret))
        plan = tuple(steps)
        if len(self._plans) < _PLANS_MAX:
            self._plans[shape] = plan
        return plan

    def __call__(self, record: logging.LogRecord) -> EventDict:
        return self.build(record)[0]

    def build(self, record: logging.LogRecord) -> tuple[EventDict, bool]:
        """The event, and whether it may hold a NaN or an infinity: the values this pass did not
        look into for them (the JSON writer then does)."""
        secret_keys = self._secret_keys
        inline = self._inline
        msg = record.msg
        event: EventDict = {
            "timestamp": iso_utc_timestamp(record.created),
            "level": _LEVEL_NAMES.get(record.levelno) or level_name(record.levelno),
            "message": msg if type(msg) is str and not record.args else record_message(record),
            "logger": record.name,
        }
        event.update(self._static)
        add_correlation(record, event)
        scope = getattr(record, "scope", None)
        event["scope"] = scope
        name, cid = record.name, event["correlationId"]
        trace_id, span_id = event.get("trace_id"), event.get("span_id")
        plain = _PLAIN
        suspect = self._static_suspect or not (
            type(cid) in plain
            and type(scope) in plain
            and type(name) in plain
            and type(trace_id) in plain
            and type(span_id) in plain
        )
        if inline and suspect:
            for key, value in (
                ("logger", name),
                ("correlationId", cid),
                ("trace_id", trace_id),
                ("span_id", span_id),
                ("scope", scope),
            ):
                if type(value) not in LEAF_TYPES:
                    event[key] = redact(value, secret_keys, 1)
        attributes = record.__dict__
        shape = tuple(attributes)
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plan(shape)
        stack: Any = _MISSING
        for name, key, secret in plan:
            value = attributes[name]
            if key is _STACK:
                if not record.exc_info:
                    stack = value
                    continue
                key = "field_stack"
            if secret:
                value = REDACTED
            elif (kind := type(value)) not in _PLAIN:
                if kind is float:
                    suspect = suspect or not math.isfinite(value)
                else:
                    if inline and kind not in LEAF_TYPES:
                        value = redact(value, secret_keys, 1)
                    suspect = suspect or _not_finite(value)
            event[key] = value
        if record.exc_info or record.exc_text or record.stack_info:
            formatted = _format_exc_info(record)
            if formatted is not None:
                stack = formatted
        if stack is not _MISSING:
            if inline and type(stack) not in LEAF_TYPES:
                stack = redact(stack, secret_keys, 1)
            suspect = suspect or type(stack) not in _PLAIN
            event["stack"] = stack
        if self._redact_whole:
            return redact(event, secret_keys), True
        return event, suspect


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for Loki and any log collector.

    Control characters inside values are escaped by JSON itself (plus DEL/C1 by :func:`dumps`).
    """

    def __init__(
        self,
        *,
        service: str = "rsf-utility",
        environment: str = "development",
        redact_keys: Iterable[str] | None = None,
        processors: Sequence[Processor] | None = None,
    ) -> None:
        super().__init__()
        if redact_keys is not None:
            redact_keys = tuple(redact_keys)  # read twice below; it may be an iterator
        self.processors: list[Processor] = (
            list(processors)
            if processors is not None
            else json_processors(service, environment, redact_keys)
        )
        self._last: tuple[logging.LogRecord, str] | None = None
        # The fused pass stands in for the default pipeline while ``processors`` is unchanged.
        self._fused: _DefaultJsonEvent | None = None
        self._fused_for: list[Processor] = []
        if processors is None:
            static = {"service": service, "environment": environment}
            self._fused = _DefaultJsonEvent(static, normalise_keys(redact_keys or ()))
            self._fused_for = list(self.processors)

    def event(self, record: logging.LogRecord) -> EventDict:
        """The record as a dict, before serialisation (useful to tests and other sinks)."""
        if self._fused is not None and self.processors == self._fused_for:
            return self._fused(record)
        return run_processors(self.processors, record)

    def format(self, record: logging.LogRecord) -> str:
        # One formatter serves the console and the Loki handler (configure_logging): the
        # second handler gets the line the first one made for the same record.
        last = self._last
        if last is not None and last[0] is record:
            return last[1]
        line = self._format(record)
        self._last = (record, line)
        return line

    def _format(self, record: logging.LogRecord) -> str:
        try:
            if self._fused is not None and self.processors == self._fused_for:
                return _dumps_line(*self._fused.build(record))
            return dumps(self.event(record))
        except Exception as exc:  # a broken processor must not lose the record entirely
            return dumps(
                {
                    "timestamp": iso_utc_timestamp(record.created),
                    "level": level_name(record.levelno),
                    "message": record_message(record),
                    "logger": record.name,
                    "formatError": _safe_repr(exc),
                }
            )


# --- development ---------------------------------------------------------------------------

SEPARATOR = "----------"
_RESET = "\x1b[0m"
_CYAN = "\x1b[36m"
LEVEL_COLORS: dict[str, str] = {
    "error": "\x1b[31m",
    "warn": "\x1b[33m",
    "info": "\x1b[32m",
    "debug": "\x1b[34m",
}


def should_colorize(stream: IO[str] | None) -> bool:
    """Colors only on a terminal, and never when ``NO_COLOR`` is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except Exception:
        return False


def _escape_multiline(text: str) -> str:
    """Escape control characters but keep the line structure (stack traces, pretty JSON)."""
    return "\n".join(escape_control(line) for line in text.split("\n"))


def dev_value(value: Any) -> str:
    """One extra field's value: scalars as text, objects pretty-printed, all escaped."""
    if isinstance(value, str):
        return escape_control(value)
    if value is None or isinstance(value, bool | int | float | Decimal):
        return str(value)
    if isinstance(value, Mapping | list | tuple | set | frozenset) or dataclasses.is_dataclass(
        value
    ):
        return _escape_multiline(dumps(value, indent=2))
    if hasattr(value, "model_dump") and not isinstance(value, type):
        return _escape_multiline(dumps(value, indent=2))
    text = json_default(value)
    return escape_control(text if isinstance(text, str) else dumps(text))


def dev_processors(redact_keys: Iterable[str] | None = None) -> list[Processor]:
    """The default pipeline of :class:`DevFormatter` (extras keep their own names)."""
    secret_keys = normalise_keys(redact_keys or ())

    def _dev_timestamp(record: logging.LogRecord, event: EventDict) -> EventDict:
        event["timestamp"] = dev_timestamp(record.created)
        return event

    def _dev_extras(record: logging.LogRecord, event: EventDict) -> EventDict:
        fields = extra_fields(record)
        if "stack" in fields and not record.exc_info:
            event["stack"] = fields.pop("stack")
        event["fields"] = redact(fields, secret_keys) if secret_keys else fields
        return event

    return [_dev_timestamp, add_level, add_message, add_scope, _dev_extras, add_stack]


class DevFormatter(logging.Formatter):
    """The guide's ``devFormat``: readable multi-line records for a developer's terminal.

    ::

        ----------
        2024-01-15 10:30:45.123 AM Settlement generated
        scope: SettlementService
        settlementId: settlement-123
        stack trace, if any

    ``colors=None`` decides from ``stream`` (see :func:`should_colorize`). The level is shown by
    the color of the message line, as winston's ``colorize({all: true})`` does.
    """

    def __init__(
        self,
        *,
        colors: bool | None = None,
        stream: IO[str] | None = None,
        redact_keys: Iterable[str] | None = None,
        processors: Sequence[Processor] | None = None,
    ) -> None:
        super().__init__()
        self.colors = should_colorize(stream) if colors is None else colors
        self.processors: list[Processor] = (
            list(processors) if processors is not None else dev_processors(redact_keys)
        )

    def format(self, record: logging.LogRecord) -> str:
        try:
            event = run_processors(self.processors, record)
        except Exception as exc:
            event = {
                "timestamp": dev_timestamp(record.created),
                "level": level_name(record.levelno),
                "message": record_message(record),
                "fields": {"formatError": _safe_repr(exc)},
            }
        headline = f"{event.get('timestamp', '')} {escape_control(str(event.get('message', '')))}"
        level_color = LEVEL_COLORS.get(str(event.get("level")), "")
        lines = [SEPARATOR, f"{level_color}{headline}{_RESET}" if self.colors else headline]
        scope = event.get("scope")
        if scope:
            scope_line = f"scope: {escape_control(str(scope))}"
            lines.append(f"{_CYAN}{scope_line}{_RESET}" if self.colors else scope_line)
        fields = event.get("fields") or {}
        for key, value in fields.items():
            lines.append(f"{escape_control(str(key))}: {dev_value(value)}")
        stack = event.get("stack")
        if stack:
            lines.append(_escape_multiline(stack if isinstance(stack, str) else dev_value(stack)))
        return "\n".join(lines)
