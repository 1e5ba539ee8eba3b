"""Fixtures for rsf-core tests: Beanie initialised on a fresh database of the session's nx-27017."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from rsf_core.db import init_db
from rsf_observability.metrics import RsfMetrics


@pytest.fixture
def core_metrics() -> RsfMetrics:
    """A private registry per test, so values checked are this test's alone."""
    return RsfMetrics()


@pytest.fixture
async def beanie_db(
    mongo_uri: str, db_name: str, core_metrics: RsfMetrics
) -> AsyncIterator[AsyncMongoClient[Any]]:
    """Beanie initialised over every rsf-core document on the test's own database.

    Command metrics go to ``core_metrics``. Yields the client; closed after the test.
    """
    client = await init_db(mongo_uri, db_name, metrics=core_metrics)
    try:
        yield client
    finally:
        await client.close()
