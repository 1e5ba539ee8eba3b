"""Puts the guide's performance middleware on the server, inside the SDK's instrumentation.

Call :func:`add_performance_middleware` **before** ``instrument()``: ``add_middleware`` wraps each
new layer around the previous ones, so these end up inside the SDK's layers and the order is::

    CorrelationId > Tracing > HttpMetrics > AccessLog > Audit > UnhandledError   (instrument)
    > RateLimit > ResponseCache > Compression > the app's routes                 (here)

That way a 429 or a cached answer still gets its correlation id, metrics, access and audit log.
"""

from __future__ import annotations

from collections.abc import Callable

from rsf_observability.health import HealthMonitor, HealthState
from rsf_observability.http_metrics import PathSkipper
from starlette.applications import Starlette

from rsf_server.compression import CompressionMiddleware
from rsf_server.config import ServerSettings
from rsf_server.rate_limit import DEFAULT_EXEMPT_PATHS, RateLimitMiddleware, RateLimitPolicy
from rsf_server.request_identity import bearer_identity
from rsf_server.response_cache import ResponseCache, ResponseCacheMiddleware


def rate_limit_policy(settings: ServerSettings) -> RateLimitPolicy:
    return RateLimitPolicy(
        window_seconds=settings.rate_limit_window_seconds,
        anonymous=settings.rate_limit_anonymous,
        authenticated=settings.rate_limit_authenticated,
        premium=settings.rate_limit_premium,
    )


def _unhealthy(monitor: HealthMonitor | None) -> Callable[[], bool]:
    def unhealthy() -> bool:
        report = monitor.last_report if monitor is not None else None
        return report is not None and report.status is HealthState.UNHEALTHY

    return unhealthy


def add_performance_middleware(
    app: Starlette,
    settings: ServerSettings,
    *,
    jwt_secret: str,
    cache: ResponseCache,
    monitor: HealthMonitor | None = None,
) -> None:
    """Compression, response cache and rate limit, each as its settings switch it on.

    With ``monitor``, the cache steps aside while the last health report is unhealthy.
    """
    identify = bearer_identity(jwt_secret)
    if settings.compression_enabled:
        app.add_middleware(
            CompressionMiddleware,
            minimum_size=settings.compression_minimum_size,
            compresslevel=settings.compression_level,
        )
    if settings.response_cache_enabled:
        app.add_middleware(
            ResponseCacheMiddleware,
            cache=cache,
            identify=identify,
            ttl=settings.response_cache_ttl_seconds,
            bypass=_unhealthy(monitor),
        )
    if settings.rate_limit_enabled:
        metrics_path = settings.observability.metrics_path
        exempt = PathSkipper((*DEFAULT_EXEMPT_PATHS, metrics_path))
        app.add_middleware(
            RateLimitMiddleware,
            identify=identify,
            policy=rate_limit_policy(settings),
            exempt=exempt,
        )
