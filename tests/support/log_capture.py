"""Capture log records of named loggers in a test, independent of global logging setup."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager


class RecordList(logging.Handler):
    """A handler that keeps every record it receives."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def with_message(self, message: str) -> list[logging.LogRecord]:
        return [r for r in self.records if r.getMessage() == message]

    def one(self, message: str) -> logging.LogRecord:
        found = self.with_message(message)
        assert len(found) == 1, f"expected one {message!r} record, got {len(found)}"
        return found[0]


@contextmanager
def capture_logs(*names: str, level: int = logging.DEBUG) -> Iterator[RecordList]:
    """Attach a :class:`RecordList` to each named logger at ``level``; restore them after."""
    handler = RecordList()
    saved = []
    for name in names:
        logger = logging.getLogger(name)
        saved.append((logger, logger.level, logger.disabled))
        logger.setLevel(level)
        logger.disabled = False
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, old_level, disabled in saved:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.disabled = disabled
