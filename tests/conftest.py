"""Fixtures shared by every test folder."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from rsf_server.embedded_store import EmbeddedStore


@pytest.fixture(scope="session")
def nx_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStore]:
    """One nx-27017 server for the session, on a free loopback port; tests use own databases."""
    store = EmbeddedStore(data_dir=tmp_path_factory.mktemp("nx-27017"))
    with store:
        yield store


@pytest.fixture
def mongo_uri(nx_store: EmbeddedStore) -> str:
    return nx_store.uri


@pytest.fixture
def db_name() -> str:
    """A fresh logical database per test, so tests never see each other's documents."""
    return f"rsf_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def private_store(tmp_path: Path) -> Iterator[EmbeddedStore]:
    """An nx-27017 server of the test's own, for tests that kill, hang or restart it."""
    store = EmbeddedStore(data_dir=tmp_path / "nx")
    with store:
        yield store
