"""Fixtures of the SDK tests."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from rsf_observability import log_setup

from tests.support.loki_receiver import LokiReceiver


@pytest.fixture
def loki_receiver() -> Iterator[LokiReceiver]:
    """A strict Loki push-API receiver on a free loopback port, healthy at the start."""
    with LokiReceiver() as receiver:
        yield receiver


@pytest.fixture
def clean_root_logging() -> Iterator[logging.Logger]:
    """Give a test the root logger and put its handlers and level back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield root
    finally:
        log_setup.shutdown_logging(timeout=2)
        log_setup.set_log_level(level or logging.WARNING)
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
                handler.close()
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)
