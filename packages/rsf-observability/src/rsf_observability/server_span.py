"""The request's SERVER span, recorded without the SDK span's fixed costs.

``opentelemetry.sdk.trace.Span`` is built for any span from any thread: three locks, bounded
containers, every attribute re-validated, the SDK's self-metrics, and a copy of itself for the
processors at the end. On a small machine that is ~40 µs before the span holds an attribute, and
the request span is the one span every request pays for. :class:`ServerSpan` keeps what
processors and exporters see (the tracer's sampler decides, its id generator makes the ids, its
resource, scope and span processors get the span, the same ``ReadableSpan`` shape, the same
status and exception rules) and drops the rest: the middleware's own attributes (strings and
ints it built itself) go into a plain dict, and only attributes, events and links added by other
code pass through the SDK's validating, bounded containers.

Deliberately not reproduced: the SDK's internal span metrics (``otel.sdk.span.*``, off unless
``OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED``). A tracer that is not the SDK's, or an SDK whose
shape this module does not recognise, gets an ordinary ``tracer.start_span``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from time import time_ns
from types import TracebackType
from typing import Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanLimits
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.sampling import DEFAULT_ON
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

_logger = logging.getLogger(__name__)

_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_NOT_SAMPLED: Final = TraceFlags(TraceFlags.DEFAULT)
# Newer SDKs mark locally generated random trace ids (W3C trace context level 2).
_RANDOM_FLAG: Final = int(getattr(TraceFlags, "RANDOM_TRACE_ID", 0))
_UNSET: Final = Status(StatusCode.UNSET)


class ServerSpan(trace.Span, ReadableSpan):
    """A recording span that is its own ``ReadableSpan`` once ended (nothing changes it then).

    Built by :class:`ServerSpanStarter`; code holding the current span uses it like any span.
    """

    def __init__(
        self,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        resource: Resource,
        attributes: dict[str, types.AnyValue],
        processor: Any,
        limits: SpanLimits,
        scope: InstrumentationScope | None,
        instrumentation_info: Any,
    ) -> None:
        ReadableSpan.__init__(
            self,
            name=name,
            context=context,
            parent=parent,
            resource=resource,
            attributes=attributes,
            kind=SpanKind.SERVER,
            instrumentation_info=instrumentation_info,
            status=_UNSET,
            start_time=time_ns(),
            instrumentation_scope=scope,
        )
        self._attributes: dict[str, types.AnyValue] | BoundedAttributes = attributes
        self._events: Sequence[Event] = ()
        self._links: Sequence[Link] = ()
        self._processor = processor
        self._limits = limits

    # -- the middleware's own writes: values it built, no validation needed ------------------

    def put(self, key: str, value: types.AnyValue) -> None:
        """Set an attribute the caller knows is a valid value (a str, int or float)."""
        if self._end_time is None:
            self._attributes[key] = value

    # -- trace.Span ------------------------------------------------------------------------

    def get_span_context(self) -> SpanContext:
        return self._context  # type: ignore[return-value]

    def is_recording(self) -> bool:
        return self._end_time is None

    def _recording(self, action: str) -> bool:
        if self._end_time is None:
            return True
        _logger.warning("Tried calling %s on an ended span.", action)
        return False

    def _bounded(self) -> BoundedAttributes:
        """Attributes from other code are validated and bounded like the SDK's, from here on."""
        if not isinstance(self._attributes, BoundedAttributes):
            self._attributes = BoundedAttributes(
                self._limits.max_span_attributes,
                self._attributes,
                immutable=False,
                max_value_len=self._limits.max_span_attribute_length,
            )
        return self._attributes

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        if self._recording("set_attribute"):
            self._bounded()[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        if self._recording("set_attributes"):
            bounded = self._bounded()
            for key, value in attributes.items():
                bounded[key] = value

    def add_event(
        self,
        name: str,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
    ) -> None:
        if not self._recording("add_event"):
            return
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(self._limits.max_events)
        bounded = BoundedAttributes(
            self._limits.max_event_attributes,
            attributes,
            max_value_len=self._limits.max_attribute_length,
        )
        self._events.append(Event(name, bounded, time_ns() if timestamp is None else timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if not self._recording("add_link"):
            return
        if not (context and (context.is_valid or attributes or context.trace_state)):
            return
        if not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._limits.max_links)
        bounded = BoundedAttributes(
            self._limits.max_link_attributes,
            attributes,
            max_value_len=self._limits.max_attribute_length,
        )
        self._links.append(Link(context, bounded))

    def update_name(self, name: str) -> None:
        if self._recording("update_name"):
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        """The SDK's rules: OK is final, UNSET never overrides, a description goes with a code."""
        if not self._recording("set_status") or self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                _logger.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`",
                    description,
                )
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        cls = type(exception)
        module = cls.__module__
        event: dict[str, types.AnyValue] = {
            "exception.type": f"{module}.{cls.__qualname__}"
            if module and module != "builtins"
            else cls.__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            event.update(attributes)
        self.add_event("exception", event, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            _logger.warning("Calling end() on an ended span.")
            return
        self._end_time = time_ns() if end_time is None else end_time
        on_ending = getattr(self._processor, "_on_ending", None)
        if on_ending is not None:
            on_ending(self)
        self._processor.on_end(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self.is_recording():
            self.record_exception(exc_val, escaped=True)
            self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    def __repr__(self) -> str:
        return f'ServerSpan(name="{self._name}", context={self._context})'


def put_attribute(span: trace.Span, key: str, value: types.AnyValue) -> None:
    """``span.set_attribute`` for a value the caller built itself: unchecked on a ServerSpan."""
    if type(span) is ServerSpan:
        span.put(key, value)
    else:
        span.set_attribute(key, value)


def _is_lean_capable(tracer: trace.Tracer) -> bool:
    """An SDK tracer with the public parts this module reads (sampler, ids, resource, processor)."""
    return isinstance(tracer, SdkTracer) and all(
        hasattr(tracer, name) for name in ("sampler", "id_generator", "resource", "span_processor")
    )


class ServerSpanStarter:
    """Starts request spans for one tracer; built once (per middleware), called per request.

    With the SDK's default sampler (``parentbased_always_on``, the same object unless
    ``OTEL_TRACES_SAMPLER`` names another) its decision is known without asking it: sample a
    root, follow a parent. Any other sampler is asked, as the SDK asks it.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        self._sdk: Any = tracer if _is_lean_capable(tracer) else None

    def __call__(
        self, name: str, parent: otel_context.Context, attributes: dict[str, types.AnyValue]
    ) -> trace.Span:
        """The request's SERVER span under ``parent`` (a context, possibly empty).

        ``attributes`` are the sampler's input and, with the default sampler, the span's own
        dict (not copied: pass a fresh one); the span records what the sampler returns.
        """
        sdk = self._sdk
        if sdk is None:
            return self._tracer.start_span(
                name, context=parent, kind=SpanKind.SERVER, attributes=attributes
            )
        is_enabled = getattr(sdk, "_is_enabled", None)
        parent_span = trace.get_current_span(parent).get_span_context()
        if is_enabled is not None and not is_enabled():
            return trace.NonRecordingSpan(parent_span)
        ids = sdk.id_generator
        if parent_span.is_valid:
            trace_id = parent_span.trace_id
            random_id = bool(parent_span.trace_flags & _RANDOM_FLAG)
            parent_or_none: SpanContext | None = parent_span
        else:
            trace_id = ids.generate_trace_id()
            random_id = bool(_RANDOM_FLAG) and bool(getattr(ids, "is_trace_id_random", bool)())
            parent_or_none = None
        sampler = sdk.sampler
        if sampler is DEFAULT_ON:
            sampled = parent_or_none is None or parent_span.trace_flags.sampled
            recording = sampled
            trace_state = None if parent_or_none is None else parent_span.trace_state
        else:
            result = sampler.should_sample(parent, trace_id, name, SpanKind.SERVER, attributes, ())
            sampled = result.decision.is_sampled()
            recording = result.decision.is_recording()
            trace_state = result.trace_state
            attributes = result.attributes.copy() if result.attributes is not None else {}
        flags = _SAMPLED if sampled else _NOT_SAMPLED
        if random_id:
            flags = TraceFlags(flags | _RANDOM_FLAG)
        context = SpanContext(
            trace_id,
            ids.generate_span_id(),
            is_remote=False,
            trace_flags=flags,
            trace_state=trace_state,
        )
        if not recording:
            return trace.NonRecordingSpan(context)
        limits: SpanLimits = getattr(sdk, "_span_limits", None) or _DEFAULT_LIMITS
        span = ServerSpan(
            name,
            context,
            parent_or_none,
            sdk.resource,
            attributes,
            sdk.span_processor,
            limits,
            getattr(sdk, "_instrumentation_scope", None),
            sdk.instrumentation_info,
        )
        if limits.max_span_attribute_length is not None or (
            limits.max_span_attributes is not None and len(attributes) > limits.max_span_attributes
        ):
            span._bounded()
        sdk.span_processor.on_start(span, parent_context=parent)
        return span


_DEFAULT_LIMITS: Final = SpanLimits()
