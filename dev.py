#!/usr/bin/env python3
"""Bootstrap and run: ``python3 dev.py serve`` or ``python3 dev.py test``.

Needs only Python 3.11+: creates ``.venv`` on first use, installs the three workspace packages
editable with the dev tools, and reinstalls when a ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PACKAGES = ["packages/rsf-observability[otlp,mongo]", "packages/rsf-core", "apps/reference-server"]
STAMP = VENV / ".rsf-installed"


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("**/pyproject.toml")):
        if ".venv" not in path.parts:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_env(groups: tuple[str, ...] = ("dev",)) -> None:
    if not PY.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = _fingerprint() + ",".join(groups)
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("installing packages into .venv ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip>=25.1"], check=True)
    editable = [arg for pkg in PACKAGES for arg in ("-e", str(ROOT / pkg).replace("\\", "/"))]
    group_args = [arg for group in groups for arg in ("--group", group)]
    subprocess.run([*pip, *editable, *group_args], check=True, cwd=ROOT)
    STAMP.write_text(wanted)


def _run(command: list[str], cwd: Path | None = None) -> int:
    """Run ``command`` in the foreground and return its exit code.

    On POSIX this process becomes the command: Ctrl-C and SIGTERM reach it alone, so the
    server shuts down gracefully and stops its store, with no parent to kill it midway or to
    print a ``KeyboardInterrupt`` traceback. Elsewhere the child gets Ctrl-C too and is waited for.
    """
    if os.name == "posix":
        if cwd is not None:
            os.chdir(cwd)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(command[0], command)  # noqa: S606 - our own venv scripts, no shell involved
    child = subprocess.Popen(command, cwd=cwd)
    while True:
        try:
            return child.wait()
        except KeyboardInterrupt:
            continue


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs on whatever python3 is
        sys.exit("Python 3.11 or newer is required")
    command, rest = (argv[0], argv[1:]) if argv else ("help", [])
    if command == "serve":
        ensure_env()
        return _run([str(BIN / "rsf-server"), *rest])
    if command == "test":
        ensure_env()
        return _run([str(PY), "-m", "pytest", *rest], cwd=ROOT)
    if command == "lint":
        ensure_env()
        ruff = subprocess.call([str(BIN / "ruff"), "check", "."], cwd=ROOT)
        mypy = subprocess.call([str(BIN / "mypy")], cwd=ROOT)
        return ruff or mypy
    if command == "bench":
        ensure_env(("dev", "bench"))
        return _run([str(PY), "-m", "benchmarks", *rest], cwd=ROOT)
    if command == "ops":
        ensure_env()
        return _run([str(BIN / "rsf-ops"), *rest])
    print(__doc__)
    print("commands: serve | test | lint | bench | ops")
    return 0 if command == "help" else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
