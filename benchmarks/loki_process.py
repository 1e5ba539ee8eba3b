"""A Loki push receiver in a child process, so its HTTP handling does not share the GIL of
the process being measured.

``python -m benchmarks.loki_process [healthy|hanging|down]`` prints the base URL on its first
line and serves until its standard input closes.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.loki_receiver import LokiReceiver

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class LokiProcess:
    mode: str = "healthy"
    url: str = ""
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)

    def __enter__(self) -> LokiProcess:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.loki_process", self.mode],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.__exit__()
            raise RuntimeError("the Loki receiver process did not start")
        return self

    @property
    def push_url(self) -> str:
        return self.url + "/loki/api/v1/push"

    def __exit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def main() -> None:
    mode = sys.argv[1] if len(sys.argv) > 1 else "healthy"
    receiver = LokiReceiver().start()
    if mode == "hanging":
        receiver.slow(3600)
    elif mode == "down":
        receiver.down()
    print(receiver.url, flush=True)
    sys.stdin.read()  # until the parent closes the pipe (or exits)
    receiver.release()
    receiver.stop()


if __name__ == "__main__":
    main()
