"""``configure_logging``: stdlib logging set up the way the operations guide describes.

The root logger gets one console handler (the dev format or JSON lines) and, when ``LOKI_HOST``
is set, a :class:`~rsf_observability.loki.LokiHandler`. Calling it again replaces only the
handlers it installed. The level can change at run time (:func:`set_log_level`) or be raised for
a while (:func:`temporary_log_level`, used by the alert handler to collect debug logs).
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import sys
import threading
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Any, TextIO

from rsf_observability.log_enrichment import install_record_factory
from rsf_observability.log_format import DevFormatter, JsonFormatter, level_name
from rsf_observability.loki import LokiHandler, ShipperNoiseFilter
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings

LEVELS: dict[str, int] = {
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
    "critical": logging.ERROR,
}

_INSTALLED = "_rsf_observability_installed"


def parse_level(level: str | int) -> int:
    """``"warn"``/``"WARNING"``/``30`` -> ``logging.WARNING``; unknown names raise ``ValueError``."""
    if isinstance(level, int):
        return level
    try:
        return LEVELS[level.strip().lower()]
    except KeyError:
        raise ValueError(
            f"unknown log level {level!r}; use one of error, warn, info, debug"
        ) from None


# --- run-time level --------------------------------------------------------------------------

_level_lock = threading.RLock()
_base_level: int | None = None  # the level to go back to while temporary levels are active
_grants: list[TemporaryLogLevel] = []


def set_log_level(level: str | int) -> None:
    """Set the root level now; ends any temporary level (an explicit choice wins)."""
    value = parse_level(level)
    with _level_lock:
        active = list(_grants)
        _grants.clear()
        global _base_level
        _base_level = None
        logging.getLogger().setLevel(value)
    for grant in active:
        grant._finish()


def get_log_level() -> str:
    """The root level in the guide's names (``error``, ``warn``, ``info``, ``debug``)."""
    return level_name(logging.getLogger().getEffectiveLevel())


def temporary_log_level(level: str | int, seconds: float) -> TemporaryLogLevel:
    """Switch the root level to ``level`` for ``seconds``, then go back by itself.

    Returns a handle: ``restore()`` (or ``cancel()``) ends it early and is harmless twice;
    ``await handle`` waits until it has ended; it is also a (async) context manager. While
    several are active the most verbose wins, each keeps its own deadline, and the level before
    the first one is restored once the last has ended, so overlapping raises extend rather than
    stack: the second never "restores" to the first one's debug level.
    """
    value = parse_level(level)
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    grant = TemporaryLogLevel(value, seconds)
    with _level_lock:
        global _base_level
        if not _grants:
            _base_level = logging.getLogger().level
        _grants.append(grant)
        _apply_level()
    grant._start()
    return grant


def _apply_level() -> None:
    if _grants:
        logging.getLogger().setLevel(min(grant.levelno for grant in _grants))
    elif _base_level is not None:
        logging.getLogger().setLevel(_base_level)


def _release(grant: TemporaryLogLevel) -> None:
    with _level_lock:
        if grant not in _grants:
            return
        _grants.remove(grant)
        _apply_level()
        if not _grants:
            global _base_level
            _base_level = None


class TemporaryLogLevel:
    """Handle of one :func:`temporary_log_level` call."""

    def __init__(self, levelno: int, seconds: float) -> None:
        self.levelno = levelno
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self.restore)
        self._timer.daemon = True
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    @property
    def level(self) -> str:
        return level_name(self.levelno)

    @property
    def active(self) -> bool:
        return not self._done.is_set()

    def _start(self) -> None:
        self._timer.start()

    def restore(self) -> None:
        """End this temporary level now (idempotent)."""
        _release(self)
        self._finish()

    cancel = restore

    def _finish(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._done.is_set():
                return
            self._done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the level was restored; ``True`` if it was."""
        return self._done.wait(timeout)

    def __await__(self) -> Generator[Any, None, None]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                future.set_result(None)
            else:
                self._waiters.append((loop, future))
        return future.__await__()

    def __enter__(self) -> TemporaryLogLevel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    async def __aenter__(self) -> TemporaryLogLevel:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()

    def __repr__(self) -> str:
        state = "active" if self.active else "restored"
        return f"TemporaryLogLevel(level={self.level!r}, seconds={self.seconds}, {state})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- handlers ------------------------------------------------------------------------------


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """``StreamHandler`` writing each line and flushing it in one step.

    ``handle`` already holds the handler's lock around ``emit``: the stream is flushed directly
    rather than through ``flush()``, which takes the lock again (one record, three calls fewer).
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = self.stream
            stream.write(line + self.terminator)
            flush = getattr(stream, "flush", None)
            if flush is not None:
                flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


class _StdoutHandler(_ConsoleHandler):
    """Writes to whatever ``sys.stdout`` is at the time (test capture, redirection)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> IO[str]:
        return sys.stdout

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


@dataclass
class LoggingRuntime:
    """What :func:`configure_logging` installed, and how to shut it down."""

    settings: ObservabilitySettings
    console_handler: logging.Handler
    loki_handler: LokiHandler | None = None
    _closed: bool = field(default=False, repr=False)

    @property
    def handlers(self) -> list[logging.Handler]:
        return [h for h in (self.console_handler, self.loki_handler) if h is not None]

    def flush(self, timeout: float | None = None) -> bool:
        """Push out what is buffered; ``True`` when everything reached Loki in time."""
        self.console_handler.flush()
        if self.loki_handler is None or self._closed:
            return True
        return self.loki_handler.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> None:
        """Deliver buffered Loki records within ``timeout`` (default ``LOKI_SHUTDOWN_TIMEOUT``).

        The Loki handler is closed and removed; the console handler stays, so lines logged
        while the process winds down are still printed. Safe to call many times.
        """
        if self._closed:
            return
        self._closed = True
        self.console_handler.flush()
        if self.loki_handler is not None:
            logging.getLogger().removeHandler(self.loki_handler)
            self.loki_handler.close(timeout)

    async def aflush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a deadline for the worker thread
        return await asyncio.to_thread(self.flush, timeout)

    async def ashutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """:meth:`shutdown` off the event loop (it may wait on the network)."""
        await asyncio.to_thread(self.shutdown, timeout)


_config_lock = threading.Lock()
_current: LoggingRuntime | None = None
_atexit_registered = False


def configure_logging(
    settings: ObservabilitySettings | None = None,
    *,
    metrics: RsfMetrics | None = None,
    stream: TextIO | None = None,
) -> LoggingRuntime:
    """Install the SDK's handlers on the root logger (idempotent; replaces only its own).

    ``stream`` defaults to the current ``sys.stdout``. The format follows
    ``settings.resolved_log_format`` (dev in development, JSON elsewhere), the level
    ``LOG_LEVEL``; with ``LOKI_HOST`` records are also shipped to Loki (always as JSON).
    """
    settings = settings or ObservabilitySettings()
    install_record_factory()
    console: logging.Handler = _StdoutHandler() if stream is None else _ConsoleHandler(stream)
    formatter: logging.Formatter
    if settings.resolved_log_format == "dev":
        formatter = DevFormatter(
            stream=sys.stdout if stream is None else stream, redact_keys=settings.redact_keys
        )
    else:
        formatter = JsonFormatter(
            service=settings.service_name,
            environment=settings.environment,
            redact_keys=settings.redact_keys,
        )
    console.setFormatter(formatter)
    console.addFilter(ShipperNoiseFilter())
    # A JSON console shares its formatter with Loki: each record is formatted once.
    shared = formatter if isinstance(formatter, JsonFormatter) else None
    loki = (
        LokiHandler.from_settings(settings, metrics=metrics, formatter=shared)
        if settings.loki_host
        else None
    )
    runtime = LoggingRuntime(settings=settings, console_handler=console, loki_handler=loki)

    global _current, _atexit_registered
    root = logging.getLogger()
    with _config_lock:
        previous = _current
        for handler in list(root.handlers):
            if getattr(handler, _INSTALLED, False):
                root.removeHandler(handler)
        for handler in runtime.handlers:
            setattr(handler, _INSTALLED, True)
            root.addHandler(handler)
        _current = runtime
        if not _atexit_registered:
            atexit.register(shutdown_logging)
            _atexit_registered = True
    set_log_level(settings.log_level)
    if previous is not None:
        previous.shutdown()
    return runtime


def get_logging_runtime() -> LoggingRuntime | None:
    """The runtime of the last :func:`configure_logging` call, if any."""
    return _current


def shutdown_logging(timeout: float | None = None) -> None:
    """Flush and stop Loki shipping of the current configuration (atexit calls this)."""
    runtime = _current
    if runtime is not None:
        runtime.shutdown(timeout)


async def ashutdown_logging(timeout: float | None = None) -> None:  # noqa: ASYNC109
    """:func:`shutdown_logging` for an ASGI lifespan shutdown (runs off the event loop)."""
    runtime = _current
    if runtime is not None:
        await runtime.ashutdown(timeout)


@asynccontextmanager
async def logging_lifespan(app: object = None) -> AsyncIterator[None]:
    """``Starlette(lifespan=logging_lifespan)``: flush Loki within its deadline on shutdown."""
    try:
        yield
    finally:
        await ashutdown_logging()
