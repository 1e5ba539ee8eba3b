"""Exception handlers that answer in the SDK's JSON error shape, with the correlation id.

Starlette answers an unknown route with plain-text ``Not Found`` and a wrong method with plain-text
``Method Not Allowed``; clients of an RSF service expect the same JSON body as every other error.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from rsf_observability.errors import ProblemError, problem_handler, problem_response

JSON_STATUS_CODES: tuple[int, ...] = (404, 405)
_STATUSES = frozenset(status.value for status in HTTPStatus)


async def http_problem_handler(request: Request, exc: Exception) -> Response:
    """Starlette ``HTTPException`` -> JSON error; keeps its detail and headers (``Allow`` on 405)."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers) if exc.headers else None
    if isinstance(exc.detail, str):
        return problem_response(exc.status_code, exc.detail, headers=headers)
    # FastAPI allows any JSON detail; it goes to ``details`` under the standard phrase.
    message = HTTPStatus(exc.status_code).phrase if exc.status_code in _STATUSES else "Error"
    return problem_response(exc.status_code, message, details=exc.detail, headers=headers)


def install_error_handlers(
    app: Starlette, status_codes: tuple[int, ...] = JSON_STATUS_CODES
) -> None:
    """Register :class:`ProblemError` and the JSON ``status_codes`` handlers on ``app``.

    Handlers the app already registered are kept. Call before the app serves its first request
    (Starlette reads the handlers when it builds its middleware stack).
    """
    app.exception_handlers.setdefault(ProblemError, problem_handler)
    for status in status_codes:
        app.exception_handlers.setdefault(status, http_problem_handler)
