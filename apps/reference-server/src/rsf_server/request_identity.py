"""Who a request is, for the rate limiter and the response cache: token subject or client IP.

Both middlewares sit outside the routes, so they cannot wait for ``require_token``; they verify
the bearer token with the same :func:`~rsf_server.tokens.verify_token` and secret. The result is
kept in the ASGI scope's ``state`` so the token is verified once per request for both layers.
An invalid or expired token counts as anonymous: the route answers it 401 anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import Scope

from rsf_server.tokens import InvalidToken, verify_token

_STATE_KEY = "rsf_request_identity"
PREMIUM_TIER = "premium"


@dataclass(frozen=True)
class RequestIdentity:
    """``subject`` is the token's ``sub`` (None when anonymous); ``client`` the peer address."""

    subject: str | None
    client: str
    premium: bool = False

    @property
    def authenticated(self) -> bool:
        return self.subject is not None


Identify = Callable[[Scope], RequestIdentity]


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = bytes(value).decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def _client(scope: Scope) -> str:
    """The peer address; behind a proxy, uvicorn's ``--proxy-headers`` makes it the real one."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _is_premium(claims: dict[str, Any]) -> bool:
    return claims.get("tier") == PREMIUM_TIER


def bearer_identity(secret: str) -> Identify:
    """An :data:`Identify` that trusts bearer tokens signed with ``secret`` (``tier`` claim:
    ``"premium"`` for the higher rate limit; ``/ui/auth/sign-token`` never issues it)."""

    def identify(scope: Scope) -> RequestIdentity:
        state: dict[str, Any] = scope.setdefault("state", {})
        known = state.get(_STATE_KEY)
        if isinstance(known, RequestIdentity):
            return known
        identity = RequestIdentity(None, _client(scope))
        token = _bearer(scope)
        if token is not None:
            try:
                claims = verify_token(secret, token)
            except InvalidToken:
                pass
            else:
                subject = claims.get("sub")
                if isinstance(subject, str) and subject:
                    identity = RequestIdentity(subject, identity.client, _is_premium(claims))
        state[_STATE_KEY] = identity
        return identity

    return identify
