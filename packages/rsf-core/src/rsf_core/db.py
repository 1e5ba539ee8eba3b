"""Connect to MongoDB (or nx-27017) and initialise Beanie over pymongo's async client."""

from __future__ import annotations

from typing import Any

from beanie import init_beanie
from pymongo import AsyncMongoClient
from rsf_observability.metrics import RsfMetrics

from rsf_core.db_metrics import CommandMetricsListener
from rsf_core.models import ALL_DOCUMENTS, COLLECTION_NAMES


async def init_db(
    uri: str,
    db_name: str,
    *,
    metrics: RsfMetrics | None = None,
    **client_options: Any,
) -> AsyncMongoClient[Any]:
    """Create the client (tz-aware, with command metrics when ``metrics`` is given) and init Beanie.

    The caller owns the returned client and closes it (``await client.close()``).
    Extra keyword arguments go to :class:`pymongo.AsyncMongoClient` (timeouts, app name...).
    """
    listeners = list(client_options.pop("event_listeners", []))
    if metrics is not None:
        listeners.append(CommandMetricsListener(metrics, COLLECTION_NAMES))
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        uri, tz_aware=True, event_listeners=listeners, **client_options
    )
    try:
        await init_beanie(database=client[db_name], document_models=list(ALL_DOCUMENTS))
    except BaseException:
        await client.close()
        raise
    return client
