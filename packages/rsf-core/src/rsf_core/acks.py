"""ACK / NACK bodies: what every network-facing answer looks like, and reading the other side's.

ONDC answers synchronously with HTTP 200 and an ACK or NACK; whether the message was *processed*
is told later by the callback (``on_settle``, ``on_recon``). Codes travel as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rsf_core.errors import (
    NACK_BUSINESS_RULE,
    NACK_GENERIC,
    NACK_INVALID_REQUEST,
    NACK_INVALID_SIGNATURE,
    NACK_NOT_PROCESSABLE,
    BusinessRuleViolation,
    DomainError,
    NotFound,
    ValidationFailed,
)

__all__ = [
    "NACK_BUSINESS_RULE",
    "NACK_GENERIC",
    "NACK_INVALID_REQUEST",
    "NACK_INVALID_SIGNATURE",
    "NACK_NOT_PROCESSABLE",
    "AckResult",
    "ack",
    "is_ack",
    "nack",
    "nack_code_for",
    "nack_from_error",
    "parse_ack",
]


def ack() -> dict[str, Any]:
    return {"message": {"ack": {"status": "ACK"}}}


def nack(code: str | int, message: str, path: str | None = None) -> dict[str, Any]:
    """A NACK body; ``path`` is the JSON pointer of the offending field, when there is one."""
    error: dict[str, Any] = {"code": str(code), "message": message}
    if path is not None:
        error["path"] = path
    return {"message": {"ack": {"status": "NACK"}}, "error": error}


def nack_code_for(exc: BaseException) -> str:
    """The NACK code an exception answers with: its own ``nack_code``, else by kind.

    Rules the message breaks (unknown participant, amounts disagree) are 70030; a message that
    is malformed for the domain is 70002; anything unexpected is 70000.
    """
    code = getattr(exc, "nack_code", None)
    if isinstance(code, str):
        return code
    if isinstance(exc, BusinessRuleViolation | NotFound):
        return NACK_BUSINESS_RULE
    if isinstance(exc, ValidationFailed):
        return NACK_INVALID_REQUEST
    if isinstance(exc, DomainError):
        return NACK_BUSINESS_RULE
    return NACK_GENERIC


def nack_from_error(exc: BaseException) -> dict[str, Any]:
    """The NACK body for ``exc``; an unexpected exception says only "Internal error"."""
    code = nack_code_for(exc)
    if not isinstance(exc, DomainError):
        return nack(code, "Internal error")
    path = getattr(exc, "pointer", None)
    return nack(code, exc.message, path if isinstance(path, str) else None)


def is_ack(body: Any) -> bool:
    return parse_ack(body).acked


@dataclass(frozen=True)
class AckResult:
    """The other side's synchronous answer, read defensively (it may be anything)."""

    acked: bool
    error_code: str | None = None
    error_message: str | None = None
    error_path: str | None = None

    @property
    def error_text(self) -> str:
        """One line for the settlement's ``error`` field: ``"70030: amounts disagree"``."""
        parts = [part for part in (self.error_code, self.error_message) if part]
        return ": ".join(parts) if parts else "NACK without error details"


def parse_ack(body: Any) -> AckResult:
    """An :class:`AckResult` from a response body; anything not an explicit ACK is a NACK.

    An ACK that also carries an ``error`` is treated as a NACK: a receiver that reports an error
    has not accepted the message, whatever its status says.
    """
    if not isinstance(body, dict):
        return AckResult(False, error_message="answer is not a JSON object")
    message = body.get("message")
    ack_part = message.get("ack") if isinstance(message, dict) else None
    status = ack_part.get("status") if isinstance(ack_part, dict) else None
    error = body.get("error")
    code = text = path = None
    if isinstance(error, dict):
        code = None if error.get("code") is None else str(error.get("code"))
        text = None if error.get("message") is None else str(error.get("message"))
        path = None if error.get("path") is None else str(error.get("path"))
    if status == "ACK" and not isinstance(error, dict):
        return AckResult(True)
    if status is None and code is None:
        text = text or "answer carries no ack status"
    return AckResult(False, error_code=code, error_message=text, error_path=path)
