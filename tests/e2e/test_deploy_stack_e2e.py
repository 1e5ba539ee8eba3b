"""deploy/ against the real tools: Prometheus scrapes the running server and evaluates every
rule; Alertmanager routes alerts to the server's webhook with the bearer token from a file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rsf_server.embedded_store import free_port

from tests.support.binaries import require_binary
from tests.support.polling import wait_until
from tests.support.server_process import ServerProcess, run_server

pytestmark = [pytest.mark.external, pytest.mark.slow]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "stack-test-token"


@pytest.fixture
def server(tmp_path: Path, mongo_uri: str, db_name: str) -> Iterator[ServerProcess]:
    workdir = tmp_path / "server"
    workdir.mkdir()
    env = {"MONGODB_URI": mongo_uri, "MONGODB_DB": db_name, "ALERT_WEBHOOK_TOKEN": TOKEN}
    with run_server(workdir, env) as process:
        yield process


@contextmanager
def _process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _get_json(url: str, **kwargs: Any) -> Any:
    try:
        response = httpx.get(url, timeout=2.0, **kwargs)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_prometheus_scrapes_the_server_and_evaluates_every_rule(
    server: ServerProcess, tmp_path: Path
) -> None:
    binary = require_binary("prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["alerting"]["alertmanagers"] = []
    config["rule_files"] = [str(DEPLOY / "prometheus" / "alerts.yml")]
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "rsf-utility")
    job["scrape_interval"] = "1s"
    job["static_configs"] = [{"targets": [server.base_url.removeprefix("http://")]}]
    config["scrape_configs"] = [job]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    httpx.get(f"{server.base_url}/no-such-page")  # a 404 series to see scraped

    args = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with _process(args, tmp_path / "prometheus.log"):

        def scraped_up() -> bool:
            answer = _get_json(f"{base}/api/v1/query", params={"query": 'up{job="rsf-utility"}'})
            results = (answer or {}).get("data", {}).get("result", [])
            return bool(results) and results[0]["value"][1] == "1"

        wait_until(scraped_up, timeout=45, interval=0.5)

        def rules_evaluated() -> list[dict[str, Any]] | None:
            answer = _get_json(f"{base}/api/v1/rules")
            groups = (answer or {}).get("data", {}).get("groups", [])
            rules = [rule for group in groups for rule in group["rules"]]
            if len(rules) == 8 and all(
                rule.get("lastEvaluation", "").startswith("20") for rule in rules
            ):
                return rules
            return None

        rules = wait_until(rules_evaluated, timeout=30, interval=0.5)
        assert all(rule["health"] == "ok" for rule in rules), rules
        fired = {rule["name"] for rule in rules if rule["state"] != "inactive"}
        assert "RSFUtilityDown" not in fired
        assert "DatabaseConnectionLost" not in fired

        query = 'http_requests_total{job="rsf-utility",status_code="404"}'
        answer = _get_json(f"{base}/api/v1/query", params={"query": query})
        assert answer["data"]["result"], (tmp_path / "prometheus.log").read_text()[-2000:]


def test_alertmanager_delivers_to_the_server_webhook(server: ServerProcess, tmp_path: Path) -> None:
    binary = require_binary("prometheus-alertmanager", "alertmanager")
    (tmp_path / "token").write_text(TOKEN + "\n")
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        # Loopback only: the placeholder email and Slack receivers are dropped for the test.
        receiver.pop("email_configs", None)
        receiver.pop("slack_configs", None)
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = f"{server.base_url}/api/webhooks/alerts"
            hook["http_config"]["authorization"]["credentials_file"] = str(tmp_path / "token")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = [
        binary,
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    with _process(args, tmp_path / "alertmanager.log"):
        wait_until(lambda: _get_json(f"{base}/api/v2/status") is not None, timeout=30)
        now = datetime.now(UTC).isoformat()
        alerts = [
            {
                "labels": {
                    "alertname": "DatabaseConnectionLost",
                    "severity": "critical",
                    "job": "rsf-utility",
                },
                "annotations": {
                    "description": "MongoDB connection has been lost for more than 2 minutes"
                },
                "startsAt": now,
            },
            {
                "labels": {"alertname": "HighMemoryUsage", "severity": "warning", "instance": "a"},
                "annotations": {"description": "Memory usage is 91%"},
                "startsAt": now,
            },
        ]
        posted = httpx.post(f"{base}/api/v2/alerts", json=alerts, timeout=5)
        assert posted.status_code == 200, posted.text
        auth = {"Authorization": f"Bearer {TOKEN}"}

        def delivered() -> dict[str, str] | None:
            listing = _get_json(f"{server.base_url}/api/webhooks/alerts", headers=auth)
            items = (listing or {}).get("items", [])
            found = {item["alertname"]: item["severity"] for item in items}
            return found if len(found) == 2 else None

        found = wait_until(delivered, timeout=45, interval=0.5)
        assert found == {"DatabaseConnectionLost": "critical", "HighMemoryUsage": "warning"}
        assert httpx.get(f"{server.base_url}/api/webhooks/alerts").status_code == 401
        metrics = httpx.get(f"{server.base_url}/metrics").text
        assert 'alerts_total{severity="critical",status="firing"} 1.0' in metrics
