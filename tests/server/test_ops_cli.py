"""``rsf-ops`` against real stores: backup/restore round trip, retention, stuck settlements,
indexes, and health-check exit codes against a running server."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId
from pymongo import ASCENDING, MongoClient
from rsf_server.embedded_store import free_port
from rsf_server.ops_cli import main

from tests.support.server_process import run_server


@pytest.fixture
def mongo(mongo_uri: str) -> Any:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)
    yield client
    client.close()


def _seed(db: Any) -> None:
    db.users.insert_many(
        [{"_id": ObjectId(), "title": f"NP {i}", "role": "BAP", "np_tcs": "1.00"} for i in range(3)]
    )
    db.users.create_index([("title", ASCENDING)], unique=True, name="title_unique")
    db.orders.insert_many(
        [
            {
                "order_id": f"O-{i}",
                "user_id": "u1",
                "quote": {"total_order_value": "1000.00", "breakup": [{"title": "item"}]},
                "created_at": datetime(2026, 1, 15, 10, 30, i, tzinfo=UTC),
            }
            for i in range(25)
        ]
    )
    db.create_collection("alert_logs")


def _snapshot(db: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        name: list(db[name].find({}, sort=[("_id", 1)]))
        for name in sorted(db.list_collection_names())
    }


def test_backup_wipe_restore_round_trip(
    mongo: Any, mongo_uri: str, db_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = mongo[db_name]
    _seed(db)
    before = _snapshot(db)
    storage = tmp_path / "backups"
    db_args = ["--mongodb-uri", mongo_uri, "--db", db_name]

    assert main(["backup", *db_args, "--storage", str(storage)]) == 0
    archives = list(storage.glob("rsf_backup_*.tar.gz"))
    assert len(archives) == 1
    assert "Backup verification successful" in capsys.readouterr().out
    with tarfile.open(archives[0]) as tar:
        names = tar.getnames()
    assert any(name.endswith(f"{db_name}/orders.bson") for name in names)

    mongo.drop_database(db_name)
    assert mongo[db_name].list_collection_names() == []

    assert main(["restore", str(archives[0]), *db_args, "--yes", "--skip-health"]) == 0
    assert "Restoration successful: 3 collections restored" in capsys.readouterr().out
    assert _snapshot(mongo[db_name]) == before
    # By key, not name: nx-27017 names indexes itself (idx_<collection>_<field>).
    indexes = {tuple(dict(spec["key"])): spec for spec in mongo[db_name].users.list_indexes()}
    assert indexes[("title",)].get("unique") is True


def test_backup_retention_removes_only_old_archives(
    mongo: Any, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    mongo[db_name].users.insert_one({"title": "one"})
    storage = tmp_path / "backups"
    storage.mkdir()
    old = storage / "rsf_backup_20200101_000000.tar.gz"
    recent = storage / "rsf_backup_20990101_000000.tar.gz"
    unrelated = storage / "notes.tar.gz"
    for path in (old, recent, unrelated):
        path.write_bytes(b"x")
    month_ago = time.time() - 31 * 86400
    os.utime(old, (month_ago, month_ago))
    os.utime(unrelated, (month_ago, month_ago))

    code = main(
        [
            *("backup", "--mongodb-uri", mongo_uri, "--db", db_name),
            *("--storage", str(storage), "--retention-days", "30"),
        ]
    )
    assert code == 0
    assert not old.exists()
    assert recent.exists()
    assert unrelated.exists()
    assert len(list(storage.glob("rsf_backup_*.tar.gz"))) == 2


def test_restore_refuses_a_corrupt_or_missing_archive(
    mongo_uri: str, db_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corrupt = tmp_path / "rsf_backup_20260101_000000.tar.gz"
    corrupt.write_bytes(b"not a tarball")
    args = ["--mongodb-uri", mongo_uri, "--db", db_name, "--yes", "--skip-health"]
    assert main(["restore", str(corrupt), *args]) == 1
    assert "verification failed" in capsys.readouterr().out
    assert main(["restore", str(tmp_path / "missing.tar.gz"), *args]) == 1
    assert "not found" in capsys.readouterr().out


def _settlement(order_id: str, status: str, initiated: datetime) -> dict[str, Any]:
    return {
        "settlement_id": f"S-{order_id}",
        "order_id": order_id,
        "user_id": "u1",
        "collector_id": "buyer.example.com",
        "receiver_id": "seller.example.com",
        "status": status,
        "provider_status": "PREPARED",
        "self_status": "PREPARED",
        "initiated_date": initiated,
        "created_at": initiated,
        "updated_at": initiated,
    }


def test_reset_stuck_resets_only_old_pending_settlements(
    mongo: Any, mongo_uri: str, db_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    mongo[db_name].settles.insert_many(
        [
            _settlement("old-1", "PENDING", now - timedelta(minutes=45)),
            _settlement("old-2", "PENDING", now - timedelta(hours=3)),
            _settlement("fresh", "PENDING", now - timedelta(minutes=5)),
            _settlement("done", "SETTLED", now - timedelta(hours=5)),
        ]
    )
    args = ["--mongodb-uri", mongo_uri, "--db", db_name]
    assert main(["stuck-count", *args]) == 0
    assert capsys.readouterr().out.strip() == "2"

    assert main(["reset-stuck", *args]) == 0
    output = capsys.readouterr().out
    assert "Reset 2 stuck settlement(s)" in output
    by_order = {doc["order_id"]: doc for doc in mongo[db_name].settles.find()}
    assert by_order["old-1"]["status"] == "NOT_SETTLED"
    assert by_order["old-1"]["error"] == "Timeout reset"
    assert by_order["fresh"]["status"] == "PENDING"
    assert by_order["done"]["status"] == "SETTLED"

    assert main(["stuck-count", *args]) == 0
    assert capsys.readouterr().out.strip() == "0"


def test_create_indexes_adds_the_runbook_indexes(mongo: Any, mongo_uri: str, db_name: str) -> None:
    args = ["--mongodb-uri", mongo_uri, "--db", db_name]
    assert main(["create-indexes", *args]) == 0
    assert main(["create-indexes", *args]) == 0  # idempotent
    # Field order only: nx-27017 lists a descending key with direction 1.
    settles = [list(dict(spec["key"])) for spec in mongo[db_name].settles.list_indexes()]
    assert ["user_id", "status", "created_at"] in settles
    recons = [list(dict(spec["key"])) for spec in mongo[db_name].recons.list_indexes()]
    assert ["user_id", "created_at"] in recons


def test_health_check_exit_codes(
    mongo_uri: str, db_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"MONGODB_URI": mongo_uri, "MONGODB_DB": db_name}
    with run_server(tmp_path, env) as server:
        code = main(
            [
                *("health-check", "--backend-url", server.base_url),
                *("--mongodb-uri", mongo_uri, "--timeout", "5"),
            ]
        )
        output = capsys.readouterr().out
        assert code == 0, output
        assert "Overall health check passed" in output
        assert "sign-token issued a token" in output
        assert "ping ok" in output

    nobody = f"http://127.0.0.1:{free_port()}"
    code = main(["health-check", "--backend-url", nobody, "--skip-db", "--timeout", "2"])
    output = capsys.readouterr().out
    assert code == 1
    assert "Overall health check failed" in output


def test_deploy_scripts_wrap_rsf_ops(
    mongo: Any, mongo_uri: str, db_name: str, tmp_path: Path
) -> None:
    mongo[db_name].users.insert_one({"title": "scripted"})
    scripts = Path(__file__).resolve().parents[2] / "deploy" / "scripts"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "MONGODB_URI": mongo_uri,
        "MONGODB_DB": db_name,
        "BACKUP_STORAGE_PATH": str(tmp_path / "backups"),
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )

    backup = run(str(scripts / "backup.sh"))
    assert backup.returncode == 0, backup.stdout + backup.stderr
    (archive,) = (tmp_path / "backups").glob("rsf_backup_*.tar.gz")
    usage = run(str(scripts / "restore.sh"))
    assert usage.returncode == 1
    assert "Usage" in usage.stderr
    restored = run(str(scripts / "restore.sh"), str(archive), "--yes", "--skip-health")
    assert restored.returncode == 0, restored.stdout + restored.stderr
    nobody = f"http://127.0.0.1:{free_port()}"
    down = run(str(scripts / "health-check.sh"), "-b", nobody, "--skip-db", "--timeout", "2")
    assert down.returncode == 1
