"""The guide's GET response cache (``caching(duration)``), made safe, as pure ASGI middleware.

What changed from the guide's version, and why:

- The key is the token subject + full path and query + the response encoding. The guide keyed on
  ``req.originalUrl`` alone, so one caller's cached answer was served to every other caller of
  the same URL, whatever their credentials. Anonymous requests are never cached.
- Only ``200`` JSON answers without ``Cache-Control: no-store``/``Set-Cookie`` are stored,
  bounded in count (least recently used dropped first) and in size per entry.
- A write (any method but GET/HEAD/OPTIONS) to a cached area drops **every** entry, before and
  after it runs: the /ui data is shared by all UI clients (a token subject is a client, not a
  data owner), so clearing only the writer's entries would leave other clients a stale view. A
  generation counter stops a read that overlapped the write from storing what it read before.
- Health, metrics, alert and auth routes are never cached, whatever the path rules say.
- While ``bypass()`` is true (the server wires "the last health report is unhealthy") nothing is
  served from or stored in the cache: an outage must show as errors, not as a few seconds of
  answers that look fine.

The cache sits outside the compression layer, so a stored body may be gzip: the key keeps
``gzip`` and ``identity`` answers apart, as ``Vary: Accept-Encoding`` asks.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from rsf_observability.http_metrics import PathSkipper
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_server.request_identity import Identify
from rsf_server.responses import ok, require_token

DEFAULT_CACHED_PATHS = ("/ui/*",)
"""The /ui list routes (users, orders, settlements, recons, rsf-payloads): read by dashboards
over and over, cheap to serve a few seconds old."""

NEVER_CACHED_PATHS = (
    "/health",
    "/health/*",
    "/ui/health",
    "/ui/health/*",
    "/ui/auth/*",
    "/metrics",
    "/api/webhooks/alerts",
    "/admin/*",
)

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CacheKey = tuple[str, str, str]


@dataclass(frozen=True)
class CachedResponse:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    expires_at: float


class ResponseCache:
    """An LRU of responses with per-entry expiry; ``clock`` is injectable so tests need no sleep."""

    def __init__(
        self, max_entries: int = 1000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.clock = clock
        self.generation = 0
        self._entries: OrderedDict[CacheKey, CachedResponse] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey) -> CachedResponse | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self.clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def put(
        self,
        key: CacheKey,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        ttl: float,
    ) -> None:
        now = self.clock()
        self._entries[key] = CachedResponse(status, headers, body, now, now + ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> int:
        """Drop every entry; the number dropped (expired ones included)."""
        dropped = len(self._entries)
        self._entries.clear()
        self.generation += 1
        return dropped


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return bytes(value)
    return None


def _encoding_variant(scope: Scope) -> str:
    """What the compression layer below will answer: gzip only when accepted and not refused."""
    if _header(scope, b"x-no-compression") is not None:
        return "identity"
    accept = _header(scope, b"accept-encoding") or b""
    return "gzip" if b"gzip" in accept else "identity"


def _storable(message: Message) -> bool:
    if message["status"] != 200:
        return False
    headers = MutableHeaders(scope=message)
    media = headers.get("content-type", "").partition(";")[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        return False
    if "no-store" in headers.get("cache-control", "").lower():
        return False
    return "set-cookie" not in headers


class ResponseCacheMiddleware:
    """Serves repeated GETs of cached paths from memory for ``ttl`` seconds, per token subject."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        cache: ResponseCache,
        identify: Identify,
        ttl: float = 5.0,
        cached_paths: tuple[str, ...] = DEFAULT_CACHED_PATHS,
        never_cached_paths: tuple[str, ...] = NEVER_CACHED_PATHS,
        max_body_bytes: int = 1024 * 1024,
        bypass: Callable[[], bool] | None = None,
    ) -> None:
        self.app = app
        self.bypass = bypass or (lambda: False)
        self.cache = cache
        self.identify = identify
        self.ttl = ttl
        self.max_body_bytes = max_body_bytes
        self._cached = PathSkipper(cached_paths)
        self._never = PathSkipper(never_cached_paths)

    def _applies(self, path: str) -> bool:
        return self._cached(path) and not self._never(path)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._applies(scope["path"]):
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if method not in _SAFE_METHODS:
            self.cache.clear()
            try:
                await self.app(scope, receive, send)
            finally:
                self.cache.clear()
            return
        identity = self.identify(scope)
        if method != "GET" or identity.subject is None or self.bypass():
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        target = scope["path"] + ("?" + query if query else "")
        key: CacheKey = (identity.subject, target, _encoding_variant(scope))
        no_cache = b"no-cache" in (_header(scope, b"cache-control") or b"").lower()
        entry = None if no_cache else self.cache.get(key)
        if entry is not None:
            await self._replay(entry, send)
            return
        await self._fetch_and_store(key, scope, receive, send)

    async def _replay(self, entry: CachedResponse, send: Send) -> None:
        headers = MutableHeaders(raw=list(entry.headers))
        headers["X-Cache"] = "HIT"
        headers["Age"] = str(max(0, int(self.cache.clock() - entry.stored_at)))
        await send({"type": "http.response.start", "status": entry.status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": entry.body, "more_body": False})

    async def _fetch_and_store(
        self, key: CacheKey, scope: Scope, receive: Receive, send: Send
    ) -> None:
        generation = self.cache.generation
        status = 0
        stored_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []
        size = 0
        storing = False

        async def send_and_keep(message: Message) -> None:
            nonlocal status, stored_headers, size, storing
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                storing = _storable(message)
                status = message["status"]
                stored_headers = list(message["headers"])
                MutableHeaders(scope=message)["X-Cache"] = "MISS"
            elif message["type"] == "http.response.body" and storing:
                body = message.get("body", b"")
                size += len(body)
                if size > self.max_body_bytes:
                    storing = False
                    chunks.clear()
                else:
                    chunks.append(body)
                if storing and not message.get("more_body", False):
                    if self.cache.generation == generation:
                        self.cache.put(key, status, stored_headers, b"".join(chunks), self.ttl)
                    storing = False
            await send(message)

        await self.app(scope, receive, send_and_keep)


def cache_admin_routes(cache: ResponseCache) -> list[BaseRoute]:
    """The runbook's ``POST /admin/cache/clear`` (bearer token required)."""

    @require_token
    async def clear_cache(request: Request) -> Response:
        dropped = cache.clear()
        return ok({"cleared": dropped}, f"{dropped} cached response(s) dropped")

    return [Route("/admin/cache/clear", clear_cache, methods=["POST"], name="cache_clear")]
