"""Every metric of the operations guide, bound to a registry the app owns.

Names follow Prometheus conventions (base units, ``_total`` counters); every departure from the
guide is listed with its reason in ``docs/metrics.md``. Building :class:`RsfMetrics` twice on two
registries never raises "Duplicated timeseries", so tests can build an app per test.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HTTP_DURATION_BUCKETS: tuple[float, ...] = (0.0001, 0.005, 0.015, 0.05, 0.1, 0.5, 1, 5)
DB_DURATION_BUCKETS: tuple[float, ...] = (
    0.001,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
)
PROCESSING_BUCKETS: tuple[float, ...] = (0.1, 0.5, 1, 2, 5, 10, 30, 60)
DISCREPANCY_BUCKETS: tuple[float, ...] = (0, 1, 5, 10, 50, 100, 500, 1000)
SETTLEMENT_DURATION_BUCKETS: tuple[float, ...] = (
    0.1,
    0.5,
    1,
    2,
    5,
    10,
    30,
    60,
    300,
    900,
    3600,
    21600,
    86400,
)


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


@dataclass(eq=False)
class RsfMetrics:
    """The guide's metric families on one registry.

    ``registry=None`` registers nothing globally: a fresh private registry is created.
    Use :func:`default_metrics` for the process-wide instance that simple apps share.
    """

    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )

    def __post_init__(self) -> None:
        r = self.registry
        # Gauges that every worker sets for itself: in multiprocess mode keep the freshest.
        latest: Literal["mostrecent", "all"] = "mostrecent" if _multiprocess() else "all"

        # --- system -----------------------------------------------------------------------
        self.system_cpu_usage_percent = Gauge(
            "system_cpu_usage_percent",
            "Current CPU usage percentage (psutil, all cores)",
            ["instance"],
            registry=r,
            multiprocess_mode=latest,
        )
        self.system_memory_usage_percent = Gauge(
            "system_memory_usage_percent",
            "Current memory usage percentage",
            ["instance"],
            registry=r,
            multiprocess_mode=latest,
        )
        self.system_disk_usage_percent = Gauge(
            "system_disk_usage_percent",
            "Current disk usage percentage per mountpoint",
            ["instance", "mountpoint"],
            registry=r,
            multiprocess_mode=latest,
        )
        self.python_eventloop_lag_seconds = Gauge(
            "python_eventloop_lag_seconds",
            "Lag of the asyncio event loop behind its schedule",
            registry=r,
            multiprocess_mode="max" if _multiprocess() else "all",
        )

        # --- database ---------------------------------------------------------------------
        self.db_health_status = Gauge(
            "db_health_status",
            "Database connection status (1=healthy, 0=unhealthy)",
            ["database", "instance"],
            registry=r,
            multiprocess_mode=latest,
        )
        self.db_operation_duration_seconds = Histogram(
            "db_operation_duration_seconds",
            "Duration of database operations",
            ["operation", "collection"],
            buckets=DB_DURATION_BUCKETS,
            registry=r,
        )
        self.db_operations_total = Counter(
            "db_operations_total",
            "Database operations by outcome",
            ["operation", "collection", "outcome"],
            registry=r,
        )

        # --- business ---------------------------------------------------------------------
        self.settlement_requests_total = Counter(
            "settlement_requests_total",
            "Total number of settlement requests processed",
            ["status", "user_type"],
            registry=r,
        )
        self.settlement_success_rate_percent = Gauge(
            "settlement_success_rate_percent",
            "Percentage of successful settlements in last hour",
            registry=r,
            multiprocess_mode=latest,
        )
        self.settlement_volume_total = Counter(
            "settlement_volume_total",
            "Total settlement amount processed",
            ["currency", "agency"],
            registry=r,
        )
        self.settlement_processing_duration_seconds = Histogram(
            "settlement_processing_duration_seconds",
            "Time from a settlement being initiated to its final status",
            buckets=SETTLEMENT_DURATION_BUCKETS,
            registry=r,
        )
        self.reconciliation_processing_duration_seconds = Histogram(
            "reconciliation_processing_duration_seconds",
            "Time taken to process reconciliation requests",
            buckets=PROCESSING_BUCKETS,
            registry=r,
        )
        self.reconciliation_accuracy_percent = Gauge(
            "reconciliation_accuracy_percent",
            "Percentage of reconciliations with zero discrepancy",
            registry=r,
            multiprocess_mode=latest,
        )
        self.reconciliation_discrepancy_amount = Histogram(
            "reconciliation_discrepancy_amount",
            "Distribution of reconciliation discrepancy amounts",
            buckets=DISCREPANCY_BUCKETS,
            registry=r,
        )

        # --- HTTP -------------------------------------------------------------------------
        self.http_request_duration_seconds = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests",
            ["method", "route", "status_code"],
            buckets=HTTP_DURATION_BUCKETS,
            registry=r,
        )
        self.http_requests_total = Counter(
            "http_requests_total",
            "Total number of HTTP requests",
            ["method", "route", "status_code"],
            registry=r,
        )
        self.http_errors_total = Counter(
            "http_errors_total",
            "Total number of HTTP errors (status >= 400)",
            ["method", "route", "status_code"],
            registry=r,
        )
        self.http_requests_in_progress = Gauge(
            "http_requests_in_progress",
            "HTTP requests being served",
            ["method", "route"],
            registry=r,
            multiprocess_mode="livesum",
        )

        # --- alerts and logs --------------------------------------------------------------
        self.alerts_total = Counter(
            "alerts_total",
            "Alertmanager alerts received by the webhook",
            ["severity", "status"],
            registry=r,
        )
        self.log_records_dropped_total = Counter(
            "log_records_dropped_total",
            "Log records that could not be shipped to Loki",
            ["reason"],
            registry=r,
        )


_default: RsfMetrics | None = None


def default_metrics() -> RsfMetrics:
    """The process-wide metrics for simple apps (created on first use, on its own registry)."""
    global _default
    if _default is None:
        _default = RsfMetrics()
    return _default
