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
    # Every control character is non-printable, so the common clean value is one C scan.
    if text.isprintable():
        return text
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


#: Values :func:`redact` returns as they are without a call or an ABC isinstance check: the hot
#: path of every log record is a flat dict of these.
LEAF_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes})
_MAX_DEPTH = 32


def redact(value: Any, secret_keys: frozenset[str], _depth: int = 0) -> Any:
    """A copy of ``value`` with every mapping entry whose key is secret replaced by ``[REDACTED]``.

    Nested dicts and lists are walked (to a fixed depth, so hostile nesting cannot recurse
    without end); other values are returned as they are.
    """
    if _depth > _MAX_DEPTH:
        return "[TRUNCATED]"
    if type(value) in LEAF_TYPES:
        return value
    leaf_ok = _depth < _MAX_DEPTH
    if isinstance(value, Mapping):
        known = _NORMALISED.get
        result: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and (known(key) or _normalised(key)) in secret_keys:
                result[key] = REDACTED
            elif leaf_ok and type(item) in LEAF_TYPES:
                result[key] = item
            else:
                result[key] = redact(item, secret_keys, _depth + 1)
        return result
    if isinstance(value, list | tuple):
        return [
            item if leaf_ok and type(item) in LEAF_TYPES else redact(item, secret_keys, _depth + 1)
            for item in value
        ]
    return value


# A header name's log form and verdict, per set of secret keys: requests repeat the same few
# names, so the decode, lower-casing, escaping and key check run once per name, not per request.
# Bounded (names come from clients); past the bound names are worked out each time.
_HeaderName = tuple[str, bool]
_HEADER_NAMES: dict[frozenset[str], dict[bytes | str, _HeaderName]] = {}
_HEADER_NAMES_MAX = 1024
_HEADER_KEY_SETS_MAX = 16


def _header_name(raw_key: bytes | str, secret_keys: frozenset[str]) -> _HeaderName:
    key = raw_key.decode("latin-1") if isinstance(raw_key, bytes) else raw_key
    key = escape_control(key.lower())
    return key, is_secret_key(key, secret_keys)


def redact_headers(
    headers: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]], secret_keys: frozenset[str]
) -> dict[str, str]:
    """ASGI raw headers (or str pairs) as a dict, secrets redacted, values escaped."""
    names = _HEADER_NAMES.get(secret_keys)
    if names is None:
        names = {}
        if len(_HEADER_NAMES) < _HEADER_KEY_SETS_MAX:
            names = _HEADER_NAMES.setdefault(secret_keys, names)
    result: dict[str, str] = {}
    for raw_key, raw_value in headers:
        name = names.get(raw_key)
        if name is None:
            name = _header_name(raw_key, secret_keys)
            if len(names) < _HEADER_NAMES_MAX:
                names[raw_key] = name
        key, secret = name
        if secret:
            result[key] = REDACTED
            continue
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        result[key] = value if value.isprintable() else escape_control(value)
    return result
