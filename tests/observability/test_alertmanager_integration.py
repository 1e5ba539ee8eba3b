"""A real Alertmanager delivers to our router: firing, repeats and resolved, with credentials."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from rsf_observability.alert_handlers import AlertHandlers
from rsf_observability.alert_memory_store import InMemoryAlertStore
from rsf_observability.alert_router import AlertWebhook
from rsf_observability.alert_store import AlertQuery, AlertRecord
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_server.embedded_store import free_port
from starlette.applications import Starlette

from tests.support.binaries import require_binary
from tests.support.polling import async_wait_until
from tests.support.uvicorn_server import serve_on_loopback as _serve

pytestmark = [pytest.mark.external, pytest.mark.slow]

TOKEN = "am-bearer-token-for-tests"
USER, PASSWORD = "alertmanager", "basic-password-for-tests"


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _config(webhook_url: str, auth: str) -> dict[str, Any]:
    if auth == "bearer":
        http_config: dict[str, Any] = {"authorization": {"type": "Bearer", "credentials": TOKEN}}
    else:
        http_config = {"basic_auth": {"username": USER, "password": PASSWORD}}
    return {
        "route": {
            "receiver": "rsf",
            "group_by": ["alertname"],
            "group_wait": "200ms",
            "group_interval": "1s",
            "repeat_interval": "2s",
        },
        "receivers": [
            {
                "name": "rsf",
                "webhook_configs": [
                    {"url": webhook_url, "send_resolved": True, "http_config": http_config}
                ],
            }
        ],
    }


@contextlib.contextmanager
def _alertmanager(tmp_path: Path, config: dict[str, Any]) -> Iterator[str]:
    binary = require_binary("prometheus-alertmanager", "alertmanager")
    port = free_port()
    config_file = tmp_path / "alertmanager.yml"
    config_file.write_text(json.dumps(config))  # JSON is YAML
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.path={tmp_path / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


async def _ready(client: httpx.AsyncClient, base: str) -> bool:
    with contextlib.suppress(httpx.HTTPError):
        return (await client.get(f"{base}/-/ready")).status_code == 200
    return False


@pytest.mark.parametrize("auth", ["bearer", "basic"])
async def test_alertmanager_delivers_firing_repeats_and_resolved(tmp_path: Path, auth: str) -> None:
    if auth == "bearer":
        settings = ObservabilitySettings(alert_webhook_token=TOKEN)
    else:
        settings = ObservabilitySettings(
            alert_webhook_username=USER, alert_webhook_password=PASSWORD
        )
    store = InMemoryAlertStore()
    metrics = RsfMetrics()
    handlers = AlertHandlers(timeout=5)
    handled: list[AlertRecord] = []

    async def reconnect(record: AlertRecord) -> None:
        handled.append(record)

    handlers.register("DatabaseConnectionLost", reconnect)
    webhook = AlertWebhook(store, metrics=metrics, settings=settings, handlers=handlers)
    app = Starlette(routes=webhook.routes)

    def delivered(severity: str, status: str) -> float:
        labels = {"severity": severity, "status": status}
        return metrics.registry.get_sample_value("alerts_total", labels) or 0.0

    async def records(status: str) -> list[AlertRecord]:
        return (await store.query(AlertQuery(status=status, limit=100))).items

    starts = datetime.now(UTC) - timedelta(seconds=30)
    alerts = [
        {
            "labels": {"alertname": "DatabaseConnectionLost", "severity": "critical"},
            "annotations": {"description": "MongoDB connection has been lost"},
            "generatorURL": "http://127.0.0.1:9090/graph",
        },
        {
            "labels": {"alertname": "HighMemoryUsage", "severity": "warning"},
            "annotations": {"description": "Memory usage is 91%"},
        },
    ]

    async with (
        _serve(app) as base,
        httpx.AsyncClient(trust_env=False, timeout=5) as client,
    ):
        with _alertmanager(tmp_path, _config(f"{base}/api/webhooks/alerts", auth)) as am:
            await async_wait_until(lambda: _ready(client, am), timeout=30, interval=0.1)
            firing = [
                {**a, "startsAt": _iso(starts), "endsAt": _iso(starts + timedelta(hours=1))}
                for a in alerts
            ]
            pushed = await client.post(f"{am}/api/v2/alerts", json=firing)
            assert pushed.status_code == 200, pushed.text

            await async_wait_until(lambda: _count(records("firing"), 2), timeout=20, interval=0.1)
            # Alertmanager re-sends the still-firing groups on repeat_interval ...
            await async_wait_until(
                lambda: delivered("critical", "firing") >= 2, timeout=30, interval=0.1
            )
            # ... and a repeat makes no second record and does not re-run the handler.
            assert len(await records("firing")) == 2
            await handlers.drain(5)
            assert [r.alertname for r in handled] == ["DatabaseConnectionLost"]

            resolve_at = datetime.now(UTC) - timedelta(seconds=1)
            resolved = [{**a, "startsAt": _iso(starts), "endsAt": _iso(resolve_at)} for a in alerts]
            pushed = await client.post(f"{am}/api/v2/alerts", json=resolved)
            assert pushed.status_code == 200, pushed.text
            await async_wait_until(lambda: _count(records("resolved"), 2), timeout=20, interval=0.1)

    firing_records = await records("firing")
    resolved_records = await records("resolved")
    assert len(firing_records) == 2
    assert len(resolved_records) == 2
    by_name = {r.alertname: r for r in firing_records}
    critical = by_name["DatabaseConnectionLost"]
    assert critical.severity == "critical"
    assert critical.description == "MongoDB connection has been lost"
    assert critical.generator_url == "http://127.0.0.1:9090/graph"
    assert abs((critical.starts_at - starts).total_seconds()) < 1
    assert critical.handled_by == ("reconnect",)
    assert {r.fingerprint for r in resolved_records} == {r.fingerprint for r in firing_records}
    assert all(r.ends_at is not None for r in resolved_records)
    assert [r.alertname for r in handled] == ["DatabaseConnectionLost"]


async def _count(pending: Any, expected: int) -> bool:
    return len(await pending) >= expected


async def test_alertmanager_with_wrong_credentials_stores_nothing(tmp_path: Path) -> None:
    rejected: list[logging.LogRecord] = []

    class _Rejections(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("Alert webhook request rejected"):
                rejected.append(record)

    logger = logging.getLogger("rsf.alerts")
    handler = _Rejections(logging.WARNING)
    logger.addHandler(handler)
    old_disabled, logger.disabled = logger.disabled, False
    store = InMemoryAlertStore()
    settings = ObservabilitySettings(alert_webhook_token="the-right-token")
    webhook = AlertWebhook(store, metrics=RsfMetrics(), settings=settings, handlers=AlertHandlers())
    try:
        async with (
            _serve(Starlette(routes=webhook.routes)) as base,
            httpx.AsyncClient(trust_env=False, timeout=5) as client,
        ):
            config = _config(f"{base}/api/webhooks/alerts", "bearer")  # sends TOKEN: wrong
            with _alertmanager(tmp_path, config) as am:
                await async_wait_until(lambda: _ready(client, am), timeout=30, interval=0.1)
                alert = {"labels": {"alertname": "RSFUtilityDown", "severity": "critical"}}
                pushed = await client.post(f"{am}/api/v2/alerts", json=[alert])
                assert pushed.status_code == 200, pushed.text
                await async_wait_until(lambda: len(rejected) >= 1, timeout=20, interval=0.1)
    finally:
        logger.removeHandler(handler)
        logger.disabled = old_disabled
    assert len(store) == 0
