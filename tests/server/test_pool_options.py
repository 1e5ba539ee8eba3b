"""The server's MongoDB client carries the guide's pool options (configurable)."""

from __future__ import annotations

import pytest
from rsf_server.app import create_app
from rsf_server.config import ServerSettings
from rsf_server.mongo_pool import mongo_client_options

from tests.support.perf_server import serve, server_settings


async def test_running_server_uses_the_guide_pool_options(mongo_uri: str, db_name: str) -> None:
    app = create_app(server_settings(mongo_uri, db_name))
    async with serve(app) as client:
        assert (await client.get("/ui/health/db")).status_code == 200
        mongo = app.state.rsf.client
        pool = mongo.options.pool_options
        assert pool.max_pool_size == 10
        assert pool.min_pool_size == 2
        assert pool.max_idle_time_seconds == 30
        assert pool.socket_timeout is None  # opt-in: see config.py
        assert mongo.options.server_selection_timeout == 5


async def test_pool_options_follow_the_settings(mongo_uri: str, db_name: str) -> None:
    settings = server_settings(
        mongo_uri,
        db_name,
        mongodb_max_pool_size=8,
        mongodb_min_pool_size=1,
        mongodb_max_idle_time_ms=60000,
        db_timeout_ms=5000,
    )
    app = create_app(settings)
    async with serve(app) as client:
        assert (await client.get("/ui/health/db")).status_code == 200
        mongo = app.state.rsf.client
        pool = mongo.options.pool_options
        assert (pool.max_pool_size, pool.min_pool_size) == (8, 1)
        assert pool.max_idle_time_seconds == 60
        assert mongo.options.server_selection_timeout == 5


def test_pool_options_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_MAX_POOL_SIZE", "20")
    monkeypatch.setenv("MONGODB_MIN_POOL_SIZE", "5")
    monkeypatch.setenv("MONGODB_MAX_IDLE_TIME_MS", "60000")
    monkeypatch.setenv("MONGODB_SOCKET_TIMEOUT_MS", "30000")
    options = mongo_client_options(ServerSettings())
    assert options["maxPoolSize"] == 20
    assert options["minPoolSize"] == 5
    assert options["maxIdleTimeMS"] == 60000
    assert options["socketTimeoutMS"] == 30000
    # mongoose's bufferMaxEntries has no pymongo counterpart and is never passed.
    assert "bufferMaxEntries" not in options
