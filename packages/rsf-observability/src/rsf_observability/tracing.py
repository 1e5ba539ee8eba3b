"""An OpenTelemetry tracer provider built from the settings and the standard ``OTEL_*`` variables.

Spans are always created, even with no exporter, because log records take their ``trace_id`` and
``span_id`` from the current span and outbound requests carry its ``traceparent``. Where the spans
go is the exporter's business: ``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, ``none``) or an
explicit ``exporter=`` (tests pass an ``InMemorySpanExporter``).

OpenTelemetry lets a process set its global provider once. :func:`configure_tracing` therefore
returns the provider it built, sets it as the global one only when no SDK provider is set yet, and
the middleware takes the provider explicitly, so two apps in one process (tests) each trace into
their own provider.
"""

from __future__ import annotations

import logging
import os
from typing import Final

from opentelemetry import trace
from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.sdk.resources import (
    DEPLOYMENT_ENVIRONMENT,
    SERVICE_NAME,
    SERVICE_VERSION,
    Resource,
)
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from rsf_observability.settings import ObservabilitySettings

_logger = logging.getLogger(__name__)

TRACER_NAME: Final = "rsf_observability"
# The stable successor of ``deployment.environment``; both are set so old and new backends agree.
DEPLOYMENT_ENVIRONMENT_NAME: Final = "deployment.environment.name"
_NO_EXPORTER: Final = frozenset({"", "none"})
_OTLP_MISSING: Final = (
    "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter, an optional extra: "
    "pip install 'rsf-observability[otlp]'"
)


def configure_tracing(
    settings: ObservabilitySettings | None = None,
    *,
    exporter: SpanExporter | None = None,
    batch: bool | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Build a :class:`TracerProvider` for this service.

    - Resource: ``service.name``, ``deployment.environment`` (and its stable successor
      ``deployment.environment.name``) and ``service.version`` from the settings; other
      attributes from ``OTEL_RESOURCE_ATTRIBUTES`` (the settings win on theirs, so logs, metrics
      and traces name the service alike).
    - Sampler: the SDK reads ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG`` itself
      (default ``parentbased_always_on``); ``OTEL_SDK_DISABLED=true`` turns tracing off.
    - Exporter: ``exporter=`` wins; else ``OTEL_TRACES_EXPORTER`` (comma-separated ``otlp``,
      ``console``, ``none``). Unset means none, unlike the OpenTelemetry default of ``otlp``,
      so a laptop never retries a collector that is not there.
    - ``batch``: export through a :class:`BatchSpanProcessor` (off the request path). Default:
      batched for exporters named in the environment, synchronous for an explicit ``exporter=``
      so a test sees its spans as soon as the request ends.
    - ``set_global``: make this the global provider if no SDK provider is set yet (later calls
      leave the first one in place, since OpenTelemetry refuses to replace it). Pass the returned
      provider to :class:`~rsf_observability.tracing_middleware.TracingMiddleware` explicitly.
    """
    settings = settings or ObservabilitySettings()
    resource = Resource.create(
        {
            SERVICE_NAME: settings.service_name,
            SERVICE_VERSION: settings.service_version,
            DEPLOYMENT_ENVIRONMENT: settings.environment,
            DEPLOYMENT_ENVIRONMENT_NAME: settings.environment,
        }
    )
    provider = TracerProvider(resource=resource)
    for processor in _span_processors(exporter, batch):
        provider.add_span_processor(processor)
    if set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
    return provider


def _span_processors(exporter: SpanExporter | None, batch: bool | None) -> list[SpanProcessor]:
    if exporter is not None:
        return [BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)]
    exporters = exporters_from_env()
    if batch is False:
        return [SimpleSpanProcessor(each) for each in exporters]
    return [BatchSpanProcessor(each) for each in exporters]


def exporters_from_env() -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names; an unknown name is a startup error."""
    names = [name.strip().lower() for name in os.environ.get(OTEL_TRACES_EXPORTER, "").split(",")]
    exporters: list[SpanExporter] = []
    for name in names:
        if name in _NO_EXPORTER:
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            exporters.append(_otlp_exporter())
        else:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER={name!r} is not supported; use otlp, console or none"
            )
    return exporters


def _otlp_exporter() -> SpanExporter:
    """The OTLP/HTTP exporter; it reads ``OTEL_EXPORTER_OTLP_*`` (endpoint, headers) itself."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError(_OTLP_MISSING) from exc
    return OTLPSpanExporter()
