"""The guide's log categories: ``audit``, ``business`` and ``system`` records.

Each helper fixes the ``type`` and the documented field names (camelCase as in the guide's JSON
examples, so its LogQL queries such as ``| json | type="audit" | event="user_authentication"``
work). They accept a :class:`~rsf_observability.logger.BoundLogger` or any stdlib logger.
Fields that are ``None`` are left out of the record.
"""

from __future__ import annotations

import logging
from typing import Any

from rsf_observability.logger import BoundLogger, safe_extra

AnyLogger = BoundLogger | logging.Logger | logging.LoggerAdapter[Any]


def _emit(logger: AnyLogger, level: int, message: str, fields: dict[str, Any]) -> None:
    present = {key: value for key, value in fields.items() if value is not None}
    if isinstance(logger, BoundLogger):
        logger.log(level, message, stacklevel=3, **present)
    else:
        logger.log(level, message, extra=safe_extra(present), stacklevel=3)


def audit_log(
    logger: AnyLogger,
    event: str,
    *,
    user: str | None = None,
    action: str | None = None,
    ip_address: str | None = None,
    user_agent: str | None = None,
    message: str | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """``{"type": "audit", "event", "user", "action", "ipAddress", "userAgent", ...}``.

    The guide's ``timestamp`` is the line's own ``timestamp`` (the record's creation time).
    """
    _emit(
        logger,
        level,
        message or event,
        {
            "type": "audit",
            "event": event,
            "user": user,
            "action": action,
            "ipAddress": ip_address,
            "userAgent": user_agent,
            **fields,
        },
    )


def business_log(
    logger: AnyLogger,
    workflow: str,
    stage: str,
    *,
    message: str | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """``{"type": "business", "workflow", "stage", ...}`` e.g. ``orderId``, ``nextStage``."""
    _emit(
        logger,
        level,
        message or f"{workflow}: {stage}",
        {"type": "business", "workflow": workflow, "stage": stage, **fields},
    )


def system_log(
    logger: AnyLogger,
    component: str,
    event: str,
    *,
    message: str | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """``{"type": "system", "component", "event", ...}`` e.g. ``dbHost``, ``downtime``."""
    _emit(
        logger,
        level,
        message or f"{component}: {event}",
        {"type": "system", "component": component, "event": event, **fields},
    )
