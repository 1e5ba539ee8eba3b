"""Two real uvicorn worker processes share PROMETHEUS_MULTIPROC_DIR; /metrics merges them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rsf_observability.exposition import mark_worker_dead
from rsf_server.embedded_store import free_port

from tests.support.polling import wait_until

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = "tests.observability.apps.metrics_app:create_app"


class _Worker:
    def __init__(self, multiproc_dir: Path, log_dir: Path, name: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir),
            "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("RSF_METRICS_SKIP_PATHS", None)
        self.log = (log_dir / f"{name}.log").open("wb")
        command = [sys.executable, "-m", "uvicorn", "--factory", APP, "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def ready(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}")
        try:
            return httpx.get(self.base_url + "/health", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[_Worker, _Worker, Path]]:
    multiproc_dir = tmp_path / "prometheus-multiproc"
    multiproc_dir.mkdir()
    started: list[_Worker] = []
    try:
        for name in ("worker-a", "worker-b"):
            started.append(_Worker(multiproc_dir, tmp_path, name))
        for worker in started:
            wait_until(worker.ready, timeout=30)
        yield started[0], started[1], multiproc_dir
    finally:
        for worker in started:
            worker.stop()


def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += float(sample.value)
    return total


def _scrape(worker: _Worker) -> str:
    response = httpx.get(worker.base_url + "/metrics", timeout=10.0)
    assert response.status_code == 200
    return response.text


def test_both_workers_counts_are_merged_in_metrics(
    workers: tuple[_Worker, _Worker, Path],
) -> None:
    a, b, multiproc_dir = workers
    with httpx.Client(timeout=10.0) as client:
        pids_a = {client.get(a.base_url + "/whoami").json()["pid"] for _ in range(3)}
        pids_b = {client.get(b.base_url + "/whoami").json()["pid"] for _ in range(5)}
        assert client.get(b.base_url + "/teapot").status_code == 418
    assert pids_a == {a.process.pid}
    assert pids_b == {b.process.pid}

    for worker in (a, b):
        text = _scrape(worker)
        assert _sample(text, "http_requests_total", route="/whoami", status_code="200") == 8
        assert _sample(text, "http_errors_total", route="/teapot", status_code="418") == 1
        assert _sample(text, "http_request_duration_seconds_count", route="/whoami") == 8
        # livesum over both live workers: nothing in flight between requests.
        assert _sample(text, "http_requests_in_progress") == 0
        assert "http_requests_in_progress" in text
        promtool = shutil.which("promtool")
        if promtool is not None:
            check = subprocess.run(
                [promtool, "check", "metrics"],
                input=text,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert check.returncode == 0, check.stdout + check.stderr

    # A dead worker's live gauges leave the merge; its counters stay counted.
    b.stop()
    live_files = list(multiproc_dir.glob(f"gauge_livesum_{b.process.pid}.db"))
    assert live_files
    mark_worker_dead(b.process.pid, str(multiproc_dir))
    assert not list(multiproc_dir.glob(f"gauge_livesum_{b.process.pid}.db"))
    text = _scrape(a)
    assert _sample(text, "http_requests_total", route="/whoami", status_code="200") == 8
