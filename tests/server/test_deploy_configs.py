"""The deploy/ configs are valid for the real tools and agree with the SDK's metric names."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from rsf_observability.metrics import RsfMetrics

from tests.support.binaries import require_binary

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
GUIDE_ALERTS = {
    "RSFUtilityDown",
    "DatabaseConnectionLost",
    "HighErrorRate",
    "HighMemoryUsage",
    "HighDatabaseLatency",
    "LowSettlementSuccessRate",
    "ReconciliationAccuracyLow",
    "HighDiscrepancyAmounts",
}
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
_PROMQL_WORDS |= {"and", "or", "unless", "inf", "nan"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def _sdk_series_names() -> set[str]:
    """Every sample name a scrape of the SDK's metrics can contain, plus Prometheus' ``up``."""
    names = {"up"}
    for family in RsfMetrics().registry.collect():
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "count", "sum", "created")}
        else:
            names.add(family.name)
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels excluded)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        following = text[match.end() :].lstrip()
        if following.startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        found.add(word)
    return found


def test_metric_name_parser_separates_metrics_from_functions_and_labels() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, job) (rate(db_operation_duration_seconds_bucket{job="rsf-utility",x=~"a|b"}[5m]))) > 1 and up'
    assert metric_names(expr) == {"db_operation_duration_seconds_bucket", "up"}


def _dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text())
        for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    }


def _targets(dashboard: dict[str, Any], ds_type: str) -> list[dict[str, Any]]:
    return [
        target
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if (target.get("datasource") or panel.get("datasource") or {}).get("type") == ds_type
    ]


def test_dashboards_have_the_guides_titles_and_panels() -> None:
    by_title = {d["title"]: d for d in _dashboards().values()}
    assert {"RSF Utility - System Overview", "RSF Utility - Business Metrics"} <= set(by_title)
    system = {p["title"] for p in by_title["RSF Utility - System Overview"]["panels"]}
    assert {
        "System Health Status",
        "Request Rate",
        "Database Operations",
        "Settlement Success Rate",
    } <= system
    business = {p["title"] for p in by_title["RSF Utility - Business Metrics"]["panels"]}
    assert {"Settlement Volume (24h)", "Reconciliation Accuracy", "Processing Times"} <= business
    uids = [d["uid"] for d in by_title.values()]
    assert len(uids) == len(set(uids))
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "datasources.yml").read_text()
    )
    datasource_uids = {ds["uid"] for ds in provisioned["datasources"]}
    for dashboard in by_title.values():
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] in datasource_uids, panel["title"]


def test_every_dashboard_promql_uses_only_metrics_the_sdk_defines() -> None:
    known = _sdk_series_names()
    checked = 0
    for name, dashboard in _dashboards().items():
        for target in _targets(dashboard, "prometheus"):
            unknown = metric_names(target["expr"]) - known
            assert not unknown, f"{name}: {target['expr']} uses {unknown}"
            checked += 1
    assert checked >= 20


def test_every_alert_rule_uses_only_metrics_the_sdk_defines() -> None:
    known = _sdk_series_names()
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} == GUIDE_ALERTS
    for rule in alerts:
        assert not metric_names(rule["expr"]) - known, rule["expr"]
    by_name = {rule["alert"]: rule["expr"] for rule in alerts}
    assert 'status_code=~"5.."' in by_name["HighErrorRate"]
    assert "db_operation_duration_seconds_bucket" in by_name["HighDatabaseLatency"]


def test_logs_dashboard_queries_select_the_sdk_loki_stream() -> None:
    logs = [d for d in _dashboards().values() if d["title"] == "RSF Utility - Logs"]
    assert logs, "a Logs dashboard exists"
    queries = [t["expr"] for t in _targets(logs[0], "loki")]
    assert len(queries) >= 6
    assert all('job="rsf-utility"' in q for q in queries)
    assert any("correlationId=" in q for q in queries)


@pytest.mark.external
def test_promtool_accepts_config_and_rules() -> None:
    promtool = require_binary("promtool")
    config = _run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert config.returncode == 0, config.stdout + config.stderr
    rules = _run(promtool, "check", "rules", str(PROMETHEUS / "alerts.yml"))
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "8 rules found" in rules.stdout + rules.stderr


@pytest.mark.external
def test_promtool_unit_tests_cover_every_rule_firing_and_quiet() -> None:
    promtool = require_binary("promtool")
    spec = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert firing == GUIDE_ALERTS
    assert quiet == GUIDE_ALERTS
    result = _run(promtool, "test", "rules", str(PROMETHEUS / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_prometheus_scrapes_the_server_as_job_rsf_utility() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["rsf-utility"].get("metrics_path", "/metrics") == "/metrics"
    assert jobs["rsf-utility"]["static_configs"][0]["targets"] == ["rsf-utility:3000"]
    assert config["rule_files"] == ["alerts.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]


@pytest.mark.external
def test_alertmanager_config_is_valid_and_routes_by_severity() -> None:
    amtool = require_binary("amtool")
    path = str(DEPLOY / "alertmanager" / "alertmanager.yml")
    check = _run(amtool, "check-config", path)
    assert check.returncode == 0, check.stdout + check.stderr
    expected = {"critical": "critical-alerts", "warning": "warning-alerts", "info": "web.hook"}
    for severity, receiver in expected.items():
        routed = _run(
            amtool, "config", "routes", "test", f"--config.file={path}", f"severity={severity}"
        )
        assert routed.stdout.strip() == receiver, routed.stdout + routed.stderr


def test_alertmanager_webhook_sends_resolved_with_bearer_file() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    assert config["route"]["group_by"] == ["alertname"]
    receivers = {r["name"]: r for r in config["receivers"]}
    for name in ("web.hook", "critical-alerts"):
        hook = receivers[name]["webhook_configs"][0]
        assert hook["url"] == "http://rsf-utility:3000/api/webhooks/alerts"
        assert hook["send_resolved"] is True
        auth = hook["http_config"]["authorization"]
        assert auth["type"] == "Bearer"
        assert auth["credentials_file"]
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["critical-alerts"]["repeat_interval"] == "10m"
    assert routes["warning-alerts"]["repeat_interval"] == "30m"


def test_compose_file_defines_the_stack() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {
        "rsf_backend",
        "rsf_mongodb",
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
    } <= set(services)
    assert services["rsf_mongodb"]["image"].startswith("mongo")
    assert services["rsf_backend"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["rsf_backend"]["environment"]["MONGODB_URI"].startswith("mongodb://rsf_mongodb")
    assert "rsf-utility" in services["rsf_backend"]["networks"]["default"]["aliases"]
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                relative = source[2:]
                if relative.startswith("secrets/"):
                    continue
                assert (DEPLOY / relative).exists(), volume
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'CMD ["rsf-server"]' in dockerfile
