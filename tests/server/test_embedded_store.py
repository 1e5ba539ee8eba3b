"""The embedded store is a real MongoDB wire-protocol server reached over pymongo."""

from __future__ import annotations

from pathlib import Path

from pymongo import MongoClient
from rsf_server.embedded_store import EmbeddedStore


def test_ping_and_data_survive_restart(tmp_path: Path) -> None:
    with EmbeddedStore(data_dir=tmp_path / "nx") as store:
        with MongoClient(store.uri, serverSelectionTimeoutMS=3000) as client:
            assert client.admin.command("ping")["ok"] == 1
            client["rsf"]["orders"].insert_one({"order_id": "o-1"})
        port = store.port
        store.restart()
        assert store.port == port
        with MongoClient(store.uri, serverSelectionTimeoutMS=3000) as client:
            assert client["rsf"]["orders"].find_one({"order_id": "o-1"}) is not None
    assert not store.running
