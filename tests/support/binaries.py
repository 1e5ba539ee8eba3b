"""Find the external binaries some tests need (Debian's prometheus and alertmanager).

On a developer machine without them those tests skip, saying why; where
``RSF_REQUIRE_EXTERNAL=1`` (set by ``.ci/run``) a missing binary fails the test instead, so CI
can never go green by skipping the real-component tests.
"""

from __future__ import annotations

import os
import shutil

import pytest


def require_binary(*names: str) -> str:
    """The path of the first of ``names`` on PATH; skip (or fail in CI) when none is."""
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    message = f"needs {' or '.join(names)} (Debian packages prometheus / prometheus-alertmanager)"
    if os.environ.get("RSF_REQUIRE_EXTERNAL") == "1":
        pytest.fail(message)
    pytest.skip(message)
