"""Exception handlers: every error the server answers is JSON with the correlation id.

Crashes are not handled here: the SDK's ``UnhandledErrorMiddleware`` (added by ``instrument``)
logs them with their trace and answers a JSON 500 without one.
"""

from __future__ import annotations

from rsf_core.errors import DomainError
from rsf_observability.errors import ProblemError, problem_handler, problem_response
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ExceptionHandler


async def _http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 (no route) and 405 (wrong method) as JSON."""
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    return problem_response(exc.status_code, str(exc.detail), headers=headers or None)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.http_status, exc.message, code=exc.code, details=exc.details or None
    )


def exception_handlers() -> dict[int | type[Exception], ExceptionHandler]:
    return {
        ProblemError: problem_handler,
        DomainError: _domain_error,
        HTTPException: _http_exception,
    }
