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
