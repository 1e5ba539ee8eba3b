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


def test_store_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """A parent killed outright (no cleanup runs) must not leave an orphaned store behind."""
    import os
    import signal
    import subprocess
    import sys

    from tests.support.polling import wait_until

    pid_file = tmp_path / "store.pid"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, pathlib\n"
            "from rsf_server.embedded_store import EmbeddedStore\n"
            "store = EmbeddedStore(data_dir=pathlib.Path(sys.argv[1])).start()\n"
            "pathlib.Path(sys.argv[2]).write_text(str(store.pid))\n"
            "time.sleep(120)\n",
            str(tmp_path / "nx"),
            str(pid_file),
        ]
    )
    try:
        store_pid = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), timeout=20))
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)

        def gone() -> bool:
            try:
                os.kill(store_pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{store_pid}/stat") as stat:  # a zombie counts as gone
                return stat.read().split()[2] == "Z"

        assert wait_until(gone, timeout=10)
    finally:
        if parent.poll() is None:
            parent.kill()
