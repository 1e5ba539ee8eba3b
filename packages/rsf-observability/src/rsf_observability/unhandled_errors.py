"""Answer an unhandled exception *inside* the observability middlewares, not outside them.

Starlette answers an unhandled exception in ``ServerErrorMiddleware``, the outermost layer, after
every ``add_middleware`` layer has already unwound: the request span is no longer current, so the
error log has no ``trace_id``, and the metrics and access log never see the 500 they should count.
Placed innermost (just outside the app's own ``ExceptionMiddleware``), this middleware runs the
app's 500 handler, or answers the SDK's JSON 500 (no stack trace, with the correlation id), while
the span is current, records the exception on that span, logs it once, and does not re-raise: the
response is complete and every outer layer sees an ordinary 500.
"""

from __future__ import annotations

import functools
import inspect
import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability.errors import problem_response
from rsf_observability.sanitize import escape_control
from rsf_observability.tracing_middleware import error_type

_error_logger = logging.getLogger("rsf.errors")


def _default_logger() -> logging.Logger:
    return _error_logger


def _is_async(handler: Any) -> bool:
    """Starlette's rule: coroutine functions (also behind ``partial`` or ``__call__``) are awaited."""
    while isinstance(handler, functools.partial):
        handler = handler.func
    call = handler if inspect.isroutine(handler) else type(handler).__call__
    return inspect.iscoroutinefunction(call)


@dataclass
class UnhandledErrorMiddleware:
    """Pure ASGI; ``http`` only. ``owner`` is the Starlette/FastAPI app whose ``500``/``Exception``
    handler to run (looked up per error, so handlers registered later count); without one, or
    when that handler itself fails, the answer is the SDK's JSON 500.

    A response already started cannot be replaced: the exception is re-raised for the server
    to abort the connection.
    """

    app: ASGIApp
    owner: Starlette | None = None
    logger: logging.Logger = field(default_factory=_default_logger)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracking)
        except Exception as exc:
            if started:
                raise
            self._observe(scope, exc)
            response = await self._response(scope, receive, exc)
            await response(scope, receive, send)

    def _observe(self, scope: Scope, exc: Exception) -> None:
        span = trace.get_current_span()
        span.record_exception(exc)
        span.set_attribute("error.type", error_type(exc))
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.logger.error(
            "Unhandled exception: %s",
            type(exc).__name__,
            exc_info=(type(exc), exc, exc.__traceback__),
            extra={"method": str(scope.get("method", "")), "path": escape_control(scope["path"])},
        )

    async def _response(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        handler = self._handler()
        if handler is not None:
            try:
                request = Request(scope, receive)
                if _is_async(handler):
                    result = await handler(request, exc)
                else:
                    result = await run_in_threadpool(handler, request, exc)
                if isinstance(result, Response):
                    return result
            except Exception:
                self.logger.exception("The app's 500 handler failed")
        return problem_response(500, "Internal server error")

    def _handler(self) -> Any:
        if self.owner is None:
            return None
        handlers = self.owner.exception_handlers
        return handlers.get(500) or handlers.get(Exception)
