"""Start-up and shut-down of the server: store, Beanie, health checks, background collectors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from rsf_core.agency_client import AgencyClient, SignerConfig
from rsf_core.business_metrics import BusinessMetricsCollector
from rsf_core.db import init_db
from rsf_core.registry_lookup import RegistryKeyLookup
from rsf_core.stuck import count_stuck_settlements
from rsf_observability.health_checks import (
    business_check,
    database_check,
    http_check,
    system_resources_check,
)
from starlette.applications import Starlette

from rsf_server.context import ServerContext
from rsf_server.embedded_store import EmbeddedStore
from rsf_server.mongo_pool import mongo_client_options
from rsf_server.network_routes import key_lookup

_logger = logging.getLogger("rsf_server")


async def _start_embedded_store(rsf: ServerContext) -> None:
    """Only when ``create_app`` is served directly without a URI (``rsf-server`` starts its own)."""
    store = EmbeddedStore(data_dir=rsf.settings.data_dir / "nx-27017")
    await asyncio.to_thread(store.start)
    rsf.embedded_store = store
    _logger.info("Embedded store started", extra={"uri": store.uri})


def _stop_embedded_store(rsf: ServerContext) -> None:
    store, rsf.embedded_store = rsf.embedded_store, None
    if store is not None:
        store.stop()


def _register_checks(rsf: ServerContext) -> None:
    obs = rsf.observability
    assert rsf.client is not None
    rsf.monitor.register(
        "database",
        database_check(
            rsf.client,
            metrics=rsf.metrics,
            database=rsf.settings.mongodb_db,
            timeout=obs.health_check_timeout,
        ),
    )
    # Resource pressure and stuck settlements degrade the service; they do not make it down.
    rsf.monitor.register(
        "system",
        system_resources_check(
            cpu_threshold=obs.health_cpu_threshold,
            memory_threshold=obs.health_memory_threshold,
            disk_threshold=obs.health_disk_threshold,
        ),
        critical=False,
    )
    minutes = rsf.settings.stuck_after_minutes

    async def stuck_settlements() -> dict[str, Any]:
        stuck = await count_stuck_settlements(older_than_minutes=minutes)
        return {"healthy": stuck == 0, "stuckSettlements": stuck, "thresholdMinutes": minutes}

    rsf.monitor.register("settlements", business_check(stuck_settlements), critical=False)
    health_url = rsf.settings.settlement_agency_health_url
    if health_url:
        rsf.monitor.register("settlement_agency", http_check(health_url), critical=False)


def _agency_client(rsf: ServerContext) -> AgencyClient | None:
    """The signed sender for trigger routes, when this NP's signing identity is configured."""
    settings = rsf.settings
    if not (settings.subscriber_id and settings.unique_key_id and settings.signing_private_key):
        return None
    signer = SignerConfig(
        settings.subscriber_id,
        settings.unique_key_id,
        settings.signing_private_key.get_secret_value(),
    )
    return AgencyClient(signer, correlation_header=rsf.observability.correlation_header)


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    rsf: ServerContext = app.state.rsf
    async with contextlib.AsyncExitStack() as stack:
        if not rsf.settings.mongodb_uri and rsf.embedded_store is None:
            await _start_embedded_store(rsf)
            stack.callback(_stop_embedded_store, rsf)
        rsf.client = await init_db(
            rsf.mongodb_uri,
            rsf.settings.mongodb_db,
            metrics=rsf.metrics,
            appname="rsf-server",
            **mongo_client_options(rsf.settings),
        )
        stack.push_async_callback(rsf.client.close)
        # instrument() starts the monitor after this and stops it before the exit stack unwinds.
        _register_checks(rsf)
        if rsf.settings.registry_lookup_url:
            registry = RegistryKeyLookup(
                rsf.settings.registry_lookup_url, fallback=key_lookup(rsf.settings)
            )
            rsf.key_lookup = registry
            stack.push_async_callback(registry.aclose)
        client = _agency_client(rsf)
        if client is not None:
            rsf.agency_client = client
            stack.push_async_callback(client.aclose)
        collector = BusinessMetricsCollector(
            rsf.metrics, interval=rsf.settings.business_metrics_interval
        )
        collector.start()
        rsf.business_metrics = collector
        stack.push_async_callback(collector.stop)
        settings = rsf.settings
        if settings.jwt_secret is None and settings.jwt_secret_file is None:
            _logger.warning(
                "JWT_SECRET is not set: /ui tokens are signed with a random key and end with "
                "this process"
            )
        _logger.info(
            "RSF server ready",
            extra={
                "database": rsf.settings.mongodb_db,
                "embedded": rsf.settings.uses_embedded_store,
            },
        )
        yield
