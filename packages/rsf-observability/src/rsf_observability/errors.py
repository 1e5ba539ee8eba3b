"""Clear JSON errors that carry the correlation id, and safe JSON body reading.

Every error the SDK (and the reference server) answers has one shape, the UI-facing shape of
the RSF domain contract: ``{"success": false, "errorCode", "message", "details", "correlationId"}``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from rsf_observability.context import get_correlation_id

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


class ProblemError(Exception):
    """Raise to answer with a JSON error; an app's exception handler turns it into a response."""

    def __init__(
        self, status: int, message: str, *, code: str | None = None, details: Any = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _DEFAULT_CODES.get(status, "error")
        self.details = details


def error_body(
    status: int, message: str, *, code: str | None = None, details: Any = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "success": False,
        "errorCode": code or _DEFAULT_CODES.get(status, "error"),
        "message": message,
        "correlationId": get_correlation_id(),
    }
    if details is not None:
        body["details"] = details
    return body


def problem_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, code=code, details=details), status_code=status, headers=headers
    )


async def problem_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for :class:`ProblemError`."""
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.message, code=exc.code, details=exc.details)


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or any ``application/*+json``, parameters ignored."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def read_json_bytes(request: Request, *, max_bytes: int) -> bytes:
    """The exact bytes of a JSON request (a signature may cover them), or a :class:`ProblemError`.

    415 for a content type other than JSON, 413 past ``max_bytes`` (read stops there, so a huge
    body costs at most ``max_bytes`` of memory).
    """
    if not is_json_media_type(request.headers.get("content-type", "")):
        raise ProblemError(415, "Content-Type must be application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ProblemError(413, f"Request body exceeds {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ProblemError(413, f"Request body exceeds {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json_body(request: Request, *, max_bytes: int) -> Any:
    """The request's parsed JSON body: :func:`read_json_bytes`' 415 and 413, and 400 for invalid
    UTF-8 or malformed JSON."""
    raw = await read_json_bytes(request, max_bytes=max_bytes)
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ProblemError(400, "Request body is not valid UTF-8", code="malformed_json") from exc
    except json.JSONDecodeError as exc:
        raise ProblemError(
            400,
            f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            code="malformed_json",
        ) from exc
