"""What the server's routes share: settings, metrics, the database client and the health monitor.

One instance lives on ``app.state.rsf``; the lifespan fills in what only exists while running.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient
from rsf_core.agency_client import AgencyClient
from rsf_core.business_metrics import BusinessMetricsCollector
from rsf_core.signing import AnyPublicKeyLookup
from rsf_observability.health import HealthMonitor
from rsf_observability.instrument import Instrumentation
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings

from rsf_server.config import ServerSettings
from rsf_server.embedded_store import EmbeddedStore


@dataclass(eq=False)
class ServerContext:
    settings: ServerSettings
    observability: ObservabilitySettings
    metrics: RsfMetrics
    monitor: HealthMonitor
    jwt_secret: str
    key_lookup: AnyPublicKeyLookup
    instrumentation: Instrumentation | None = None
    embedded_store: EmbeddedStore | None = None
    # Set by the lifespan while the app runs:
    client: AsyncMongoClient[Any] | None = None
    agency_client: AgencyClient | None = None  # only with a signing identity configured
    business_metrics: BusinessMetricsCollector | None = None

    @property
    def mongodb_uri(self) -> str:
        if self.settings.mongodb_uri:
            return self.settings.mongodb_uri
        if self.embedded_store is not None:
            return self.embedded_store.uri
        raise RuntimeError("no database: MONGODB_URI is unset and no embedded store runs")
