"""Automated responses to critical alerts, registered by alertname (the guide's
``handleCriticalAlert``).

Handlers run in the background, each bounded by a timeout; a failing or slow handler is logged
on ``rsf.alerts`` and never fails the webhook response (Alertmanager would only retry it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rsf_observability.alert_store import AlertRecord
from rsf_observability.log_setup import TemporaryLogLevel, temporary_log_level
from rsf_observability.settings import ObservabilitySettings

logger = logging.getLogger("rsf.alerts")

AlertHandler = Callable[[AlertRecord], Awaitable[object]]
Hook = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class _Registered:
    name: str
    handler: AlertHandler


def _handler_name(handler: AlertHandler) -> str:
    return str(getattr(handler, "name", None) or getattr(handler, "__name__", None) or "handler")


class AlertHandlers:
    """Handlers by alertname; ``dispatch()`` starts them and returns at once."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._handlers: dict[str, list[_Registered]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, alertname: str, handler: AlertHandler, *, name: str | None = None) -> None:
        """Run ``handler`` for every new critical firing alert named ``alertname``."""
        entry = _Registered(name or _handler_name(handler), handler)
        self._handlers.setdefault(alertname, []).append(entry)

    def names_for(self, alertname: str) -> tuple[str, ...]:
        return tuple(entry.name for entry in self._handlers.get(alertname, ()))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def dispatch(self, record: AlertRecord) -> int:
        """Start every handler of ``record.alertname`` in the background; how many started."""
        entries = self._handlers.get(record.alertname, ())
        for entry in entries:
            task = asyncio.create_task(self._run(entry, record), name=f"alert:{entry.name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(entries)

    async def drain(self, within: float | None = None) -> bool:
        """Wait up to ``within`` seconds for running handlers (shutdown, tests); ``True`` when
        none is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=within)
        return not self._tasks

    async def _run(self, entry: _Registered, record: AlertRecord) -> None:
        context = {
            "alertname": record.alertname,
            "handler": entry.name,
            "fingerprint": record.fingerprint,
        }
        try:
            await asyncio.wait_for(entry.handler(record), self.timeout)
        except TimeoutError:
            logger.error(
                "Alert handler timed out", extra={**context, "timeout_seconds": self.timeout}
            )
        except Exception:
            logger.exception("Alert handler failed", extra=context)
        else:
            logger.info("Alert handler finished", extra=context)


class DebugLoggingHandler:
    """``HighErrorRate``: log at debug for ``duration`` seconds, then restore the level.

    Built on :func:`~rsf_observability.log_setup.temporary_log_level`, so a second alert while
    the window is open extends it and the level from before the first one comes back.
    """

    name = "debug_logging"

    def __init__(self, duration: float, *, level: str = "debug") -> None:
        self.duration = duration
        self.level = level
        self.last: TemporaryLogLevel | None = None

    async def __call__(self, record: AlertRecord) -> None:
        self.last = temporary_log_level(self.level, self.duration)
        logger.warning(
            "Log level raised for an alert",
            extra={
                "alertname": record.alertname,
                "log_level": self.level,
                "duration_seconds": self.duration,
            },
        )

    def restore(self) -> None:
        """End the debug window now (shutdown)."""
        if self.last is not None:
            self.last.restore()


class HookHandler:
    """Call an async hook (reconnect, restart); without one, only log what would be done."""

    def __init__(self, name: str, hook: Hook | None = None, *, action: str) -> None:
        self.name = name
        self.hook = hook
        self.action = action

    async def __call__(self, record: AlertRecord) -> None:
        context = {"alertname": record.alertname, "action": self.action}
        if self.hook is None:
            logger.warning("No hook configured; alert noted only", extra=context)
            return
        logger.warning("Running alert hook", extra=context)
        await self.hook()


def default_alert_handlers(
    settings: ObservabilitySettings | None = None,
    *,
    reconnect: Hook | None = None,
    restart: Hook | None = None,
) -> AlertHandlers:
    """The guide's three automated responses.

    ``HighErrorRate`` -> debug logging for ``alert_debug_duration``; ``DatabaseConnectionLost``
    -> ``reconnect()``; ``RSFUtilityDown`` -> ``restart()`` (default: log only).
    """
    settings = settings or ObservabilitySettings()
    handlers = AlertHandlers(timeout=settings.alert_handler_timeout)
    handlers.register("HighErrorRate", DebugLoggingHandler(settings.alert_debug_duration))
    handlers.register(
        "DatabaseConnectionLost",
        HookHandler("database_reconnect", reconnect, action="reconnect database"),
    )
    handlers.register(
        "RSFUtilityDown", HookHandler("service_restart", restart, action="restart service")
    )
    return handlers
