"""ContextVars of a request; nothing else lives here (imported by every other module)."""

from __future__ import annotations

from contextvars import ContextVar

correlation_id: ContextVar[str | None] = ContextVar("rsf_correlation_id", default=None)


def get_correlation_id() -> str | None:
    """The correlation id of the request being handled, or ``None`` outside a request."""
    return correlation_id.get()
