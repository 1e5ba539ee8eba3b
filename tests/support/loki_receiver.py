"""A stand-in for Grafana Loki's push API, strict about what it accepts, for tests and benchmarks.

It implements ``POST /loki/api/v1/push`` with ``Content-Type: application/json`` the way Loki
does: 204 on success, 400 for a malformed body, 415 for another content type, 404/405 for
other paths/methods. Its behaviour can be switched while a client is talking to it:

* :meth:`LokiReceiver.healthy` - answer at once;
* :meth:`LokiReceiver.slow` - hold each request up to ``seconds`` (or until :meth:`release`);
* :meth:`LokiReceiver.fail` - answer ``status`` (500, 429, ...) to the next ``times`` pushes;
* :meth:`LokiReceiver.down` / :meth:`LokiReceiver.up` - stop listening (connections are
  refused), then listen again on the same port.

It records every accepted stream and the headers of every push (for auth and tenant checks).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PUSH_PATH = "/loki/api/v1/push"
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@dataclass(frozen=True)
class PushRequest:
    """One push the receiver answered (or is still holding)."""

    headers: dict[str, str]
    payload: Any
    status: int


@dataclass(frozen=True)
class Entry:
    labels: dict[str, str]
    timestamp_ns: str
    line: str

    def json(self) -> Any:
        return json.loads(self.line)


def validate_push(payload: Any) -> str | None:
    """``None`` when ``payload`` is a valid v1 push body, else what is wrong with it."""
    if not isinstance(payload, dict) or not isinstance(payload.get("streams"), list):
        return "body must be an object with a 'streams' list"
    for index, stream in enumerate(payload["streams"]):
        where = f"streams[{index}]"
        if not isinstance(stream, dict) or set(stream) - {"stream", "values"}:
            return f"{where} must be an object with 'stream' and 'values' only"
        labels = stream.get("stream")
        if not isinstance(labels, dict) or not labels:
            return f"{where}.stream must be a non-empty object of labels"
        for name, value in labels.items():
            if not isinstance(name, str) or not _LABEL_NAME.match(name):
                return f"{where}.stream has an invalid label name {name!r}"
            if not isinstance(value, str):
                return f"{where}.stream[{name!r}] must be a string"
        values = stream.get("values")
        if not isinstance(values, list) or not values:
            return f"{where}.values must be a non-empty list"
        for position, value in enumerate(values):
            spot = f"{where}.values[{position}]"
            if not isinstance(value, list) or len(value) not in (2, 3):
                return f"{spot} must be [timestamp, line] (or with structured metadata)"
            ts, line = value[0], value[1]
            if not isinstance(ts, str) or not ts.isdigit():
                return f"{spot}[0] must be a string of nanoseconds"
            if not isinstance(line, str):
                return f"{spot}[1] must be a string"
            if len(value) == 3 and not isinstance(value[2], dict):
                return f"{spot}[2] must be an object of structured metadata"
    return None


@dataclass
class _Mode:
    delay: float = 0.0
    fail_status: int = 0
    fail_times: int = 0
    retry_after: str | None = None


@dataclass
class LokiReceiver:
    """Run with ``start()``/``stop()`` or as a context manager; see the module docstring."""

    host: str = "127.0.0.1"
    port: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _mode: _Mode = field(default_factory=_Mode, init=False, repr=False)
    _release: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _requests: list[PushRequest] = field(default_factory=list, init=False, repr=False)
    _streams: list[dict[str, Any]] = field(default_factory=list, init=False, repr=False)
    arrived: int = field(default=0, init=False)
    answered: int = field(default=0, init=False)

    # --- lifecycle --------------------------------------------------------------------------

    def start(self) -> LokiReceiver:
        self._listen()
        return self

    def stop(self) -> None:
        self._release.set()
        self._close_server()

    def __enter__(self) -> LokiReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, what ``LOKI_HOST`` is set to."""
        return f"http://{self.host}:{self.port}"

    @property
    def push_url(self) -> str:
        return self.url + PUSH_PATH

    def _listen(self) -> None:
        server = ThreadingHTTPServer((self.host, self.port), _make_handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def _close_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    # --- modes ------------------------------------------------------------------------------

    def healthy(self) -> None:
        with self._lock:
            self._mode = _Mode()
        self._release.set()

    def slow(self, seconds: float) -> None:
        """Hold every push up to ``seconds`` before answering (``release()`` ends it early)."""
        with self._lock:
            self._mode = _Mode(delay=seconds)
        self._release.clear()

    def release(self) -> None:
        """Answer the held pushes now and stop holding new ones."""
        with self._lock:
            self._mode.delay = 0.0
        self._release.set()

    def fail(self, status: int = 500, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` pushes with ``status`` (then accept again)."""
        with self._lock:
            self._mode = _Mode(fail_status=status, fail_times=times, retry_after=retry_after)

    def down(self) -> None:
        """Stop listening: new connections are refused until :meth:`up`."""
        self._release.set()
        self._close_server()

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self._listen()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    # --- what arrived -----------------------------------------------------------------------

    @property
    def requests(self) -> list[PushRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def accepted(self) -> list[PushRequest]:
        return [request for request in self.requests if request.status == 204]

    def streams(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._streams)

    def entries(self) -> list[Entry]:
        return [
            Entry(labels=stream["stream"], timestamp_ns=value[0], line=value[1])
            for stream in self.streams()
            for value in stream["values"]
        ]

    def lines(self) -> list[str]:
        return [entry.line for entry in self.entries()]

    def json_lines(self) -> list[Any]:
        return [entry.json() for entry in self.entries()]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._streams.clear()

    # --- request handling (called from server threads) --------------------------------------

    def _handle_push(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.arrived += 1
            mode = self._mode
            failing = mode.fail_times > 0
            if failing:
                mode.fail_times -= 1
            delay = mode.delay
        if delay > 0:
            self._release.wait(delay)
        status, extra, answer, payload = self._decide(headers, body, mode if failing else None)
        with self._lock:
            self._requests.append(PushRequest(headers=headers, payload=payload, status=status))
            if status == 204:
                self._streams.extend(payload["streams"])
            self.answered += 1
        return status, extra, answer

    @staticmethod
    def _decide(
        headers: dict[str, str], body: bytes, failure: _Mode | None
    ) -> tuple[int, dict[str, str], bytes, Any]:
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return failure.fail_status, extra, b"injected failure\n", None
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json" or headers.get("content-encoding"):
            return 415, {}, b"unsupported content type\n", None
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            return 400, {}, f"malformed JSON: {exc}\n".encode(), None
        problem = validate_push(payload)
        if problem is not None:
            return 400, {}, (problem + "\n").encode(), payload
        return 204, {}, b"", payload


def _make_handler(receiver: LokiReceiver) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: tests read the receiver's records, not its access log."""

        def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            if body:
                self.send_header("Content-Type", "text/plain")
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_POST(self) -> None:
            if self.path.split("?")[0] != PUSH_PATH:
                self._answer(404, b"404 page not found\n")
                return
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                self._answer(411, b"length required\n")
                return
            body = self.rfile.read(int(length))
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra, answer = receiver._handle_push(headers, body)
            self._answer(status, answer, extra)

        def _not_allowed(self) -> None:
            self._answer(405, b"method not allowed\n")

        do_GET = do_PUT = do_DELETE = do_PATCH = _not_allowed

    return _Handler
