"""Make untrusted values safe for a log line: escape control characters, redact secrets.

Pure functions shared by the formatters and the logging middlewares.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"

# C0 controls (CR, LF, ESC, NUL, ...), DEL and C1 controls; tab is kept readable as \t.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\x{ord(char):02x}")


def escape_control(text: str) -> str:
    """``"a\\r\\nb\\x1b[31m"`` -> ``"a\\\\r\\\\nb\\\\x1b[31m"``: no forged lines, no terminal escapes."""
    return _CONTROL.sub(_escape_char, text) if _CONTROL.search(text) else text


def normalise_keys(keys: Iterable[str]) -> frozenset[str]:
    """Keys compare case-insensitively and with ``-`` and ``_`` alike."""
    return frozenset(key.lower().replace("-", "_") for key in keys)


def is_secret_key(key: str, secret_keys: frozenset[str]) -> bool:
    return key.lower().replace("-", "_") in secret_keys


def redact(value: Any, secret_keys: frozenset[str], _depth: int = 0) -> Any:
    """A copy of ``value`` with every mapping entry whose key is secret replaced by ``[REDACTED]``.

    Nested dicts and lists are walked (to a fixed depth, so hostile nesting cannot recurse
    without end); other values are returned as they are.
    """
    if _depth > 32:
        return "[TRUNCATED]"
    if isinstance(value, Mapping):
        return {
            key: REDACTED
            if isinstance(key, str) and is_secret_key(key, secret_keys)
            else redact(item, secret_keys, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, secret_keys, _depth + 1) for item in value]
    return value


def redact_headers(
    headers: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]], secret_keys: frozenset[str]
) -> dict[str, str]:
    """ASGI raw headers (or str pairs) as a dict, secrets redacted, values escaped."""
    result: dict[str, str] = {}
    for raw_key, raw_value in headers:
        key = raw_key.decode("latin-1") if isinstance(raw_key, bytes) else raw_key
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        key = escape_control(key.lower())
        result[key] = REDACTED if is_secret_key(key, secret_keys) else escape_control(value)
    return result
