"""The /metrics endpoint: text format, OpenMetrics negotiation, gzip, registry per app."""

from __future__ import annotations

import gzip

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rsf_observability.exposition import metrics_endpoint, metrics_route, render_metrics
from rsf_observability.metrics import RsfMetrics
from starlette.applications import Starlette

from tests.observability.apps.metrics_app import build_app

OPENMETRICS = "application/openmetrics-text; version=1.0.0,text/plain;version=0.0.4;q=0.5"


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def _value(text: str, sample_name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == sample_name and labels.items() <= sample.labels.items():
                return float(sample.value)
    raise AssertionError(f"no sample {sample_name} {labels}")


async def test_prometheus_text_format_by_default_with_traffic_counts() -> None:
    metrics = RsfMetrics()
    async with _client(build_app(metrics)) as c:
        await c.get("/whoami")
        await c.get("/ui/orders/1")
        response = await c.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert "# TYPE http_request_duration_seconds histogram" in text
    assert _value(text, "http_requests_total", route="/ui/orders/{user_id}", status_code="200") == 1
    assert _value(text, "http_request_duration_seconds_bucket", route="/whoami", le="0.0001") >= 0
    assert "# EOF" not in text


async def test_openmetrics_when_the_scraper_asks_for_it() -> None:
    async with _client(build_app(RsfMetrics())) as c:
        await c.get("/whoami")
        response = await c.get("/metrics", headers={"Accept": OPENMETRICS})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert "version=1.0.0" in response.headers["content-type"]
    assert response.text.endswith("# EOF\n")
    # OpenMetrics names the counter family without _total and keeps it on the sample.
    assert "# TYPE http_requests counter" in response.text
    assert 'http_requests_total{method="GET",route="/whoami",status_code="200"} 1.0' in (
        response.text
    )


async def test_gzip_when_accepted_and_identity_otherwise() -> None:
    async with _client(build_app(RsfMetrics())) as c:
        await c.get("/whoami")
        zipped = await c.get("/metrics", headers={"Accept-Encoding": "br;q=1.0, gzip;q=0.8"})
        plain = await c.get("/metrics", headers={"Accept-Encoding": "identity"})

    assert zipped.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["vary"]
    # httpx decoded it; the wire body was gzip and decodes to the same exposition.
    assert "http_requests_total" in zipped.text
    assert "content-encoding" not in plain.headers

    body, headers = render_metrics(RsfMetrics(), accept_encoding="gzip")
    assert headers["Content-Encoding"] == "gzip"
    assert b"# HELP http_requests_total" in gzip.decompress(body)


async def test_scrape_refreshes_the_system_gauges() -> None:
    async with _client(build_app(RsfMetrics())) as c:
        text = (await c.get("/metrics")).text
    cpu = _value(text, "system_cpu_usage_percent", instance="test")
    memory = _value(text, "system_memory_usage_percent", instance="test")
    disk = _value(text, "system_disk_usage_percent", instance="test", mountpoint="/")
    assert 0.0 <= cpu <= 100.0
    assert 0.0 < memory <= 100.0
    assert 0.0 < disk <= 100.0


async def test_building_the_app_twice_keeps_separate_registries() -> None:
    first, second = RsfMetrics(), RsfMetrics()
    async with _client(build_app(first)) as c1, _client(build_app(second)) as c2:
        await c1.get("/whoami")
        await c1.get("/whoami")
        await c2.get("/whoami")
        text1 = (await c1.get("/metrics")).text
        text2 = (await c2.get("/metrics")).text
    assert _value(text1, "http_requests_total", route="/whoami") == 2
    assert _value(text2, "http_requests_total", route="/whoami") == 1


async def test_metrics_route_answers_get_and_head_only() -> None:
    app = Starlette(routes=[metrics_route(RsfMetrics(), path="/internal/metrics")])
    async with _client(app) as c:
        assert (await c.get("/internal/metrics")).status_code == 200
        assert (await c.head("/internal/metrics")).status_code == 200
        assert (await c.post("/internal/metrics")).status_code == 405


async def test_endpoint_is_a_plain_asgi_app_and_runs_the_scrape_hook() -> None:
    metrics = RsfMetrics()
    calls: list[int] = []

    def on_scrape() -> None:
        calls.append(1)
        metrics.settlement_success_rate_percent.set(97.5)

    async with _client(metrics_endpoint(metrics, on_scrape=on_scrape)) as c:
        text = (await c.get("/anything")).text
    assert calls == [1]
    assert _value(text, "settlement_success_rate_percent") == 97.5
