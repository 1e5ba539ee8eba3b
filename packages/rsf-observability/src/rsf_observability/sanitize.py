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


_NORMALISED: dict[str, str] = {}
_NORMALISED_MAX = 4096


def _normalised(key: str) -> str:
    """Log records repeat the same few dozen keys: remember their normal form (bounded)."""
    found = _NORMALISED.get(key)
    if found is None:
        found = key.lower().replace("-", "_")
        if len(_NORMALISED) < _NORMALISED_MAX:
            _NORMALISED[key] = found
    return found


def is_secret_key(key: str, secret_keys: frozenset[str]) -> bool:
    return _normalised(key) in secret_keys


# Values returned as they are without a call or an ABC isinstance check: the hot path of
# every log record is a flat dict of these.
_LEAVES: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes})
_MAX_DEPTH = 32


def redact(value: Any, secret_keys: frozenset[str], _depth: int = 0) -> Any:
    """A copy of ``value`` with every mapping entry whose key is secret replaced by ``[REDACTED]``.

    Nested dicts and lists are walked (to a fixed depth, so hostile nesting cannot recurse
    without end); other values are returned as they are.
    """
    if _depth > _MAX_DEPTH:
        return "[TRUNCATED]"
    if type(value) in _LEAVES:
        return value
    leaf_ok = _depth < _MAX_DEPTH
    if isinstance(value, Mapping):
        known = _NORMALISED.get
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and (known(key) or _normalised(key)) in secret_keys:
                result[key] = REDACTED
            elif leaf_ok and type(item) in _LEAVES:
                result[key] = item
            else:
                result[key] = redact(item, secret_keys, _depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [
            item if leaf_ok and type(item) in _LEAVES else redact(item, secret_keys, _depth + 1)
            for item in value
        ]
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
