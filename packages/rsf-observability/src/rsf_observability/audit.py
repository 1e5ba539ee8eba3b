"""The guide's rsfAuditLogger as a pure ASGI middleware, with an optional persistent sink.

For ``/api/`` and ``/ui/`` requests it logs "RSF Operation" (``rsf.audit``, ``type: audit``)
with the ONDC context fields read from the JSON body, which the app still receives whole.
With a sink, an :class:`AuditEntry` holding the redacted request and response is written after
the response has been sent; a failing or slow sink is logged and never touches the response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability._body import (
    ResponseObserver,
    parse_json,
    peek_request_body,
)
from rsf_observability.audit_sink import AuditEntry, AuditSink
from rsf_observability.context import get_correlation_id
from rsf_observability.log_format import iso_utc_timestamp
from rsf_observability.logger import log_fields
from rsf_observability.sanitize import escape_control, normalise_keys, redact
from rsf_observability.settings import ObservabilitySettings

_FIELD_MAX_CHARS = 256


def _default_logger() -> logging.Logger:
    return logging.getLogger("rsf.audit")


def _context_field(context: Mapping[str, Any], key: str) -> str | None:
    """A context value fit for a log field: strings and numbers only, escaped, bounded."""
    value = context.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value)[:_FIELD_MAX_CHARS]
    return escape_control(text) if text else None


def _route_template(scope: Scope) -> str | None:
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else None


@dataclass
class AuditMiddleware:
    """Audit logging for RSF operations; ``http`` requests outside ``path_prefixes`` pass by.

    ``request_max_bytes`` bounds how much of a request is buffered to read its context (a
    larger body is still forwarded whole, its fields are then None); ``response_max_bytes``
    bounds the response kept for the sink.
    """

    app: ASGIApp
    sink: AuditSink | None = None
    settings: ObservabilitySettings | None = None
    path_prefixes: tuple[str, ...] = ("/api/", "/ui/")
    request_max_bytes: int = 1024 * 1024
    response_max_bytes: int = 64 * 1024
    sink_timeout: float = 5.0
    logger: logging.Logger = field(default_factory=_default_logger)

    def __post_init__(self) -> None:
        settings = self.settings or ObservabilitySettings()
        self._secret_keys = normalise_keys(settings.redact_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefixes):
            await self.app(scope, receive, send)
            return
        log_enabled = self.logger.isEnabledFor(logging.INFO)
        if not log_enabled and self.sink is None:
            await self.app(scope, receive, send)
            return

        arrived_at = time.time()
        start = time.perf_counter()
        peeked, receive = await peek_request_body(receive, self.request_max_bytes)
        body = parse_json(peeked.head, peeked.complete)
        context = body.get("context") if isinstance(body, dict) else None
        participant = transaction_id = message_id = action = None
        if isinstance(context, dict) and context:  # a GET has none: four Nones, no lookups
            participant = _context_field(context, "bap_id") or _context_field(context, "bpp_id")
            transaction_id = _context_field(context, "transaction_id")
            message_id = _context_field(context, "message_id")
            action = _context_field(context, "action")
        if log_enabled:
            log_fields(
                self.logger,
                logging.INFO,
                "RSF Operation",
                {
                    "type": "audit",
                    "operation": escape_control(scope["path"]),
                    "method": str(scope.get("method", "")),
                    "timestamp": iso_utc_timestamp(arrived_at),
                    "participant": participant,
                    "transactionId": transaction_id,
                    "messageId": message_id,
                    "action": action,
                },
            )
        sink = self.sink
        if sink is None:
            await self.app(scope, receive, send)
            return

        arrived = datetime.fromtimestamp(arrived_at, UTC)
        observer = ResponseObserver(limit=self.response_max_bytes)
        written = False

        async def write(status: int) -> None:
            nonlocal written
            written = True
            response = parse_json(bytes(observer.head), observer.complete)
            entry = AuditEntry(
                operation=scope["path"],
                method=str(scope.get("method", "")),
                route=_route_template(scope),
                timestamp=arrived,
                correlation_id=get_correlation_id(),
                participant=participant,
                transaction_id=transaction_id,
                message_id=message_id,
                action=action,
                status_code=status,
                duration_ms=(time.perf_counter() - start) * 1000,
                request=None if body is None else redact(body, self._secret_keys),
                response=None if response is None else redact(response, self._secret_keys),
            )
            await self._write(sink, entry)

        async def send_and_audit(message: Message) -> None:
            final = observer.observe(message)
            await send(message)
            if final:
                await write(observer.status or 500)

        try:
            await self.app(scope, receive, send_and_audit)
        except Exception:
            if not written:
                await write(500 if observer.status is None else observer.status)
            raise

    async def _write(self, sink: AuditSink, entry: AuditEntry) -> None:
        try:
            async with asyncio.timeout(self.sink_timeout):
                await sink.write(entry)
        except Exception:
            self.logger.error(
                "Audit sink failed",
                exc_info=True,
                extra={"operation": escape_control(entry.operation), "sink": type(sink).__name__},
            )
