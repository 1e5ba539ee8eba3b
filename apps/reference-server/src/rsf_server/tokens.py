"""HS256 JSON Web Tokens for the /ui API (``POST /ui/auth/sign-token``).

Written with ``hmac`` and ``base64`` rather than a JWT library: the server both issues and
verifies its own tokens with one algorithm, so forty lines cover it, the algorithm is fixed (no
``alg`` confusion, ``none`` is rejected) and no dependency is added for it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidToken(Exception):
    """The token is malformed, signed with another key, or expired."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed token") from exc


def _sign(secret: str, signing_input: str) -> str:
    digest = hmac.new(secret.encode(), signing_input.encode("ascii"), hashlib.sha256).digest()
    return _b64encode(digest)


def issue_token(
    secret: str, subject: str, ttl: int, *, now: float | None = None, **claims: Any
) -> str:
    """A token for ``subject`` valid ``ttl`` seconds from ``now``."""
    issued = int(time.time() if now is None else now)
    payload = {**claims, "sub": subject, "iat": issued, "exp": issued + int(ttl)}
    header = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{header}.{body}"
    return f"{signing_input}.{_sign(secret, signing_input)}"


def verify_token(secret: str, token: str, *, now: float | None = None) -> dict[str, Any]:
    """The token's claims; :class:`InvalidToken` unless it is ours, HS256 and not expired."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    header_b64, payload_b64, signature = parts
    if not hmac.compare_digest(_sign(secret, f"{header_b64}.{payload_b64}"), signature):
        raise InvalidToken("bad signature")
    try:
        header = json.loads(_b64decode(header_b64))
        claims = json.loads(_b64decode(payload_b64))
    except ValueError as exc:
        raise InvalidToken("malformed token") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported algorithm")
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
        raise InvalidToken("malformed claims")
    if claims["exp"] <= int(time.time() if now is None else now):
        raise InvalidToken("token expired")
    return claims
