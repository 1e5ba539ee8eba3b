"""Look at request and response bodies without taking them from the app.

Shared by the access log and audit middlewares. A request body is peeked by reading ASGI
messages until ``limit`` bytes are seen, then those messages are replayed to the app before
the rest is read from the server, so memory stays bounded by the cap (plus one chunk) and the
app still receives every byte. Responses are observed on their way out, keeping at most
``limit`` bytes of the body.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.types import Message, Receive

from rsf_observability.sanitize import REDACTED, escape_control, is_secret_key, redact


@dataclass(slots=True)
class PeekedBody:
    head: bytes  # the first ``limit`` bytes (or fewer)
    complete: bool  # the whole body is in ``head``


async def peek_request_body(receive: Receive, limit: int) -> tuple[PeekedBody, Receive]:
    """Read up to ``limit`` bytes of the body; return them and a ``receive`` that replays them."""
    messages: list[Message] = []
    head = bytearray()
    seen = 0
    ended = False
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # http.disconnect: replay it too, stop here
            break
        chunk: bytes = message.get("body", b"")
        seen += len(chunk)
        if len(head) < limit:
            head += chunk[: limit - len(head)]
        if not message.get("more_body", False):
            ended = True
            break
        if seen > limit:
            break
    return PeekedBody(bytes(head), ended and seen <= limit), _replaying(messages, receive)


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = deque(messages)

    async def replay() -> Message:
        if pending:
            return pending.popleft()
        return await receive()

    return replay


@dataclass(slots=True)
class ResponseObserver:
    """What passed through ``send``: status, headers, size and the first ``limit`` body bytes."""

    limit: int
    status: int | None = None
    headers: Sequence[tuple[bytes, bytes]] = ()
    size: int = 0
    head: bytearray = field(default_factory=bytearray)
    finished: bool = False

    def observe(self, message: Message) -> bool:
        """Record ``message``; True when it is the last body message of the response."""
        kind = message["type"]
        if kind == "http.response.start":
            self.status = int(message["status"])
            headers = message.get("headers") or ()
            if not isinstance(headers, list | tuple):  # a one-shot iterable: keep it readable
                headers = message["headers"] = list(headers)
            self.headers = headers  # the app's list, not a copy
            return False
        if kind != "http.response.body":
            return False
        chunk: bytes = message.get("body", b"")
        self.size += len(chunk)
        if len(self.head) < self.limit:
            self.head += chunk[: self.limit - len(self.head)]
        if message.get("more_body", False):
            return False
        self.finished = True
        return True

    @property
    def complete(self) -> bool:
        return self.finished and self.size <= self.limit

    def header(self, name: bytes) -> str | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value.decode("latin-1")
        return None


_NOT_JSON: Any = object()


def _load_json(head: bytes, complete: bool) -> Any:
    if not complete or not head:
        return _NOT_JSON
    try:
        return json.loads(head.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return _NOT_JSON


def parse_json(head: bytes, complete: bool) -> Any:
    """The body as JSON, or None when it is incomplete, empty, not UTF-8 or not JSON."""
    parsed = _load_json(head, complete)
    return None if parsed is _NOT_JSON else parsed


def body_for_log(
    head: bytes,
    complete: bool,
    secret_keys: frozenset[str],
    content_encoding: str | None = None,
) -> Any:
    """A body as it may be logged: parsed JSON with secrets redacted, else a marked, escaped
    and redacted text excerpt. None for an empty body."""
    if not head and complete:
        return None
    if content_encoding and content_encoding.lower() != "identity":
        return f"[{escape_control(content_encoding)}-encoded body, not shown]"
    parsed = _load_json(head, complete)
    if parsed is not _NOT_JSON:
        return escape_strings(redact(parsed, secret_keys))
    try:
        text, reason = head.decode("utf-8"), "not JSON"
    except UnicodeDecodeError:
        text, reason = head.decode("utf-8", errors="backslashreplace"), "invalid UTF-8"
    if not complete:
        reason = f"truncated at {len(head)} bytes"
    return f"[body {reason}] {escape_control(redact_text(text, secret_keys))}"


def escape_strings(value: Any, _depth: int = 0) -> Any:
    """``value`` with control characters escaped in every string, keys included."""
    if _depth > 32:
        return "[TRUNCATED]"
    if isinstance(value, str):
        return escape_control(value)
    if isinstance(value, dict):
        return {
            escape_strings(key, _depth + 1): escape_strings(item, _depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [escape_strings(item, _depth + 1) for item in value]
    return value


# "key": "value" (the value possibly cut off by truncation) or "key": 123 / true / null.
_JSON_PAIR = re.compile(r'"(?P<key>[^"\\]{1,128})"\s*:\s*(?P<value>"(?:[^"\\]|\\.)*"?|[^,}\]\s]+)')
# key=value in a form body or query string.
_FORM_PAIR = re.compile(r"(?P<key>[^=&\s]{1,128})=(?P<value>[^&\s]*)")


def redact_text(text: str, secret_keys: frozenset[str]) -> str:
    """Redact secret values in text that could not be parsed (cut-off JSON, forms, queries)."""

    def json_pair(match: re.Match[str]) -> str:
        if not is_secret_key(match["key"], secret_keys):
            return match[0]
        return f'"{match["key"]}": "{REDACTED}"'

    def form_pair(match: re.Match[str]) -> str:
        if not is_secret_key(match["key"], secret_keys):
            return match[0]
        return f"{match['key']}={REDACTED}"

    return _FORM_PAIR.sub(form_pair, _JSON_PAIR.sub(json_pair, text))
