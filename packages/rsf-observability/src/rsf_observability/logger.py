"""``get_logger``: the guide's ``AutomationLogger`` on top of stdlib logging.

A :class:`BoundLogger` carries a scope and bound fields and turns keyword arguments into record
extras, so ``log.info("Settlement generated", settlementId="s-1")`` ends up as a
``settlementId`` key in the JSON line. Records still go through ordinary stdlib loggers
(``rsf`` / ``rsf.<scope>``), so handlers, levels and third-party loggers work as usual.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from types import TracebackType
from typing import Any, TypeAlias

from rsf_observability.log_format import STANDARD_RECORD_ATTRS

ROOT_LOGGER_NAME = "rsf"

#: Names an extra field may not have: stdlib refuses to overwrite record attributes, and the
#: enrichment attributes are owned by the record factory. Such fields become ``field_<name>``.
RESERVED_FIELD_NAMES: frozenset[str] = STANDARD_RECORD_ATTRS | {
    "correlationId",
    "trace_id",
    "span_id",
    "scope",
}

ExcInfo: TypeAlias = (
    bool
    | BaseException
    | tuple[type[BaseException], BaseException, TracebackType | None]
    | tuple[None, None, None]
    | None
)


def safe_extra(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` usable as ``extra=``: colliding names are prefixed ``field_`` instead of crashing."""
    extra: dict[str, Any] = {}
    for key, value in fields.items():
        name = str(key)
        extra[f"field_{name}" if name in RESERVED_FIELD_NAMES else name] = value
    return extra


def log_fields(logger: logging.Logger, level: int, msg: str, fields: dict[str, Any]) -> None:
    """``logger.log(level, msg, extra=fields)`` for records made on every request.

    The same record through the same levels, record factory (correlation and trace ids),
    filters and handlers, with the caller taken from the calling frame instead of
    ``findCaller``'s walk up the stack (the same file, line and function for a direct caller).
    """
    if not logger.isEnabledFor(level):
        return
    if logging._srcfile:
        frame = sys._getframe(1)
        code = frame.f_code
        fn, lno, func = code.co_filename, frame.f_lineno, code.co_name
    else:  # caller lookup switched off, as stdlib honours it
        fn, lno, func = "(unknown file)", 0, "(unknown function)"
    if type(logger).makeRecord is not _STDLIB_MAKE_RECORD:  # a custom logger class sees extra
        logger.handle(logger.makeRecord(logger.name, level, fn, lno, msg, (), None, func, fields))
        return
    record = logger.makeRecord(logger.name, level, fn, lno, msg, (), None, func)
    attributes = record.__dict__
    # stdlib's check, as set operations instead of a loop over the fields
    if not attributes.keys().isdisjoint(fields) or not _UNSETTABLE.isdisjoint(fields):
        clash = next(key for key in fields if key in attributes or key in _UNSETTABLE)
        raise KeyError(f"Attempt to overwrite {clash!r} in LogRecord")
    attributes.update(fields)
    logger.handle(record)


_STDLIB_MAKE_RECORD = logging.Logger.makeRecord
_UNSETTABLE = frozenset({"message", "asctime"})


class BoundLogger:
    """A stdlib logger plus a scope and bound fields; immutable (``bind`` returns a new one)."""

    __slots__ = ("_fields", "_logger", "_scope")

    def __init__(
        self,
        logger: logging.Logger | logging.LoggerAdapter[Any],
        *,
        scope: str | None = None,
        fields: Mapping[str, Any] | None = None,
    ) -> None:
        self._logger = logger
        self._scope = scope
        self._fields: dict[str, Any] = dict(fields or {})

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[Any]:
        return self._logger

    @property
    def name(self) -> str:
        return (
            self._logger.name
            if isinstance(self._logger, logging.Logger)
            else self._logger.logger.name
        )

    @property
    def scope(self) -> str | None:
        return self._scope

    @property
    def fields(self) -> dict[str, Any]:
        return dict(self._fields)

    def bind(self, **more: Any) -> BoundLogger:
        """A new logger with more bound fields (``scope=`` replaces the scope)."""
        scope = more.pop("scope", self._scope)
        return BoundLogger(self._logger, scope=scope, fields={**self._fields, **more})

    def is_enabled_for(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def log(
        self,
        level: int,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stack_info: bool = False,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(level, msg, args, exc_info, stack_info, stacklevel + 1, fields)

    def debug(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(logging.DEBUG, msg, args, exc_info, False, stacklevel + 1, fields)

    def info(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(logging.INFO, msg, args, exc_info, False, stacklevel + 1, fields)

    def warning(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(logging.WARNING, msg, args, exc_info, False, stacklevel + 1, fields)

    def warn(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        """The guide's name for :meth:`warning`."""
        self._log(logging.WARNING, msg, args, exc_info, False, stacklevel + 1, fields)

    def error(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(logging.ERROR, msg, args, exc_info, False, stacklevel + 1, fields)

    def exception(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = True,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        """``error`` with the exception being handled attached (its stack ends the record)."""
        self._log(logging.ERROR, msg, args, exc_info, False, stacklevel + 1, fields)

    def critical(
        self,
        msg: object,
        /,
        *args: object,
        exc_info: ExcInfo = None,
        stacklevel: int = 1,
        **fields: Any,
    ) -> None:
        self._log(logging.CRITICAL, msg, args, exc_info, False, stacklevel + 1, fields)

    def _log(
        self,
        level: int,
        msg: object,
        args: tuple[object, ...],
        exc_info: ExcInfo,
        stack_info: bool,
        stacklevel: int,
        fields: dict[str, Any],
    ) -> None:
        if not self._logger.isEnabledFor(level):
            return
        scope = fields.pop("scope", self._scope)
        extra = safe_extra({**self._fields, **fields} if self._fields else fields)
        if scope is not None:
            extra["scope"] = scope
        # +1 for this frame, so funcName/lineno point at the caller of info()/error()/...
        self._logger.log(
            level,
            msg,
            *args,
            exc_info=exc_info,
            stack_info=stack_info,
            stacklevel=stacklevel + 1,
            extra=extra,
        )

    def __repr__(self) -> str:
        return f"BoundLogger(name={self.name!r}, scope={self._scope!r}, fields={self._fields!r})"


def get_logger(scope: str | None = None, **bound: Any) -> BoundLogger:
    """A logger named ``rsf`` (or ``rsf.<scope>``) carrying ``scope`` and ``bound`` fields.

    ``get_logger("SettlementService", participantId="p-1").info("Settlement generated",
    settlementId="s-1")`` is the guide's ``AutomationLogger`` call.
    """
    name = ROOT_LOGGER_NAME if not scope else f"{ROOT_LOGGER_NAME}.{scope}"
    return BoundLogger(logging.getLogger(name), scope=scope, fields=bound)
