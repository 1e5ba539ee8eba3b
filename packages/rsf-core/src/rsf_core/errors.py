"""Domain errors (mapped to HTTP by the server) and the ONDC NACK codes of the spec."""

from __future__ import annotations

from typing import Any

# --- ONDC NACK codes -----------------------------------------------------------------------
NACK_GENERIC = "70000"
NACK_INVALID_SIGNATURE = "70001"
NACK_INVALID_REQUEST = "70002"
NACK_BUSINESS_RULE = "70030"
NACK_NOT_PROCESSABLE = "503"


class DomainError(Exception):
    """A rule of the domain was broken; ``code`` is stable, ``message`` is for people.

    ``http_status`` is the suggested UI-API status; services never speak HTTP themselves.
    """

    http_status = 400
    default_code = "DOMAIN_ERROR"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code or self.default_code
        self.message = message
        self.details: dict[str, Any] = details or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class NotFound(DomainError):
    http_status = 404
    default_code = "NOT_FOUND"


class Conflict(DomainError):
    http_status = 409
    default_code = "CONFLICT"


class ValidationFailed(DomainError):
    http_status = 422
    default_code = "VALIDATION_FAILED"


class BusinessRuleViolation(DomainError):
    """A well-formed request the domain refuses (e.g. recon while one is pending)."""

    http_status = 409
    default_code = "BUSINESS_RULE"
