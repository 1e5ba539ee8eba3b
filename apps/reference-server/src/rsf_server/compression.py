"""The guide's response compression: gzip level 6 above 1024 bytes, never for ``x-no-compression``.

Compression itself is Starlette's :class:`~starlette.middleware.gzip.GZipMiddleware` (streaming,
``Vary: Accept-Encoding``, large bodies compressed off the event loop); this module only adds the
guide's ``filter``: a request carrying ``x-no-compression`` (any value) goes around it. Answers
that already have a ``Content-Encoding`` (``/metrics`` gzips itself) are passed as they are by
GZipMiddleware, so nothing is compressed twice.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

BYPASS_HEADER = b"x-no-compression"


def _wants_no_compression(scope: Scope) -> bool:
    return any(name == BYPASS_HEADER for name, _ in scope.get("headers", ()))


class CompressionMiddleware:
    """gzip for clients that accept it, except requests that ask for none."""

    def __init__(self, app: ASGIApp, *, minimum_size: int = 1024, compresslevel: int = 6) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=compresslevel)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _wants_no_compression(scope):
            await self.app(scope, receive, send)
            return
        await self.gzip(scope, receive, send)
