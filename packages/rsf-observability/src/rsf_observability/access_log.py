"""The guide's requestLogger/responseLogger as one pure ASGI middleware.

"Incoming request" and "Outgoing response" records on the ``rsf.access`` logger, headers
redacted and escaped here (not left to a formatter), bodies only at DEBUG and capped. With the
logger below INFO the middleware is a single ``isEnabledFor`` check per request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability._body import (
    ResponseObserver,
    body_for_log,
    peek_request_body,
    redact_text,
)
from rsf_observability.logger import log_fields
from rsf_observability.sanitize import escape_control, normalise_keys, redact_headers
from rsf_observability.settings import ObservabilitySettings


def _default_logger() -> logging.Logger:
    return logging.getLogger("rsf.access")


@dataclass
class AccessLogMiddleware:
    """Logs every HTTP request and its response; other scopes pass untouched.

    ``settings`` supplies ``log_body_max_bytes`` and ``redact_keys`` (read from the
    environment when omitted). Place it inside ``CorrelationIdMiddleware`` so both records
    carry the id.
    """

    app: ASGIApp
    settings: ObservabilitySettings | None = None
    logger: logging.Logger = field(default_factory=_default_logger)

    def __post_init__(self) -> None:
        settings = self.settings or ObservabilitySettings()
        self._limit = settings.log_body_max_bytes
        self._secret_keys = normalise_keys(settings.redact_keys)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return

        debug = self.logger.isEnabledFor(logging.DEBUG)
        start = time.perf_counter()
        # Worked out once for both records.
        method = str(scope.get("method", ""))
        path = escape_control(scope["path"])
        request = self._request_fields(scope, method, path)
        if debug:
            peeked, receive = await peek_request_body(receive, self._limit)
            request["body"] = body_for_log(peeked.head, peeked.complete, self._secret_keys)
        log_fields(self.logger, logging.INFO, "Incoming request", request)

        observer = ResponseObserver(limit=self._limit if debug else 0)
        response_headers: dict[str, str] = {}
        logged = False

        async def send_and_log(message: Message) -> None:
            nonlocal logged, response_headers
            if not observer.observe(message):
                if message["type"] == "http.response.start":
                    # As the app sent them (an outer layer may add to the list later).
                    response_headers = redact_headers(observer.headers, self._secret_keys)
                await send(message)
                return
            elapsed_ms = (time.perf_counter() - start) * 1000
            try:
                await send(message)
            finally:
                logged = True
                self._log_response(method, path, observer, response_headers, elapsed_ms, debug)

        try:
            await self.app(scope, receive, send_and_log)
        except Exception as exc:
            if not logged:
                elapsed_ms = (time.perf_counter() - start) * 1000
                self._log_response(
                    method,
                    path,
                    observer,
                    response_headers,
                    elapsed_ms,
                    debug,
                    error=type(exc).__name__,
                )
            raise

    def _request_fields(self, scope: Scope, method: str, path: str) -> dict[str, Any]:
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        user_agent = ""
        for key, value in headers:
            if key == b"user-agent" or key.lower() == b"user-agent":
                user_agent = escape_control(value.decode("latin-1"))
                break
        client = scope.get("client")
        query = scope.get("query_string", b"")
        return {
            "method": method,
            "path": path,
            "query": (
                escape_control(redact_text(query.decode("latin-1"), self._secret_keys))
                if query
                else ""
            ),
            "ip": client[0] if client else None,
            "userAgent": user_agent,
            "headers": redact_headers(headers, self._secret_keys),
        }

    def _log_response(
        self,
        method: str,
        path: str,
        observer: ResponseObserver,
        headers: dict[str, str],
        elapsed_ms: float,
        debug: bool,
        error: str | None = None,
    ) -> None:
        elapsed = round(elapsed_ms, 3)
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            # Nothing was sent when the app raised first: the outer layer answers 500.
            "statusCode": observer.status if observer.status is not None else 500,
            "processingTime": elapsed,
            "duration": elapsed,  # the guide's LogQL name for the same figure
            "responseSize": observer.size,
            "headers": headers,
        }
        if error is not None:
            fields["error"] = error
        if debug:
            fields["responseBody"] = body_for_log(
                bytes(observer.head),
                observer.complete,
                self._secret_keys,
                observer.header(b"content-encoding"),
            )
        log_fields(self.logger, logging.INFO, "Outgoing response", fields)
