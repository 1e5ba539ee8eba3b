"""The SDK stands alone: it never imports rsf_core or rsf_server, and needs no MongoDB driver.

A child interpreter forbids those imports outright, then instruments a plain Starlette app and
serves a request, so an accidental import anywhere in the SDK fails here.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

_CHILD = textwrap.dedent(
    """
    import asyncio, importlib.abc, sys

    FORBIDDEN = ("rsf_core", "rsf_server", "beanie", "pymongo", "motor")

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in FORBIDDEN:
                raise ImportError(f"the SDK imported {name}")
            return None

    sys.meta_path.insert(0, Block())

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import rsf_observability
    from rsf_observability import ObservabilitySettings, RsfMetrics, instrument

    async def hello(request):
        return JSONResponse({"hello": "world"})

    async def main():
        app = Starlette(routes=[Route("/hello/{name}", hello)])
        instrument(app, ObservabilitySettings(environment="test"), metrics=RsfMetrics())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sdk") as client:
            response = await client.get("/hello/x")
            metrics = await client.get("/metrics")
        assert response.status_code == 200, response.status_code
        assert response.headers["x-correlation-id"].startswith("req_")
        assert 'route="/hello/{name}"' in metrics.text
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in FORBIDDEN)
        assert not loaded, loaded
        print("standalone ok", len(rsf_observability.__all__))

    asyncio.run(main())
    """
)


def test_sdk_serves_an_instrumented_app_without_core_server_or_mongo_driver() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "standalone ok" in result.stdout
