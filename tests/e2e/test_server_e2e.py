"""The real server process: ``python -m rsf_server`` with its embedded store, end to end."""

from __future__ import annotations

from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.polling import wait_until
from tests.support.server_process import run_server

pytestmark = pytest.mark.slow

PARTICIPANT = {
    "title": "Seller NP",
    "role": "BPP",
    "subscriber_url": "https://seller.example.com/api",
    "domain": "ONDC:RET10",
}


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _token(http: httpx.Client) -> dict[str, str]:
    response = http.post("/ui/auth/sign-token", json={"client_id": "e2e"})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['data']['token']}"}


def test_server_serves_with_embedded_store_and_stops_cleanly(tmp_path: Path) -> None:
    env = {"JWT_SECRET": "e2e-secret"}
    with run_server(tmp_path, env) as server:
        children = psutil.Process(server.proc.pid).children(recursive=True)
        stores = [child.pid for child in children if "nx_27017" in " ".join(child.cmdline())]
        assert len(stores) == 1, [c.cmdline() for c in children]
        assert (tmp_path / ".rsf-data" / "store.uri").read_text().startswith("mongodb://127.0.0.1:")

        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            detailed = http.get("/health/detailed").json()
            assert detailed["services"]["database"]["status"] == "healthy"
            auth = _token(http)
            created = http.post("/ui/users", json=PARTICIPANT, headers=auth)
            assert created.status_code == 201, created.text
            user_id = created.json()["data"]["id"]
            orders = http.get(f"/ui/orders/{user_id}", headers=auth)
            assert orders.json()["data"]["total"] == 0
            missing = http.get("/no-such-page")
            assert missing.status_code == 404
            assert missing.json()["correlationId"] == missing.headers["x-correlation-id"]
            metrics = http.get("/metrics").text
        assert 'route="/ui/users",status_code="201"' in metrics
        assert 'route="/ui/orders/{user_id}"' in metrics
        assert "db_health_status{" in metrics
        assert "system_memory_usage_percent{" in metrics

        assert server.terminate() == 0
        assert "Traceback" not in server.log()
        wait_until(lambda: all(_gone(pid) for pid in stores), timeout=10)
        assert not (tmp_path / ".rsf-data" / "store.uri").exists()

    # The embedded store's data directory outlives the process.
    with run_server(tmp_path, env) as again, httpx.Client(base_url=again.base_url) as http:
        users = http.get("/ui/users", headers=_token(http)).json()["data"]
        assert [user["title"] for user in users] == ["Seller NP"]
        assert again.terminate() == 0
