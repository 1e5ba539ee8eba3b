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
