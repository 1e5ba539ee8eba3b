"""``rsf-ops health-check``: the guide's health-check.sh as a library of small checks.

Each check returns a :class:`CheckOutcome`; the overall result fails when a required check
fails. Resource usage only warns, as in the script (it never fails the run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil
from pymongo import MongoClient

RESOURCE_THRESHOLD = 90.0


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    ok: bool
    detail: str
    required: bool = True
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def symbol(self) -> str:
        if self.ok:
            return "✅"
        return "❌" if self.required else "⚠️ "


def check_backend(backend_url: str, timeout: float) -> list[CheckOutcome]:
    """``GET /health`` and ``GET /health/detailed``: 200 (healthy or degraded) passes."""
    outcomes = []
    with httpx.Client(base_url=backend_url, timeout=timeout) as http:
        for path, name in (("/health", "backend"), ("/health/detailed", "backend detailed")):
            try:
                response = http.get(path)
                body = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                outcomes.append(CheckOutcome(name, False, f"{path}: {type(exc).__name__}: {exc}"))
                continue
            status = body.get("status", "?") if isinstance(body, dict) else "?"
            detail = f"{path}: HTTP {response.status_code}, status {status}"
            data: dict[str, Any] = {}
            if name == "backend detailed" and isinstance(body, dict):
                services = body.get("services") or {}
                failing = [n for n, svc in services.items() if svc.get("status") != "healthy"]
                data = {"services": services}
                if failing:
                    detail += f" (not healthy: {', '.join(sorted(failing))})"
            outcomes.append(CheckOutcome(name, response.status_code == 200, detail, data=data))
    return outcomes


def check_mongodb(uri: str, timeout: float) -> CheckOutcome:
    """``db.runCommand({ping: 1})`` straight to the database, not through the server."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000), appname="rsf-ops"
    )
    started = time.perf_counter()
    try:
        client.admin.command("ping")
    except Exception as exc:
        return CheckOutcome("mongodb", False, f"ping failed: {type(exc).__name__}")
    finally:
        client.close()
    latency = (time.perf_counter() - started) * 1000
    return CheckOutcome("mongodb", True, f"ping ok in {latency:.1f} ms")


def check_resources(
    disk_path: str = "/", threshold: float = RESOURCE_THRESHOLD
) -> list[CheckOutcome]:
    """Disk and memory usage against the script's 90%: a warning, never a failure."""
    disk = psutil.disk_usage(disk_path).percent
    memory = psutil.virtual_memory().percent
    return [
        CheckOutcome(
            "disk",
            disk < threshold,
            f"Disk usage: {disk:.0f}% ({'healthy' if disk < threshold else 'high'})",
            required=False,
            data={"percent": disk},
        ),
        CheckOutcome(
            "memory",
            memory < threshold,
            f"Memory usage: {memory:.0f}% ({'healthy' if memory < threshold else 'high'})",
            required=False,
            data={"percent": memory},
        ),
    ]


def check_api(backend_url: str, timeout: float, client_id: str = "health-check") -> CheckOutcome:
    """The script's API probe: ``POST /ui/auth/sign-token`` must issue a token."""
    try:
        response = httpx.post(
            f"{backend_url.rstrip('/')}/ui/auth/sign-token",
            json={"client_id": client_id},
            timeout=timeout,
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return CheckOutcome("api", False, f"sign-token: {type(exc).__name__}: {exc}")
    token = (body.get("data") or {}).get("token") if isinstance(body, dict) else None
    if response.status_code == 200 and token:
        return CheckOutcome("api", True, "sign-token issued a token")
    return CheckOutcome("api", False, f"sign-token: HTTP {response.status_code}")


def run_health_check(
    backend_url: str, mongodb_uri: str | None, timeout: float
) -> list[CheckOutcome]:
    outcomes = check_backend(backend_url, timeout)
    if mongodb_uri:
        outcomes.append(check_mongodb(mongodb_uri, timeout))
    outcomes.extend(check_resources())
    outcomes.append(check_api(backend_url, timeout))
    return outcomes


def overall_ok(outcomes: list[CheckOutcome]) -> bool:
    return all(outcome.ok for outcome in outcomes if outcome.required)
