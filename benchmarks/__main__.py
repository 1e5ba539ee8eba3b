"""``python3 dev.py bench`` (= ``python -m benchmarks``): every comparison, one command.

Writes ``benchmarks/results/latest.json`` and ``latest.md`` (git-ignored). ``--quick`` runs tiny
counts (seconds, for a smoke check), ``--only SUITE`` (repeatable) picks suites, and
``--write-results`` also replaces the committed ``benchmarks/RESULTS.md`` with this run's
table. The full run takes 12-14 minutes on a 2-core machine; run it on a quiet machine:
every figure is also reported as a ratio to its baseline, measured interleaved (A B A B ...).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
SUITES = ("inprocess", "http", "logging", "metrics", "domain")
_PACKAGES = (
    "starlette",
    "uvicorn",
    "prometheus_client",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation-asgi",
    "asgi-correlation-id",
    "starlette-exporter",
    "python-logging-loki",
    "httpx",
    "pymongo",
    "beanie",
    "nx-27017",
    "orjson",
)


@dataclass(frozen=True)
class Plan:
    """The counts of one run; ``FULL`` takes 12-14 minutes on 2 cores."""

    inprocess_requests: int = 2000
    inprocess_rounds: int = 5
    http_duration: float = 4.0
    http_connections: int = 32
    http_rounds: int = 5
    http_stacks: tuple[str, ...] = ("bare", "sdk_full_quiet", "sdk_full_info", "anchor_quiet")
    http_loki: bool = True
    log_calls: int = 2000
    log_rounds: int = 5
    delivery_records: int = 2000
    memory_records: int = 30_000
    memory_buffer: int = 10_000
    metrics_renders: int = 3
    metrics_rounds: int = 4
    metrics_routes: int = 100
    domain_orders: int = 100_000


FULL = Plan()
QUICK = Plan(
    inprocess_requests=60,
    inprocess_rounds=2,
    http_duration=1.0,
    http_connections=4,
    http_rounds=1,
    http_stacks=("bare", "sdk_full_quiet"),
    http_loki=False,
    log_calls=50,
    log_rounds=2,
    delivery_records=40,
    memory_records=300,
    memory_buffer=100,
    metrics_renders=1,
    metrics_rounds=2,
    metrics_routes=10,
    domain_orders=200,
)


# --- running -------------------------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def run_inprocess(plan: Plan) -> dict[str, Any]:
    from benchmarks import suite_inprocess

    rows = suite_inprocess.run(plan.inprocess_requests, plan.inprocess_rounds)
    return {
        "requests_per_round": plan.inprocess_requests,
        "rows": [r.as_dict() for r in rows],
        "floors_us": suite_inprocess.floors(number=max(50, plan.inprocess_requests // 2)),
    }


def run_http(plan: Plan) -> dict[str, Any]:
    from benchmarks import suite_http

    result: dict[str, Any] = {
        "load_generator": "wrk" if suite_http.load_generator() else "benchmarks.loadgen (asyncio)",
        "duration_s": plan.http_duration,
        "connections": plan.http_connections,
        "stacks": suite_http.stacks(
            plan.http_duration, plan.http_connections, plan.http_rounds, plan.http_stacks
        ),
    }
    if plan.http_loki:
        result["loki"] = suite_http.loki_modes(
            plan.http_duration, plan.http_connections, plan.http_rounds
        )
    return result


def run_logging(plan: Plan) -> dict[str, Any]:
    from benchmarks import suite_logging

    return {
        "call_cost": [
            s.as_dict() for s in suite_logging.call_cost(plan.log_calls, plan.log_rounds)
        ],
        "delivery_records_per_s": suite_logging.delivery(plan.delivery_records),
        "memory_while_down": suite_logging.memory_while_down(
            plan.memory_records, plan.memory_buffer
        ),
    }


def run_metrics(plan: Plan) -> dict[str, Any]:
    from benchmarks import suite_metrics

    return {
        "routes": plan.metrics_routes,
        "series": suite_metrics.series_count(plan.metrics_routes),
        "rows": [
            s.as_dict()
            for s in suite_metrics.run(
                plan.metrics_renders, plan.metrics_rounds, plan.metrics_routes
            )
        ],
    }


def run_domain(plan: Plan) -> dict[str, Any]:
    """In a child process, so its peak RSS is the domain work's alone."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.suite_domain", str(plan.domain_orders)],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


RUNNERS: dict[str, Callable[[Plan], dict[str, Any]]] = {
    "inprocess": run_inprocess,
    "http": run_http,
    "logging": run_logging,
    "metrics": run_metrics,
    "domain": run_domain,
}


def machine() -> dict[str, Any]:
    def cpu_model() -> str:
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine()

    def memory_gib() -> float | None:
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 2**20, 1)
        except OSError:
            pass
        return None

    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "wrk": shutil.which("wrk") is not None,
        "packages": versions,
    }


def run(plan: Plan, only: tuple[str, ...] = SUITES, quick: bool = False) -> dict[str, Any]:
    """Run ``only`` with ``plan``; returns what ``latest.json`` holds."""
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "machine": machine(),
        "plan": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(plan).items()},
        "suites": {},
        "durations_s": {},
    }
    for name in only:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        value, seconds = _timed(lambda name=name: RUNNERS[name](plan))  # type: ignore[misc]
        results["suites"][name] = value
        results["durations_s"][name] = round(seconds, 1)
        print(f"[bench] {name} done in {seconds:.0f} s", file=sys.stderr, flush=True)
    results["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )
    results["targets"] = targets(results["suites"])
    return results


# --- targets -------------------------------------------------------------------------------


def _row(rows: list[dict[str, Any]], key: str, name: str) -> dict[str, Any] | None:
    return next((r for r in rows if r.get(key) == name), None)


def targets(suites: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's goals, each with the measured figure and met / missed (never asserted)."""
    found: list[dict[str, Any]] = []

    def add(goal: str, measured: float | None, limit: float, below: bool, unit: str) -> None:
        if measured is None or math.isnan(measured):
            return
        met = measured <= limit if below else measured >= limit
        found.append(
            {
                "goal": goal,
                "measured": round(measured, 3),
                "limit": limit,
                "unit": unit,
                "met": met,
            }
        )

    rows = suites.get("inprocess", {}).get("rows", [])
    quiet = _row(rows, "name", "sdk_full (logs above info)")
    info = _row(rows, "name", "sdk_full (info: request, response, audit)")
    if quiet:
        add(
            "full SDK, logs above info: added per request",
            quiet["delta_to_baseline"],
            25,
            True,
            "µs",
        )
    if info:
        add("full SDK at info: added per request", info["delta_to_baseline"], 60, True, "µs")
    http = suites.get("http", {})
    stacks = http.get("stacks", [])
    bare, sdk, anchor = (
        _row(stacks, "variant", "bare"),
        _row(stacks, "variant", "sdk_full_quiet"),
        _row(stacks, "variant", "anchor_quiet"),
    )
    if bare and sdk and bare["rps"]:
        add("full SDK requests/s vs bare Starlette", sdk["rps"] / bare["rps"], 0.85, False, "x")
    if anchor and sdk and anchor["rps"]:
        add("full SDK requests/s vs anchor stack", sdk["rps"] / anchor["rps"], 2.0, False, "x")
    loki = http.get("loki", [])
    for mode in ("loki down", "loki hanging"):
        row = _row(loki, "variant", mode)
        if row and row.get("p99_ratio_to_baseline") is not None:
            add(f"p99 with {mode} vs healthy", row["p99_ratio_to_baseline"], 1.10, True, "x")
    metric_rows = suites.get("metrics", {}).get("rows", [])
    text = _row(metric_rows, "name", "text")
    if text:
        add("/metrics render (text)", text["median"], 5.0, True, "ms")
    return found


# --- reporting -----------------------------------------------------------------------------


def _f(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:,.{digits}f}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Benchmark results",
        "",
        f"Run {results['date']}{' (quick: tiny counts, figures meaningless)' if results['quick'] else ''}"
        f" with `python3 dev.py bench`. Machine: {m['nproc']} cores, {m['cpu']}, "
        f"{m['memory_gib']} GiB, Python {m['python']}; load average at start "
        f"{_load(m.get('load_average_at_start'))}, at end {_load(m.get('load_average_at_end'))}.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".",
        "",
    ]
    suites = results["suites"]
    if "inprocess" in suites:
        lines += [
            "## 1. Per-request cost in process (ASGI app called directly)",
            "",
            f"{suites['inprocess']['requests_per_round']} requests per round (GET /ping, "
            "GET /ui/orders/{id}, POST /api/on_settle in turn), interleaved rounds; median and "
            "quartiles in µs per request; added = median minus bare's.",
            "",
            "| variant | µs/request | p25-p75 | added µs | x bare |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for r in suites["inprocess"]["rows"]:
            lines.append(
                f"| {r['name']} | {_f(r['median'])} | {_f(r['p25'])}-{_f(r['p75'])} | "
                f"{_f(r['delta_to_baseline'])} | {_f(r['ratio_to_baseline'], 2)} |"
            )
        lines += [
            "",
            "Floors on this machine (best of 5, µs): "
            + "; ".join(f"{k} {_f(v)}" for k, v in suites["inprocess"]["floors_us"].items())
            + ".",
            "",
        ]
    if "http" in suites:
        h = suites["http"]
        lines += [
            "## 2. HTTP under load (uvicorn, one worker, loopback)",
            "",
            f"{h['load_generator']}, {h['connections']} connections, {h['duration_s']} s per "
            "round, rounds interleaved; medians over rounds.",
            "",
            "| variant | requests/s | x baseline | p50 ms | p99 ms | p99 x baseline | peak RSS MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for r in h["stacks"] + h.get("loki", []):
            lines.append(
                f"| {r['variant']} | {_f(r['rps'], 0)} | {_f(r['rps_ratio_to_baseline'], 2)} | "
                f"{_f(r['p50_ms'], 2)} | {_f(r['p99_ms'], 2)} | "
                f"{_f(r['p99_ratio_to_baseline'], 2)} | {_f(r['peak_rss_mib'])} |"
            )
        lines.append("")
    if "logging" in suites:
        lg = suites["logging"]
        lines += [
            "## 3. Logging to Loki",
            "",
            "One `logger.info` with the SDK's Loki handler (JSON) on the request path:",
            "",
            "| receiver | µs/call | p25-p75 | x healthy |",
            "| --- | ---: | ---: | ---: |",
        ]
        for r in lg["call_cost"]:
            lines.append(
                f"| {r['name']} | {_f(r['median'], 2)} | {_f(r['p25'], 2)}-{_f(r['p75'], 2)} | "
                f"{_f(r['ratio_to_baseline'], 2)} |"
            )
        lines += ["", "| delivery to the receiver | records/s |", "| --- | ---: |"]
        for name, value in lg["delivery_records_per_s"].items():
            lines.append(f"| {name} | {_f(value, 0)} |")
        mem = lg["memory_while_down"]
        lines += [
            "",
            f"Receiver down, {mem['records']:,} records into a {mem['buffer_size']:,}-record "
            f"buffer: heap growth {_f(mem['heap_growth_mib'], 2)} MiB (peak "
            f"{_f(mem['heap_peak_mib'], 2)} MiB), {_f(mem['dropped'], 0)} dropped and counted.",
            "",
        ]
    if "metrics" in suites:
        mt = suites["metrics"]
        lines += [
            "## 4. /metrics rendering",
            "",
            f"{mt['routes']} routes x 5 status codes x 3 methods: {mt['series']:,} exposed samples.",
            "",
            "| format | ms/render | p25-p75 |",
            "| --- | ---: | ---: |",
        ]
        for r in mt["rows"]:
            lines.append(
                f"| {r['name']} | {_f(r['median'], 2)} | {_f(r['p25'], 2)}-{_f(r['p75'], 2)} |"
            )
        lines.append("")
    if "domain" in suites:
        d = suites["domain"]
        lines += [
            "## 5. Domain on the embedded store (nx-27017)",
            "",
            "| orders | insert orders/s | prepare orders/s | prepare s | aggregate s | "
            "success rate % | bench peak RSS MiB | store peak RSS MiB |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            f"| {d['orders']:,} | {_f(d['insert_orders_per_s'], 0)} | "
            f"{_f(d['prepare_orders_per_s'], 0)} | {_f(d['prepare_s'])} | "
            f"{_f(d['aggregate_s'], 2)} | {_f(d['success_rate_percent'])} | "
            f"{_f(d['bench_peak_rss_mib'])} | {_f(d['store_peak_rss_mib'])} |",
            "",
        ]
    if results.get("targets"):
        lines += [
            "## Targets",
            "",
            "| goal | measured | target | met |",
            "| --- | ---: | ---: | :---: |",
        ]
        for t in results["targets"]:
            sign = (
                "<="
                if "added" in t["goal"] or "p99" in t["goal"] or "render" in t["goal"]
                else ">="
            )
            lines.append(
                f"| {t['goal']} | {_f(t['measured'], 2)} {t['unit']} | {sign} {t['limit']} "
                f"{t['unit']} | {'met' if t['met'] else 'missed'} |"
            )
        lines.append("")
    durations = results["durations_s"]
    lines.append(
        "Durations: "
        + ", ".join(f"{k} {v} s" for k, v in durations.items())
        + f"; total {sum(durations.values()) / 60:.1f} min."
    )
    return "\n".join(lines) + "\n"


def _load(value: Any) -> str:
    return "-" if not value else " / ".join(f"{v:.2f}" for v in value)


START, END = "<!-- results:start -->", "<!-- results:end -->"


def write(
    results: dict[str, Any],
    out_dir: Path,
    *,
    committed: Path | None = None,
    docs: Path | None = None,
) -> None:
    """``latest.json`` + ``latest.md`` in ``out_dir``; with ``committed``, that file gets the
    table too, and ``docs`` (docs/performance.md) gets it between its results markers."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    text = markdown(results)
    (out_dir / "latest.md").write_text(text)
    if committed is not None:
        committed.write_text(text)
    if docs is not None and docs.exists():
        page = docs.read_text()
        if START in page and END in page:
            head, rest = page.split(START, 1)
            _, tail = rest.split(END, 1)
            body = text.split("\n", 2)[2].replace("\n## ", "\n### ")  # below the page's title
            docs.write_text(f"{head}{START}\n{body}{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny counts: seconds, not minutes")
    parser.add_argument("--only", action="append", choices=SUITES, help="run only this suite")
    parser.add_argument("--orders", type=int, help="orders for the domain suite")
    parser.add_argument(
        "--write-results", action="store_true", help="also update benchmarks/RESULTS.md"
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="where latest.* go")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.orders:
        plan = replace(plan, domain_orders=args.orders)
    only = tuple(args.only) if args.only else SUITES
    results = run(plan, only, quick=args.quick)
    write(
        results,
        args.out,
        committed=HERE / "RESULTS.md" if args.write_results else None,
        docs=HERE.parent / "docs" / "performance.md" if args.write_results else None,
    )
    print(markdown(results))
    print(f"wrote {args.out / 'latest.json'} and latest.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
