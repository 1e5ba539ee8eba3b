"""Fixtures of the SDK tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.loki_receiver import LokiReceiver


@pytest.fixture
def loki_receiver() -> Iterator[LokiReceiver]:
    """A strict Loki push-API receiver on a free loopback port, healthy at the start."""
    with LokiReceiver() as receiver:
        yield receiver
