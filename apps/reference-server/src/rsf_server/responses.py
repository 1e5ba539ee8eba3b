"""The UI-facing answer shape of the domain contract, and the bearer-token guard of /ui routes."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from rsf_observability.errors import ProblemError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from rsf_server.tokens import InvalidToken, verify_token

Endpoint = Callable[[Request], Awaitable[Response]]


def ok(data: Any = None, message: str = "OK", status: int = 200) -> JSONResponse:
    """``{success: true, data, message}``; errors use ``rsf_observability.errors`` instead."""
    return JSONResponse({"success": True, "data": data, "message": message}, status_code=status)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_token(endpoint: Endpoint) -> Endpoint:
    """401 unless the request carries a valid bearer JWT from ``/ui/auth/sign-token``."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        token = bearer_token(request)
        if token is None:
            raise ProblemError(401, "Missing bearer token", code="missing_token")
        secret: str = request.app.state.rsf.jwt_secret
        try:
            request.state.token_claims = verify_token(secret, token)
        except InvalidToken as exc:
            raise ProblemError(401, f"Invalid token: {exc}", code="invalid_token") from exc
        return await endpoint(request)

    return guarded
