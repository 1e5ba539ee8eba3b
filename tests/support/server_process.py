"""Run the real ``rsf-server`` (``python -m rsf_server``) as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from rsf_server.embedded_store import free_port

from tests.support.polling import wait_until


@dataclass
class ServerProcess:
    proc: subprocess.Popen[bytes]
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def terminate(self, timeout: float = 20.0) -> int:
        """SIGTERM and wait; the exit code (the test fails on a hang, after a kill)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError(f"rsf-server did not stop on SIGTERM:\n{self.log()}") from None


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def run_server(
    workdir: Path, env: Mapping[str, str] | None = None, startup_timeout: float = 45.0
) -> Iterator[ServerProcess]:
    """Start the server in ``workdir`` (its ``.rsf-data`` lives there), wait for /health 200."""
    port = free_port()
    environment = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "NODE_ENV": "production",
        "LOG_LEVEL": "warn",
        **(env or {}),
    }
    for name in ("MONGODB_URI", "LOKI_HOST"):
        if name not in (env or {}):
            environment.pop(name, None)
    log_path = workdir / "rsf-server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "rsf_server"],
            cwd=workdir,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", log_path)
    try:
        wait_until(
            lambda: proc.poll() is not None or _healthy(server.base_url),
            timeout=startup_timeout,
            interval=0.1,
        )
        if proc.poll() is not None:
            raise AssertionError(f"rsf-server exited with {proc.returncode}:\n{server.log()}")
        yield server
    finally:
        if proc.poll() is None:
            server.terminate()
