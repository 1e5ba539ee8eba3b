"""A stub settlement agency / counterparty NP served by uvicorn on a loopback port.

It verifies the ONDC signature of every request (NACK 70001 when it fails) and answers what the
test told it to: ACK, NACK, HTTP 500, or "slow" (holds the request until released or until the
stub stops). Every request is recorded with its headers, body and verification outcome.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from rsf_core.acks import ack, nack
from rsf_core.signing import SignatureError, StaticKeyLookup, verify_authorization
from rsf_server.embedded_store import free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.polling import wait_until


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_ok: bool
    signer: str | None

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class StubNP:
    """``with StubNP(public_keys) as stub:`` then ``stub.url`` and ``stub.answer(...)``."""

    public_keys: dict[str, str]
    default: str = "ack"
    received: list[Received] = field(default_factory=list)
    _plan: deque[tuple[str, dict[str, Any]]] = field(default_factory=deque)
    _release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, *modes: str, **details: Any) -> None:
        """Queue answers for the next requests: "ack", "nack", "500", "slow"."""
        with self._lock:
            for mode in modes:
                self._plan.append((mode, details))

    def release(self) -> None:
        self._release.set()

    def reset(self) -> None:
        """Forget what was received and planned (for a stub shared by several tests)."""
        with self._lock:
            self.received.clear()
            self._plan.clear()
            self._release.clear()

    def requests_to(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        signer = None
        try:
            verified = verify_authorization(
                request.headers.get("authorization"), body, StaticKeyLookup(self.public_keys)
            )
            signer, signature_ok = verified.subscriber_id, True
        except SignatureError:
            signature_ok = False
        with self._lock:
            self.received.append(
                Received(request.url.path, dict(request.headers), body, signature_ok, signer)
            )
            mode, details = self._plan.popleft() if self._plan else (self.default, {})
        if not signature_ok:
            return JSONResponse(nack("70001", "invalid signature"))
        if mode == "slow":
            deadline = time.monotonic() + 30
            while not self._release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return JSONResponse(ack())
        if mode == "500":
            return JSONResponse({"error": "boom"}, status_code=500)
        if mode == "nack":
            return JSONResponse(
                nack(details.get("code", "70030"), details.get("message", "refused"))
            )
        return JSONResponse(ack())

    def __enter__(self) -> StubNP:
        self.port = free_port()
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_until(lambda: self._server.started or not self._thread.is_alive())
        if not self._server.started:
            raise RuntimeError("stub NP did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._server.should_exit = True
        self._thread.join(timeout=10)


def serve_stub(public_keys: dict[str, str]) -> Iterator[StubNP]:
    """Generator for a pytest fixture: ``yield from serve_stub(keys)``."""
    with StubNP(public_keys) as stub:
        yield stub
