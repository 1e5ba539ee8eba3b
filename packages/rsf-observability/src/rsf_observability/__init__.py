"""rsf-observability: observability for any ASGI app.

Every public name is re-exported here; submodules stay importable on their own.
"""

from rsf_observability.context import get_correlation_id
from rsf_observability.metrics import RsfMetrics, default_metrics
from rsf_observability.settings import ObservabilitySettings

__all__ = [
    "ObservabilitySettings",
    "RsfMetrics",
    "default_metrics",
    "get_correlation_id",
]

# --- correlation ids, log enrichment, request/response and audit logging (issue 2) ----------
from rsf_observability.access_log import AccessLogMiddleware
from rsf_observability.audit import AuditMiddleware
from rsf_observability.audit_sink import AuditEntry, AuditSink
from rsf_observability.correlation import (
    CorrelationIdMiddleware,
    generate_correlation_id,
    is_valid_correlation_id,
)
from rsf_observability.log_enrichment import (
    CorrelationFilter,
    install_record_factory,
    uninstall_record_factory,
)
from rsf_observability.outbound import (
    AsyncPropagationHook,
    SyncPropagationHook,
    instrument_httpx_client,
    outbound_headers,
    propagation_event_hook,
    sync_propagation_event_hook,
)

__all__ += [
    "AccessLogMiddleware",
    "AsyncPropagationHook",
    "AuditEntry",
    "AuditMiddleware",
    "AuditSink",
    "CorrelationFilter",
    "CorrelationIdMiddleware",
    "SyncPropagationHook",
    "generate_correlation_id",
    "install_record_factory",
    "instrument_httpx_client",
    "is_valid_correlation_id",
    "outbound_headers",
    "propagation_event_hook",
    "sync_propagation_event_hook",
    "uninstall_record_factory",
]
# --- end issue 2 block -------------------------------------------------------------------------

# --- health monitoring and the Alertmanager webhook (issue 4) ------------------------------------
from rsf_observability.alert_handlers import (  # noqa: E402
    AlertHandler,
    AlertHandlers,
    DebugLoggingHandler,
    HookHandler,
    default_alert_handlers,
)
from rsf_observability.alert_memory_store import InMemoryAlertStore  # noqa: E402
from rsf_observability.alert_models import AlertmanagerAlert, AlertmanagerWebhook  # noqa: E402
from rsf_observability.alert_router import AlertWebhook, alert_webhook_routes  # noqa: E402
from rsf_observability.alert_store import AlertPage, AlertQuery, AlertRecord, AlertStore  # noqa: E402
from rsf_observability.health import (  # noqa: E402
    CheckResult,
    HealthCheck,
    HealthMonitor,
    HealthReport,
    HealthState,
    ServiceHealth,
)
from rsf_observability.health_checks import (  # noqa: E402
    business_check,
    database_check,
    http_check,
    system_resources_check,
)
from rsf_observability.health_routes import health_routes  # noqa: E402

# A plain assignment (not +=) so a later block's imports stay E402-clean.
__all__ = [
    *__all__,
    "AlertHandler",
    "AlertHandlers",
    "AlertPage",
    "AlertQuery",
    "AlertRecord",
    "AlertStore",
    "AlertWebhook",
    "AlertmanagerAlert",
    "AlertmanagerWebhook",
    "CheckResult",
    "DebugLoggingHandler",
    "HealthCheck",
    "HealthMonitor",
    "HealthReport",
    "HealthState",
    "HookHandler",
    "InMemoryAlertStore",
    "ServiceHealth",
    "alert_webhook_routes",
    "business_check",
    "database_check",
    "default_alert_handlers",
    "health_routes",
    "http_check",
    "system_resources_check",
]
# --- end issue 4 block ---------------------------------------------------------------------------

# --- tracing and one-call setup (issue 3: tracing, instrument) ---------------------------------
from rsf_observability.error_handlers import (  # noqa: E402
    http_problem_handler,
    install_error_handlers,
)
from rsf_observability.instrument import Instrumentation, instrument  # noqa: E402
from rsf_observability.tracing import configure_tracing  # noqa: E402
from rsf_observability.tracing_middleware import TracingMiddleware  # noqa: E402
from rsf_observability.unhandled_errors import UnhandledErrorMiddleware  # noqa: E402

__all__ = [
    *__all__,
    "Instrumentation",
    "TracingMiddleware",
    "UnhandledErrorMiddleware",
    "configure_tracing",
    "http_problem_handler",
    "install_error_handlers",
    "instrument",
]
# --- end issue 3 tracing/instrument block --------------------------------------------------------

# --- metrics: HTTP middleware, route templates, /metrics, system gauges (issue 3: metrics) --------
from rsf_observability.exposition import (  # noqa: E402
    MetricsEndpoint,
    mark_worker_dead,
    metrics_endpoint,
    metrics_route,
    multiprocess_dir,
    render_metrics,
)
from rsf_observability.http_metrics import HttpMetricsMiddleware, PathSkipper  # noqa: E402
from rsf_observability.routes import UNMATCHED, route_template  # noqa: E402
from rsf_observability.system_metrics import SystemMetricsCollector  # noqa: E402

__all__ = [
    *__all__,
    "UNMATCHED",
    "HttpMetricsMiddleware",
    "MetricsEndpoint",
    "PathSkipper",
    "SystemMetricsCollector",
    "mark_worker_dead",
    "metrics_endpoint",
    "metrics_route",
    "multiprocess_dir",
    "render_metrics",
    "route_template",
]
# --- end issue 3 metrics block -------------------------------------------------------------------

# --- logging core: formats, configure_logging, get_logger, categories, Loki (issue 2: logging) ---
from rsf_observability.log_categories import audit_log, business_log, system_log  # noqa: E402
from rsf_observability.log_format import DevFormatter, JsonFormatter  # noqa: E402
from rsf_observability.log_setup import (  # noqa: E402
    LoggingRuntime,
    TemporaryLogLevel,
    ashutdown_logging,
    configure_logging,
    get_log_level,
    get_logging_runtime,
    logging_lifespan,
    set_log_level,
    shutdown_logging,
    temporary_log_level,
)
from rsf_observability.logger import BoundLogger, get_logger  # noqa: E402
from rsf_observability.loki import LokiHandler  # noqa: E402

__all__ = [
    *__all__,
    "BoundLogger",
    "DevFormatter",
    "JsonFormatter",
    "LoggingRuntime",
    "LokiHandler",
    "TemporaryLogLevel",
    "ashutdown_logging",
    "audit_log",
    "business_log",
    "configure_logging",
    "get_log_level",
    "get_logger",
    "get_logging_runtime",
    "logging_lifespan",
    "set_log_level",
    "shutdown_logging",
    "system_log",
    "temporary_log_level",
]
# --- end issue 2 logging block -------------------------------------------------------------------
