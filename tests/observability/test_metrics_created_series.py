"""instrument() serves no prometheus_client ``*_created`` series unless asked to."""

from __future__ import annotations

import httpx
from rsf_observability import ObservabilitySettings, RsfMetrics, instrument
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def _ping(_: object) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def _scrape(created: bool) -> list[str]:
    app = Starlette(routes=[Route("/ping", _ping)])
    settings = ObservabilitySettings(
        environment="production", loki_host=None, metrics_created_series=created
    )
    instrument(app, settings, metrics=RsfMetrics())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/ping")).status_code == 200
        body = (await client.get("/metrics")).text
    return [line for line in body.splitlines() if line.startswith("http_requests")]


async def test_no_created_series_by_default() -> None:
    lines = await _scrape(created=False)
    assert any(line.startswith("http_requests_total{") for line in lines)
    assert not any("_created" in line for line in lines)


async def test_created_series_on_request() -> None:
    try:
        lines = await _scrape(created=True)
        assert any(line.startswith("http_requests_created{") for line in lines)
    finally:
        await _scrape(created=False)  # the switch is process-wide: leave the default behind
