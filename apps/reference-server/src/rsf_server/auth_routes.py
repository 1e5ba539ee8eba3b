"""``POST /ui/auth/sign-token``: the bearer JWT every other /ui route asks for."""

from __future__ import annotations

import hmac
import re
from typing import Any

from rsf_observability.errors import ProblemError, read_json_body
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from rsf_server.responses import ok
from rsf_server.tokens import issue_token

_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,128}$")
_DURATION = re.compile(r"^(\d+)\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _ttl(value: Any, default: int, maximum: int) -> int:
    """``expires`` as seconds: a number, or ``"30m"`` / ``"1h"`` / ``"1d"``; capped at ``maximum``."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise ProblemError(422, "expires must be seconds or a duration like '1h'")
    if isinstance(value, int | float):
        seconds = int(value)
    elif isinstance(value, str) and (match := _DURATION.match(value.strip().lower())):
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ProblemError(422, "expires must be seconds or a duration like '1h'")
    if seconds <= 0:
        raise ProblemError(422, "expires must be positive")
    return min(seconds, maximum)


async def sign_token(request: Request) -> Response:
    body = await read_json_body(request, max_bytes=16 * 1024)
    if not isinstance(body, dict):
        raise ProblemError(422, "Body must be a JSON object")
    client_id = body.get("client_id", body.get("clientId"))
    if not isinstance(client_id, str) or not _CLIENT_ID.match(client_id):
        raise ProblemError(
            422, "client_id is required: 1-128 characters of letters, digits and ._:@-"
        )
    rsf = request.app.state.rsf
    expected = rsf.settings.ui_client_secret
    if expected is not None:
        given = body.get("client_secret", body.get("clientSecret"))
        if not isinstance(given, str) or not hmac.compare_digest(
            given.encode(), expected.get_secret_value().encode()
        ):
            raise ProblemError(401, "Invalid client credentials", code="invalid_client")
    ttl = _ttl(body.get("expires"), rsf.settings.jwt_default_ttl, rsf.settings.jwt_max_ttl)
    token = issue_token(rsf.jwt_secret, client_id, ttl)
    return ok({"token": token, "expires_in": ttl, "token_type": "Bearer"}, "Token issued")


def auth_routes() -> list[BaseRoute]:
    return [Route("/ui/auth/sign-token", sign_token, methods=["POST"], name="sign_token")]
