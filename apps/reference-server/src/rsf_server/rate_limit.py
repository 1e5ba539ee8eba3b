"""The guide's ``adaptiveRateLimit`` as pure ASGI middleware, counted by the ``limits`` library.

Strategy: **fixed window** (``limits.aio.strategies.FixedWindowRateLimiter``) over in-memory
storage, the same model as the guide's express-rate-limit (one counter per key that resets when
its window ends). Counters live in this process: with several replicas each one counts on its
own, which is what the guide's in-memory store did too.

Per key and window: premium tokens (claim ``tier: "premium"``) get ``premium``, other valid
bearer tokens ``authenticated`` (keyed by the token's subject), anonymous requests
``anonymous`` (keyed by client IP). Every limited answer carries the IETF draft headers
(``RateLimit-Limit``/``-Remaining``/``-Reset``/``-Policy``, no legacy ``X-RateLimit-*``); a
refused one is a JSON 429 with ``Retry-After``. ``retryAfter`` is the seconds left in the
window: the guide's ``resetTime / 1000`` gave a Unix timestamp where a delay was meant.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from rsf_observability.errors import error_body
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rsf_server.request_identity import Identify, RequestIdentity

DEFAULT_EXEMPT_PATHS = (
    "/health",
    "/health/*",
    "/ui/health",
    "/ui/health/*",
    "/metrics",
    "/api/webhooks/alerts",
)
"""Never limited: probes, Prometheus scrapes and Alertmanager deliveries must always get in."""


@dataclass(frozen=True)
class RateLimitPolicy:
    """Requests allowed per ``window_seconds`` for each kind of caller (the guide's numbers)."""

    window_seconds: int = 15 * 60
    anonymous: int = 100
    authenticated: int = 500
    premium: int = 1000

    def amount_for(self, identity: RequestIdentity) -> int:
        if identity.premium:
            return self.premium
        return self.authenticated if identity.authenticated else self.anonymous


def _key(identity: RequestIdentity) -> str:
    if identity.subject is not None:
        return f"sub:{identity.subject}"
    return f"ip:{identity.client}"


class RateLimitMiddleware:
    """Counts each request against its caller's window; answers 429 once the window is spent."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        identify: Identify,
        policy: RateLimitPolicy | None = None,
        exempt: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.identify = identify
        self.policy = policy or RateLimitPolicy()
        self.exempt = exempt or (lambda path: False)
        self.limiter = FixedWindowRateLimiter(MemoryStorage())
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, amount: int) -> RateLimitItem:
        item = self._items.get(amount)
        if item is None:
            item = RateLimitItemPerSecond(amount, self.policy.window_seconds)
            self._items[amount] = item
        return item

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.exempt(scope["path"]):
            await self.app(scope, receive, send)
            return
        identity = self.identify(scope)
        amount = self.policy.amount_for(identity)
        item = self._item(amount)
        key = _key(identity)
        allowed = await self.limiter.hit(item, key)
        stats = await self.limiter.get_window_stats(item, key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        headers = {
            "RateLimit-Policy": f"{amount};w={self.policy.window_seconds}",
            "RateLimit-Limit": str(amount),
            "RateLimit-Remaining": str(stats.remaining),
            "RateLimit-Reset": str(reset),
        }
        if not allowed:
            retry_after = max(1, reset)
            body = error_body(429, "Too many requests", code="too_many_requests")
            body.update(error="Too many requests", retryAfter=retry_after)
            headers["Retry-After"] = str(retry_after)
            await JSONResponse(body, status_code=429, headers=headers)(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                response_headers = MutableHeaders(scope=message)
                for name, value in headers.items():
                    response_headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)
