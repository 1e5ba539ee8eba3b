"""The benchmark harness end to end with tiny counts, so it cannot rot.

Checks the shape of what ``python -m benchmarks`` writes and that every figure is a positive
number; speed itself is never asserted here (it belongs to the benchmark run).
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from benchmarks.__main__ import QUICK, SUITES, markdown, run, write

pytestmark = pytest.mark.slow


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value > 0


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    plan = replace(QUICK, http_duration=1.0, http_rounds=1, domain_orders=60)
    return run(plan, SUITES, quick=True)


def test_every_suite_ran_and_the_files_are_written(results: dict[str, Any], tmp_path: Path) -> None:
    assert set(results["suites"]) == set(SUITES)
    docs = tmp_path / "performance.md"
    docs.write_text(
        "# Performance\n\nintro\n<!-- results:start -->\nold\n<!-- results:end -->\nafter\n"
    )
    write(results, tmp_path, committed=tmp_path / "RESULTS.md", docs=docs)
    assert (tmp_path / "RESULTS.md").read_text() == markdown(results)
    page = docs.read_text()
    assert "old" not in page
    assert page.startswith("# Performance\n\nintro\n<!-- results:start -->\n")
    assert page.endswith("<!-- results:end -->\nafter\n")
    assert "### 1. Per-request cost" in page
    saved = json.loads((tmp_path / "latest.json").read_text())
    assert saved["quick"] is True
    assert saved["machine"]["nproc"] >= 1
    assert saved["machine"]["packages"]["starlette"]
    table = (tmp_path / "latest.md").read_text()
    assert table == markdown(results)
    for heading in ("Per-request cost", "HTTP under load", "Logging to Loki", "/metrics", "Domain"):
        assert heading in table


def test_in_process_rows_compare_every_variant_to_bare(results: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in results["suites"]["inprocess"]["rows"]}
    assert {"bare", "sdk_full (logs above info)", "anchor stack (logs above info)"} <= set(rows)
    assert rows["bare"]["ratio_to_baseline"] == 1.0
    for row in rows.values():
        assert row["unit"] == "µs/request"
        assert _positive(row["median"])
        assert row["p25"] <= row["median"] <= row["p75"] or row["rounds"] < 3
    floors = results["suites"]["inprocess"]["floors_us"]
    assert floors
    assert all(_positive(v) for v in floors.values())


def test_http_rows_have_rates_latencies_and_memory(results: dict[str, Any]) -> None:
    http = results["suites"]["http"]
    assert [r["variant"] for r in http["stacks"]] == ["bare", "sdk_full_quiet"]
    for row in http["stacks"]:
        for key in ("rps", "p50_ms", "p99_ms", "peak_rss_mib"):
            assert _positive(row[key]), (key, row)
        assert row["p50_ms"] <= row["p99_ms"]


def test_logging_metrics_and_domain_figures(results: dict[str, Any]) -> None:
    logging_ = results["suites"]["logging"]
    assert [r["name"] for r in logging_["call_cost"]] == ["healthy", "slow (2 s)", "down"]
    assert all(_positive(r["median"]) for r in logging_["call_cost"])
    assert all(_positive(v) for v in logging_["delivery_records_per_s"].values())
    memory = logging_["memory_while_down"]
    assert memory["dropped"] > 0  # more records than the buffer holds, receiver down

    metrics = results["suites"]["metrics"]
    assert metrics["series"] > 10 * 5 * 3  # every route x status x method has samples
    assert {r["name"] for r in metrics["rows"]} == {
        "text",
        "openmetrics",
        "text, every series changed",
        "openmetrics, every series changed",
        "text + gzip",
        "text, with *_created series",
        "prometheus_client generate_latest (text)",
        "prometheus_client generate_latest (openmetrics)",
    }
    assert all(_positive(r["median"]) for r in metrics["rows"])

    domain = results["suites"]["domain"]
    assert domain["orders"] == 60
    assert _positive(domain["prepare_orders_per_s"])
    assert domain["settled"] + domain["not_settled"] == domain["finalised"] > 0
    assert 0 < domain["success_rate_percent"] <= 100
    assert _positive(domain["store_peak_rss_mib"])


def test_targets_name_a_measured_figure(results: dict[str, Any]) -> None:
    goals = {t["goal"]: t for t in results["targets"]}
    assert "full SDK, logs above info: added per request" in goals
    assert "/metrics render (text)" in goals
    for target in goals.values():
        assert isinstance(target["met"], bool)
        assert not math.isnan(target["measured"])
