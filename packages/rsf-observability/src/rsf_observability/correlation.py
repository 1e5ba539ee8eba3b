"""Correlation ids: read or make one per request, expose it to logs, echo it on every response.

Modelled on asgi-correlation-id (a dataclass middleware whose strategies are plain callables),
with the guide's id format and one addition it declined: an unhandled exception still gets a
JSON 500 that carries the header, so a client can quote the id of a failed request.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_observability import context
from rsf_observability.errors import error_body
from rsf_observability.sanitize import escape_control

DEFAULT_HEADER = "x-correlation-id"
LEGACY_HEADER = "x-request-id"

_logger = logging.getLogger("rsf.correlation")
_error_logger = logging.getLogger("rsf.errors")

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_SUFFIX_SPACE = 36**9
# Every 3-character base-36 string, so a 9-character suffix is three look-ups, not nine divmods.
_TRIPLES = tuple(a + b + c for a in _BASE36 for b in _BASE36 for c in _BASE36)
_TRIPLE_SPACE = 36**3
_VALID_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_REJECTED_SHOWN = 200
_random_bits = random.getrandbits


def generate_correlation_id() -> str:
    """The guide's ``req_<epoch ms>_<9 base-36 chars>``, e.g. ``req_1704192645123_k3j9x0a1b``."""
    # 64 random bits reduced mod 36**9 (~2**46.5): the bias is below 1e-5, irrelevant for ids.
    # An id is a label, not a secret (the guide's own is Math.random()), so the process PRNG
    # (reseeded in forked workers) serves, a tenth of the cost of a urandom system call.
    number = _random_bits(64) % _SUFFIX_SPACE
    high, low = divmod(number, _TRIPLE_SPACE)
    high, middle = divmod(high, _TRIPLE_SPACE)
    return f"req_{time.time_ns() // 1_000_000}_{_TRIPLES[high]}{_TRIPLES[middle]}{_TRIPLES[low]}"


def is_valid_correlation_id(value: str) -> bool:
    """1-128 characters of ``[A-Za-z0-9._:-]``: safe in a header, a log line and a LogQL filter."""
    return _VALID_ID.fullmatch(value) is not None


def _shown(value: str) -> str:
    """A rejected id as it may appear in a log: escaped and cut short."""
    if len(value) > _REJECTED_SHOWN:
        return escape_control(value[:_REJECTED_SHOWN]) + f"...[{len(value)} chars]"
    return escape_control(value)


@dataclass
class CorrelationIdMiddleware:
    """Pure ASGI middleware for ``http`` and ``websocket`` scopes; other scopes pass untouched.

    Place it outermost (``app = CorrelationIdMiddleware(starlette_app)`` or the last
    ``add_middleware`` call) so every response, including errors, passes through it. Inside a
    Starlette app it also catches what the app's own handlers did not, answering a JSON 500
    itself (a handler registered for ``Exception``/500 is therefore not reached). Wrapped around
    a whole Starlette app, it lets Starlette's own 500 through (now with the header) and keeps
    the exception, already logged here, from reaching the server once that response is complete.
    """

    app: ASGIApp
    header_name: str = DEFAULT_HEADER
    accepted_headers: tuple[str, ...] = (LEGACY_HEADER,)
    generator: Callable[[], str] = field(default=generate_correlation_id)
    validator: Callable[[str], bool] = field(default=is_valid_correlation_id)
    update_request_header: bool = True

    def __post_init__(self) -> None:
        self._header_key = self.header_name.lower()
        self._header_raw = self._header_key.encode("latin-1")
        self._read_order = (self._header_key, *(h.lower() for h in self.accepted_headers))
        self._read_raw = {
            name.encode("latin-1"): rank for rank, name in enumerate(self._read_order)
        }

    def _incoming(self, scope: Scope) -> tuple[str, str] | None:
        """The first id header of the request (in ``_read_order``) whose first value is not
        empty, as ``(header, value)``; one pass over the raw headers."""
        wanted = self._read_raw
        first: dict[int, bytes] | None = None
        for key, value in scope.get("headers", ()):
            if key in wanted:
                rank = wanted[key]
                if first is None:
                    first = {}
                if rank not in first:
                    first[rank] = value
                    if rank == 0 and value:
                        break
        if first is None:
            return None
        for rank in sorted(first):
            if first[rank]:
                return self._read_order[rank], first[rank].decode("latin-1")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        incoming = self._incoming(scope)
        valid = incoming is not None and self.validator(incoming[1])
        cid = incoming[1] if incoming is not None and valid else self.generator()
        cid_raw = cid.encode("latin-1")
        header_raw = self._header_raw
        started = False
        finished = False

        async def send_with_id(message: Message) -> None:
            nonlocal started, finished
            kind = message["type"]
            if kind in _STARTS:
                started = True
                _set_header(message, header_raw, cid_raw)
            elif kind == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        token = context.correlation_id.set(cid)
        try:
            if incoming is not None and not valid:
                _logger.warning(
                    "Invalid correlation id replaced",
                    extra={"header": incoming[0], "rejected": _shown(incoming[1])},
                )
            if self.update_request_header and not (
                valid and incoming is not None and incoming[0] == self._header_key
            ):
                # (an id that came, valid, in our own header is there already)
                _set_header(scope, header_raw, cid_raw)
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if scope["type"] != "http":
                _log_unhandled(scope, exc)
                raise
            if not started:
                await self._send_error(scope, send, exc, cid)
                return
            _log_unhandled(scope, exc)
            if not finished:
                raise  # the server must abort a half-sent response
        finally:
            context.correlation_id.reset(token)

    async def _send_error(self, scope: Scope, send: Send, exc: Exception, cid: str) -> None:
        """Answer in JSON with the id instead of letting the server print a trace."""
        status, message, extra_headers = 500, "Internal server error", {}
        if isinstance(exc, HTTPException):
            # Control flow of an outer Starlette layer (e.g. its body size limit), not a crash.
            status, message = exc.status_code, str(exc.detail)
            extra_headers = dict(exc.headers or {})
        else:
            _log_unhandled(scope, exc)
        body = json.dumps(error_body(status, message)).encode()
        headers = MutableHeaders(raw=[])
        for key, value in extra_headers.items():
            headers[key] = value
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body))
        headers[self._header_key] = cid
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers.raw})
            await send({"type": "http.response.body", "body": body})
        except Exception:  # the client is gone, or an outer layer answered itself
            _error_logger.debug("Could not send the error response", exc_info=True)


_STARTS = frozenset({"http.response.start", "websocket.accept", "websocket.http.response.start"})


def _set_header(message: Message | Scope, key: bytes, value: bytes) -> None:
    """``MutableHeaders(scope=message)[key] = value`` (a response start or a request scope)
    without building the wrapper: replace the first ``key`` header (dropping repeats) or
    append it. Always into a new list: the sender may reuse its own (a cached response)."""
    headers = message.get("headers")
    if headers is None:
        message["headers"] = [(key, value)]
        return
    for name, _ in headers:
        if name == key:
            break
    else:
        message["headers"] = [*headers, (key, value)]
        return
    headers = list(headers)
    found = [i for i, (name, _) in enumerate(headers) if name == key]
    if found:
        for i in reversed(found[1:]):
            del headers[i]
        headers[found[0]] = (key, value)
    else:
        headers.append((key, value))
    message["headers"] = headers


def _log_unhandled(scope: Scope, exc: Exception) -> None:
    extra = {"method": str(scope.get("method", "")), "path": escape_control(scope["path"])}
    _error_logger.error(
        "Unhandled exception: %s",
        type(exc).__name__,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra=extra,
    )
