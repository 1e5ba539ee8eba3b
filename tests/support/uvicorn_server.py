"""Serve an ASGI app with a real uvicorn server on a free loopback port, inside the test's loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import uvicorn

from tests.support.polling import async_wait_until


@asynccontextmanager
async def serve_on_loopback(
    app: Any,
    *,
    lifespan: Literal["on", "off", "auto"] = "off",
    log_level: str = "warning",
) -> AsyncIterator[str]:
    """Yield the base URL while uvicorn serves ``app``; the OS picks the port (no race)."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level=log_level, lifespan=lifespan)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await async_wait_until(lambda: server.started or task.done(), timeout=10)
        assert server.started, "uvicorn did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
