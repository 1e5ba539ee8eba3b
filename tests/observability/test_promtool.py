"""``promtool check metrics`` accepts what /metrics serves after real traffic, lint included."""

from __future__ import annotations

import subprocess

import httpx
import pytest
from rsf_observability.metrics import RsfMetrics

from tests.observability.apps.metrics_app import build_app
from tests.support.binaries import require_binary

pytestmark = pytest.mark.external


def promtool_check(promtool: str, exposition: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_promtool_passes_on_metrics_of_a_server_with_traffic_and_errors() -> None:
    promtool = require_binary("promtool")
    metrics = RsfMetrics()
    # Every family gets at least one sample, so lint sees each name, type and help.
    metrics.db_health_status.labels("mongodb", "test").set(1)
    metrics.db_operation_duration_seconds.labels("find", "orders").observe(0.003)
    metrics.db_operations_total.labels("find", "orders", "success").inc()
    metrics.settlement_requests_total.labels("SETTLED", "BAP").inc()
    metrics.settlement_success_rate_percent.set(99.0)
    metrics.settlement_volume_total.labels("INR", "agency-1").inc(1250.5)
    metrics.settlement_processing_duration_seconds.observe(12.0)
    metrics.reconciliation_processing_duration_seconds.observe(0.7)
    metrics.reconciliation_accuracy_percent.set(100.0)
    metrics.reconciliation_discrepancy_amount.observe(0)
    metrics.alerts_total.labels("critical", "firing").inc()
    metrics.log_records_dropped_total.labels("buffer_full").inc()

    transport = httpx.ASGITransport(app=build_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        for path in ["/whoami", "/ui/orders/1", "/ui/tenants/a/orders/2", "/teapot", "/nope"]:
            await c.get(path)
        assert (await c.get("/boom")).status_code == 500
        assert (await c.delete("/whoami")).status_code == 405
        exposition = (await c.get("/metrics", headers={"Accept-Encoding": "identity"})).text

    assert 'status_code="500"' in exposition
    assert 'route="<unmatched>"' in exposition
    assert "system_cpu_usage_percent" in exposition
    result = promtool_check(promtool, exposition)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", result.stdout
    assert result.stderr.strip() == "", result.stderr


def test_promtool_rejects_the_guides_millisecond_name() -> None:
    """Why the guide's ``http_request_duration_ms`` was renamed (see docs/metrics.md)."""
    promtool = require_binary("promtool")
    guide_style = (
        "# HELP http_request_duration_ms Duration of HTTP requests in ms\n"
        "# TYPE http_request_duration_ms histogram\n"
        'http_request_duration_ms_bucket{le="+Inf"} 1\n'
        "http_request_duration_ms_sum 3\n"
        "http_request_duration_ms_count 1\n"
    )
    result = promtool_check(promtool, guide_style)
    assert result.returncode != 0
    assert "http_request_duration_ms" in result.stdout + result.stderr
