"""``GET /ui/health``: the settlement service's health (database, stuck settlements)."""

from __future__ import annotations

from rsf_server.app import create_app
from rsf_server.embedded_store import EmbeddedStore

from tests.support.perf_server import running_server, serve, server_settings
from tests.support.polling import async_wait_until


async def test_ui_health_reports_settlement_checks(mongo_uri: str, db_name: str) -> None:
    async with running_server(mongo_uri, db_name) as client:
        response = await client.get("/ui/health")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["status"] == "healthy"
        assert set(body["services"]) == {"database", "settlements"}
        assert body["services"]["settlements"]["details"]["stuckSettlements"] == 0
        assert body["services"]["database"]["status"] == "healthy"


async def test_ui_health_is_503_without_the_database(
    private_store: EmbeddedStore, db_name: str
) -> None:
    app = create_app(server_settings(private_store.uri, db_name, db_timeout_ms=500))
    async with serve(app) as client:
        assert (await client.get("/ui/health")).status_code == 200
        private_store.kill()

        async def down() -> dict[str, object] | None:
            response = await client.get("/ui/health")
            return response.json() if response.status_code == 503 else None

        body = await async_wait_until(down, timeout=15)
        assert body["status"] == "unhealthy"
        assert body["services"]["database"]["status"] == "unhealthy"
        assert "correlationId" not in body or body["correlationId"]
