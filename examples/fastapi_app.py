"""rsf-observability on a FastAPI app: one ``instrument()`` call.

Run it::

    python -m examples.fastapi_app            # http://127.0.0.1:8000
    OTEL_TRACES_EXPORTER=console python -m examples.fastapi_app   # print spans too

Then try ``/orders/42``, ``/api/settlements/s-1``, ``/crash``, ``/metrics``, a route that does not
exist, and ``/relay`` (which calls ``DOWNSTREAM_URL``, by default this app's own ``/orders/7``,
with the correlation id and ``traceparent`` attached). tests/observability/test_fastapi_example.py
runs this module.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from pydantic import BaseModel
from rsf_observability.errors import ProblemError
from rsf_observability.instrument import instrument
from rsf_observability.log_setup import configure_logging
from rsf_observability.logger import get_logger
from rsf_observability.metrics import RsfMetrics
from rsf_observability.outbound import instrument_httpx_client
from rsf_observability.settings import ObservabilitySettings

log = get_logger("ExampleApp")


class SettlementIn(BaseModel):
    settlement_id: str
    amount: str


def create_app(
    settings: ObservabilitySettings | None = None,
    *,
    metrics: RsfMetrics | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    downstream_url: str | None = None,
) -> FastAPI:
    """The example app; the keyword arguments let a test give it its own registry and spans."""
    settings = settings or ObservabilitySettings()
    downstream = downstream_url or os.environ.get("DOWNSTREAM_URL", "http://127.0.0.1:8000")
    settlements: dict[str, SettlementIn] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Logging is process-wide, so it is set up when the server starts, not at import.
        configure_logging(settings)
        yield

    app = FastAPI(title="rsf-observability example", lifespan=lifespan)

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str) -> dict[str, str]:
        log.info("Order looked up", orderId=order_id)
        return {"orderId": order_id, "status": "settled"}

    @app.get("/crash")
    async def crash() -> dict[str, str]:
        raise RuntimeError("this message stays in the logs, never in the response")

    api = APIRouter(prefix="/api/settlements")

    @api.post("", status_code=201)
    async def create_settlement(body: SettlementIn) -> dict[str, str]:
        if body.settlement_id in settlements:
            raise ProblemError(409, "Settlement already exists", code="duplicate_settlement")
        settlements[body.settlement_id] = body
        log.info("Settlement generated", settlementId=body.settlement_id)
        return {"settlementId": body.settlement_id}

    @api.get("/{settlement_id}")
    async def get_settlement(settlement_id: str) -> dict[str, str]:
        found = settlements.get(settlement_id)
        if found is None:
            raise ProblemError(404, f"No settlement {settlement_id}")
        return found.model_dump()

    app.include_router(api)

    @app.get("/relay")
    async def relay() -> dict[str, Any]:
        """Calls another service; the request carries our correlation id and traceparent."""
        async with instrument_httpx_client(httpx.AsyncClient(base_url=downstream)) as client:
            reply = await client.get("/orders/7")
        return {"downstream": reply.json()}

    # Last, after every route: correlation, tracing, metrics, logs, /metrics, error handlers.
    app.state.instrumentation = instrument(
        app, settings, metrics=metrics, tracer_provider=tracer_provider
    )
    return app


app = create_app()

if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=8000)
