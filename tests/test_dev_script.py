"""``dev.py`` hands Ctrl-C to the command it runs (``serve``, ``test``, ...) and gets out of the way.

A Ctrl-C in a terminal reaches the whole foreground process group. The server then needs time
to shut down (finish requests, run the lifespan shutdown, stop the embedded store); a wrapper
that dies with a traceback, or kills its child after a grace period, would cut that short.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.polling import wait_until

ROOT = Path(__file__).resolve().parents[1]

# A command with a slow graceful shutdown: on SIGINT it needs half a second before it is done.
_SLOW_TO_STOP = """
import pathlib, signal, sys, time
state = pathlib.Path(sys.argv[1])
def stop(signum, frame):
    time.sleep(0.5)
    state.write_text("stopped cleanly")
    sys.exit(3)
signal.signal(signal.SIGINT, stop)
state.write_text("ready")
while True:
    signal.pause()
"""

_WRAPPER = """
import sys
sys.path.insert(0, sys.argv[1])
import dev
sys.exit(dev._run([sys.executable, "-c", sys.argv[2], sys.argv[3]]))
"""


@pytest.mark.skipif(os.name != "posix", reason="process groups and SIGINT are POSIX")
def test_ctrl_c_lets_the_command_finish_its_shutdown(tmp_path: Path) -> None:
    state = tmp_path / "state"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRAPPER, str(ROOT), _SLOW_TO_STOP, str(state)],
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: state.exists() and state.read_text() == "ready", timeout=20)
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert state.read_text() == "stopped cleanly"
    assert proc.returncode == 3
    assert b"Traceback" not in stderr
