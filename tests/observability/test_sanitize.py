"""sanitize: control-character escaping and header redaction, the clean and the hostile cases."""

from __future__ import annotations

import pytest
from rsf_observability import sanitize
from rsf_observability.sanitize import (
    REDACTED,
    escape_control,
    normalise_keys,
    redact_headers,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("/ui/orders/u-42", "/ui/orders/u-42"),
        ("café ünïcode ✓", "café ünïcode ✓"),
        ("a\r\nb", "a\\r\\nb"),
        ("tab\there", "tab\\there"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1\x85\x9b", "c1\\x85\\x9b"),
        # Not printable, yet no control character: left as it is.
        ("nbsp\xa0line\u2028sep", "nbsp\xa0line\u2028sep"),
        ("", ""),
    ],
)
def test_escape_control(raw: str, escaped: str) -> None:
    assert escape_control(raw) == escaped


def test_redact_headers_redacts_and_escapes() -> None:
    keys = normalise_keys(["authorization", "cookie", "x-api-key"])
    headers = [
        (b"Host", b"example.com"),
        (b"authorization", b"Bearer secret"),
        (b"Cookie", b"session=1"),
        (b"x_api_key", b"k"),
        (b"x-evil\r\nInjected", b"v\x1b[2J"),
        (b"accept", b"caf\xe9"),
    ]
    for _ in range(2):  # the second time, the names come from the memo
        assert redact_headers(headers, keys) == {
            "host": "example.com",
            "authorization": REDACTED,
            "cookie": REDACTED,
            "x_api_key": REDACTED,
            "x-evil\\r\\ninjected": "v\\x1b[2J",
            "accept": "café",
        }


def test_redact_headers_verdicts_belong_to_their_key_set() -> None:
    headers = [(b"authorization", b"Bearer t"), ("x-token", "t")]
    assert redact_headers(headers, normalise_keys(["authorization"])) == {
        "authorization": REDACTED,
        "x-token": "t",
    }
    assert redact_headers(headers, normalise_keys(["x_token"])) == {
        "authorization": "Bearer t",
        "x-token": REDACTED,
    }


def test_redact_headers_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sanitize, "_HEADER_NAMES_MAX", 3)
    keys = normalise_keys(["secret-header-for-bound-test"])
    headers = [(f"h{i}".encode(), b"v") for i in range(10)]
    headers.append((b"secret-header-for-bound-test", b"s"))
    result = redact_headers(headers, keys)
    assert result["h9"] == "v"
    assert result["secret-header-for-bound-test"] == REDACTED
    assert len(sanitize._HEADER_NAMES[keys]) == 3
