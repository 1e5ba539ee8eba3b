"""Comparison 2: each variant served by uvicorn on loopback under a fixed load.

Servers run one worker each, one at a time under load, in interleaved rounds; the load comes
from ``wrk`` when installed (Debian package ``wrk``), else from ``benchmarks.loadgen`` in its
own process. Reports requests/s, p50, p99 and the server's peak RSS (VmHWM).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rsf_server.embedded_store import free_port

from tests.support.loki_receiver import LokiReceiver

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Server:
    variant: str
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.port = free_port()
        env = {**os.environ, "RSF_BENCH_VARIANT": self.variant, "PYTHONPATH": str(ROOT), **self.env}
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "benchmarks.variants:make_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.variant} did not start")

    def peak_rss_mib(self) -> float:
        assert self.proc is not None
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(match.group(1)) / 1024 if match else float("nan")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def load_generator() -> str | None:
    """wrk's path, unless absent or ``RSF_BENCH_LOADGEN=asyncio`` asks for the Python one."""
    if os.environ.get("RSF_BENCH_LOADGEN") == "asyncio":
        return None
    return shutil.which("wrk")


def _load(port: int, path: str, duration: float, connections: int) -> dict[str, float]:
    wrk = load_generator()
    if wrk:
        out = subprocess.run(
            [
                wrk,
                "-t1",
                f"-c{connections}",
                f"-d{max(1, round(duration))}s",
                "--latency",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=duration + 30,
        ).stdout
        return _parse_wrk(out)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            "--port",
            str(port),
            "--path",
            path,
            "--duration",
            str(duration),
            "--connections",
            str(connections),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        timeout=duration + 30,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def _parse_wrk(out: str) -> dict[str, float]:
    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return _ms(m.group(1), m.group(2)) if m else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "requests": float(total.group(1)) if total else 0.0,
        "rps": float(rps.group(1)) if rps else 0.0,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
    }


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _run(
    servers: dict[str, Server],
    *,
    path: str,
    duration: float,
    connections: int,
    rounds: int,
    baseline: str,
) -> list[dict[str, Any]]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
    try:
        for server in servers.values():
            server.start()
            _load(server.port, path, 1.0, connections)  # warm-up
        for _ in range(rounds):
            for name, server in servers.items():
                samples[name].append(_load(server.port, path, duration, connections))
        rows = []
        for name, server in servers.items():
            rows.append(
                {
                    "variant": name,
                    "rps": _median([s["rps"] for s in samples[name]]),
                    "rps_min": min(s["rps"] for s in samples[name]),
                    "rps_max": max(s["rps"] for s in samples[name]),
                    "p50_ms": _median([s["p50_ms"] for s in samples[name]]),
                    "p99_ms": _median([s["p99_ms"] for s in samples[name]]),
                    "peak_rss_mib": server.peak_rss_mib(),
                    "rounds": rounds,
                }
            )
        base = next(r for r in rows if r["variant"] == baseline)
        for row in rows:
            row["rps_ratio_to_baseline"] = row["rps"] / base["rps"] if base["rps"] else None
            row["p99_ratio_to_baseline"] = (
                row["p99_ms"] / base["p99_ms"] if base["p99_ms"] else None
            )
        return rows
    finally:
        for server in servers.values():
            server.stop()


STACKS = ("bare", "sdk_full_quiet", "sdk_full_info", "anchor_quiet")


def stacks(
    duration: float, connections: int, rounds: int, variants: tuple[str, ...] = STACKS
) -> list[dict[str, Any]]:
    """Bare Starlette vs the full SDK (quiet and info logging) vs the anchor stack."""
    servers = {name: Server(name) for name in variants}
    return _run(
        servers,
        path="/ui/orders/u-42",
        duration=duration,
        connections=connections,
        rounds=rounds,
        baseline="bare",
    )


def loki_modes(duration: float, connections: int, rounds: int) -> list[dict[str, Any]]:
    """p99 of the full SDK at info level with Loki healthy, hanging and down."""
    receivers = {
        "loki healthy": LokiReceiver().start(),
        "loki hanging": LokiReceiver().start(),
        "loki down": LokiReceiver().start(),
    }
    receivers["loki hanging"].slow(3600)
    receivers["loki down"].down()
    try:
        servers = {
            name: Server("sdk_full_info", env={"LOKI_HOST": r.url, "LOKI_BATCH_INTERVAL": "1"})
            for name, r in receivers.items()
        }
        return _run(
            servers,
            path="/ui/orders/u-42",
            duration=duration,
            connections=connections,
            rounds=rounds,
            baseline="loki healthy",
        )
    finally:
        receivers["loki hanging"].release()
        for receiver in receivers.values():
            receiver.stop()
