"""The ``/metrics`` body of a registry as prometheus_client renders it, without redoing the work.

``prometheus_client``'s ``generate_latest`` calls every collector's ``collect()``, which builds a
``Metric`` and one ``Sample`` namedtuple per series, then escapes and sorts every label again:
about half a second for 19k samples. Scrapes mostly see the same series with few values changed,
so for the plain metric types (``Counter``, ``Gauge``, ``Histogram``, ``Summary``) holding
in-process values, this encoder keeps per series the line prefixes (``name{labels} ``), rendered
once by prometheus_client's own encoder so the bytes are the library's, and the series' last text,
reused while its values have not changed; per metric family it keeps the whole body, reused while
no series of the family changed.

Anything else goes through prometheus_client: per collector for custom collectors, ``Info``,
``Enum``, callback gauges and (OpenMetrics only) families carrying exemplars; for the whole
registry when the values are not in-process (multiprocess mode), when the encoder is not one of
prometheus_client's two text encoders, or when the library's private attributes this relies on
(``CollectorRegistry._collector_to_names``, ``_lock``, ``_metrics``, ``_value``...) are not
there. Renders of one registry are serialised by a lock; updates keep running while a render
reads each value once, and every line is formatted from that one reading.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import prometheus_client.metrics as _client_metrics
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, values
from prometheus_client import exposition as _text
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as _openmetrics
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

_go: Callable[[float], str] = floatToGoString
"""prometheus_client's value formatting (``+Inf``, ``NaN``, Go's exponents), untyped there."""

Encoder = Callable[[Collector], bytes]
"""What ``prometheus_client.exposition.choose_encoder`` returns: registry in, body out."""

MAX_FORMATS = 8
"""Distinct encoder settings (format, escaping, version) cached per registry; more go uncached."""

_VALUE = attrgetter("_value")
_CREATED = attrgetter("_created")
_ZERO = _go(0.0)
_STRINGS: dict[float, str] = {}
_STRINGS_MAX = 4096


def _value_string(value: float) -> str:
    """``_go`` through a small memo: a scrape repeats the same counts many times over."""
    found = _STRINGS.get(value)
    if found is None:
        found = _go(value)
        if value and value == value:  # 0.0 and -0.0 are one key but two strings; NaN no key
            if len(_STRINGS) >= _STRINGS_MAX:
                _STRINGS.clear()
            _STRINGS[value] = found
    return found


class _Unsupported(Exception):
    """The fast path does not understand this registry, collector or series."""


class _Metrics:
    """A collector of ready-made metric families, to hand to a prometheus_client encoder."""

    def __init__(self, metrics: Iterable[Metric]) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        return self._metrics


@dataclass(frozen=True)
class _Format:
    """One negotiated encoder: how its output is laid out around the sample lines."""

    key: Hashable
    encode: Encoder
    openmetrics: bool
    trailer: bytes

    def library(self, metrics: Iterable[Metric]) -> bytes:
        """prometheus_client's text of ``metrics``, without the format's end marker."""
        body = self.encode(_Metrics(metrics))
        if self.trailer:
            if not body.endswith(self.trailer):
                raise _Unsupported("no end marker")
            body = body[: -len(self.trailer)]
        return body


def _format_key(encode: Encoder) -> tuple[bool, Hashable] | None:
    """(OpenMetrics?, settings) of one of prometheus_client's two encoders, else None."""
    func: object = encode
    keywords: dict[str, Any] = {}
    if isinstance(encode, functools.partial):
        if encode.args:
            return None
        func, keywords = encode.func, dict(encode.keywords)
    if func is _text.generate_latest:
        openmetrics = False
    elif func is _openmetrics.generate_latest:
        openmetrics = True
    else:
        return None
    try:
        key = (openmetrics, tuple(sorted(keywords.items())))
        hash(key)
    except TypeError:
        return None
    return openmetrics, key


# --- the supported metric types ------------------------------------------------------------


_Layout = list[tuple[str, dict[str, str]]]
"""(sample suffix, sample labels) of one series, in prometheus_client's order, without _created."""


@dataclass(frozen=True)
class _Kind:
    """How one prometheus_client metric class keeps its values and lays out its samples."""

    value_objects: Callable[[Any], Sequence[Any]]
    layout: Callable[[Any], _Layout]
    samples: Callable[[Any, list[float]], Sequence[float]]
    created: bool
    exemplars: bool
    callbacks: bool = False


def _same(_: Any, raw: list[float]) -> Sequence[float]:
    return raw


def _histogram_layout(child: Any) -> _Layout:
    bounds: list[float] = child._upper_bounds
    layout: _Layout = [("_bucket", {"le": _go(b)}) for b in bounds]
    layout.append(("_count", {}))
    if bounds[0] >= 0:
        layout.append(("_sum", {}))
    return layout


def _histogram_samples(child: Any, raw: list[float]) -> Sequence[float]:
    """Cumulative buckets, count and sum, added up in the order prometheus_client adds them."""
    samples = list(itertools.accumulate(raw[:-1], initial=0.0))[1:]
    samples.append(samples[-1])
    if child._upper_bounds[0] >= 0:
        samples.append(raw[-1])
    return samples


_KINDS: dict[type, _Kind] = {
    Counter: _Kind(
        value_objects=lambda c: (c._value,),
        layout=lambda c: [("_total", {})],
        samples=_same,
        created=True,
        exemplars=True,
    ),
    Gauge: _Kind(
        value_objects=lambda c: (c._value,),
        layout=lambda c: [("", {})],
        samples=_same,
        created=False,
        exemplars=False,
        callbacks=True,
    ),
    Summary: _Kind(
        value_objects=lambda c: (c._count, c._sum),
        layout=lambda c: [("_count", {}), ("_sum", {})],
        samples=_same,
        created=True,
        exemplars=False,
    ),
    Histogram: _Kind(
        value_objects=lambda c: (*c._buckets, c._sum),
        layout=_histogram_layout,
        samples=_histogram_samples,
        created=True,
        exemplars=True,
    ),
}


# --- one series: a labelled child, or an unlabelled metric itself ----------------------------


@dataclass(frozen=True)
class _Prefixes:
    main: tuple[str, ...]
    created: str


def _has_callback(child: Any) -> bool:
    """``Gauge.set_function`` swaps the child's ``_child_samples`` for a function of its own."""
    return getattr(child._child_samples, "__func__", None) is not type(child)._child_samples


@dataclass
class _Series:
    """One child's layout, its line prefixes and its last rendered text, per format."""

    child: Any
    kind: _Kind
    size: int
    objects: tuple[Any, ...]
    prefixes: dict[Hashable, _Prefixes] = field(default_factory=dict)
    rendered: dict[Hashable, tuple[list[float], float | None, bytes, bytes]] = field(
        default_factory=dict
    )

    @classmethod
    def admit(cls, kind: _Kind, child: Any) -> _Series:
        """Checked against the library's own sample list, so a changed layout is caught here.

        No ``vars()`` here: materialising an instance dict slows every later attribute access,
        and children are updated on every request.
        """
        if _has_callback(child):
            raise _Unsupported("callback value (Gauge.set_function)")
        objects = tuple(kind.value_objects(child))
        if any(type(o) is not values.MutexValue for o in objects):
            raise _Unsupported("not an in-process value")
        layout = kind.layout(child)
        library = [(s.name, s.labels) for s in child._child_samples() if s.name != "_created"]
        if library != layout:
            raise _Unsupported("unexpected samples")
        return cls(child, kind, len(layout), objects)

    def lines(
        self, fmt: _Format, samples: Sequence[float], created: float | None
    ) -> tuple[str, str]:
        """(sample lines, ``_created`` line when the text format puts it in its own family)."""
        prefixes = self.prefixes[fmt.key]
        strings = _STRINGS
        body = "".join(
            [
                p + (strings.get(v) or _value_string(v)) + "\n"
                for p, v in zip(prefixes.main, samples, strict=True)
            ]
        )
        if created is None:
            return body, ""
        line = prefixes.created + _value_string(created) + "\n"
        return (body + line, "") if fmt.openmetrics else (body, line)

    def render(self, fmt: _Format, raw: list[float], created: float | None) -> tuple[bytes, bytes]:
        """(series text, its ``_created`` line for the text format's separate family)."""
        slot = (fmt.key, created is not None)
        last = self.rendered.get(slot)
        if last is not None and last[0] == raw and last[1] == created:
            return last[2], last[3]
        body, created_line = self.lines(fmt, self.kind.samples(self.child, raw), created)
        rendered = (raw, created, body.encode(), created_line.encode())
        self.rendered[slot] = rendered
        return rendered[2], rendered[3]


_LINEAR = 16
"""Below this many series, :func:`_changed` compares series one by one instead of halving."""


def _changed(
    raw: list[float], old: list[float], offsets: list[int], lo: int, hi: int, out: list[int]
) -> None:
    """Append to ``out`` the series in [lo, hi) whose values differ, halving with slice compares.

    Slice compares run in C: one changed series among 1,500 costs a few dozen of them.
    """
    a, b = offsets[lo], offsets[hi]
    if raw[a:b] == old[a:b]:
        return
    if hi - lo <= _LINEAR:
        for i in range(lo, hi):
            a, b = offsets[i], offsets[i + 1]
            if raw[a:b] != old[a:b]:
                out.append(i)
        return
    mid = (lo + hi) // 2
    _changed(raw, old, offsets, lo, mid, out)
    _changed(raw, old, offsets, mid, hi, out)


# --- one metric family: a registered Counter, Gauge, Histogram or Summary -------------------


@dataclass(frozen=True)
class _Headers:
    family: str
    created: str


@dataclass
class _Body:
    """A family's last text in one format and what it was rendered from."""

    generation: int
    raw: list[float]
    created: list[float] | None
    texts: list[bytes]
    created_lines: list[bytes]
    data: bytes


@dataclass
class _Exemplars:
    """Whether a family carries exemplars, without reading every value object on every scrape.

    prometheus_client sets an exemplar right after the increment it comes with and never removes
    it, so only series whose values moved since the last check, and those checked last time (in
    case the exemplar landed just after), are looked at; all of them every ``FULL_SCAN``-th
    check, which bounds how late an exemplar set in a race with scrapes can show up.
    """

    FULL_SCAN = 16

    seen: bool = False
    checks: int = 0
    pending: set[int] = field(default_factory=set)
    grace: set[int] = field(default_factory=set)

    def note(self, moved: list[int] | None) -> None:
        """Series whose values moved since the previous scrape; None: unknown, look at all."""
        if moved is None:
            self.seen, self.checks = False, 0
            self.pending, self.grace = set(), set()
        else:
            self.pending.update(moved)

    def present(self, series: list[_Series]) -> bool:
        if not self.seen:
            if self.checks % self.FULL_SCAN == 0:
                look: Iterable[_Series] = series
            else:
                look = [series[i] for i in self.pending | self.grace]
            self.checks += 1
            self.seen = any(o._exemplar is not None for s in look for o in s.objects)
            self.grace, self.pending = self.pending, set()
        return self.seen


@dataclass
class _Family:
    """One registered metric, its series in the library's order, and its last body per format."""

    metric: Any
    kind: _Kind
    description: Metric
    children: list[Any] = field(default_factory=list)
    series: list[_Series] = field(default_factory=list)
    objects: list[Any] = field(default_factory=list)
    offsets: list[int] = field(default_factory=lambda: [0])
    generation: int = 0
    headers: dict[Hashable, _Headers] = field(default_factory=dict)
    bodies: dict[Hashable, _Body] = field(default_factory=dict)
    exemplars: _Exemplars = field(default_factory=_Exemplars)
    previous_raw: list[float] | None = None

    @classmethod
    def admit(cls, metric: Collector) -> _Family | None:
        kind = _KINDS.get(type(metric))
        bound: Any = metric
        if kind is None or getattr(bound.collect, "__func__", None) is not type(metric).collect:
            return None
        described = list(bound.describe())
        if len(described) != 1:
            return None
        return cls(metric, kind, described[0])

    def bare_metric(self) -> Metric:
        d = self.description
        return Metric(d.name, d.documentation, d.type, d.unit)

    def headers_for(self, fmt: _Format) -> _Headers:
        found = self.headers.get(fmt.key)
        if found is None:
            family = fmt.library([self.bare_metric()]).decode()
            created = ""
            if self.kind.created and not fmt.openmetrics:
                probe = self.bare_metric()
                probe.add_sample(self.description.name + "_created", {}, 0.0)
                text = fmt.library([probe]).decode()
                if not text.startswith(family):
                    raise _Unsupported("unexpected header")
                created = text[len(family) : text.rindex("\n", 0, len(text) - 1) + 1]
            found = self.headers[fmt.key] = _Headers(family, created)
        return found

    def _probe(self, fmt: _Format, todo: list[_Series]) -> None:
        """Line prefixes of series new to ``fmt``, from one prometheus_client render at 0.0.

        The value is cut off every line; putting the render back together checks the cut.
        """
        name, kind = self.description.name, self.kind
        labelnames = self.metric._labelnames
        probe = self.bare_metric()
        for series in todo:
            labels = dict(zip(labelnames, series.child._labelvalues, strict=True))
            for suffix, extra in kind.layout(series.child):
                probe.add_sample(name + suffix, {**labels, **extra}, 0.0)
            if kind.created:
                probe.add_sample(name + "_created", labels, 0.0)
        text = fmt.library([probe]).decode()
        headers = self.headers_for(fmt)
        if not text.startswith(headers.family):
            raise _Unsupported("unexpected header")
        inline = fmt.openmetrics  # OpenMetrics: _created after each series; text: all at the end
        try:
            prefixes = self._cut(fmt, todo, text[len(headers.family) :].split("\n"))
        except StopIteration as short:
            raise _Unsupported("fewer sample lines") from short
        zero = 0.0 if kind.created else None
        bodies: list[str] = []
        created_lines: list[str] = []
        for series, found in zip(todo, prefixes, strict=True):
            series.prefixes[fmt.key] = found
            body, created_line = series.lines(fmt, [0.0] * series.size, zero)
            bodies.append(body)
            created_lines.append(created_line)
        tail = headers.created + "".join(created_lines) if kind.created and not inline else ""
        if text != headers.family + "".join(bodies) + tail:
            for series in todo:
                del series.prefixes[fmt.key]
            raise _Unsupported("unexpected sample lines")

    def _cut(self, fmt: _Format, todo: list[_Series], text_lines: list[str]) -> list[_Prefixes]:
        """Each series' lines of a probe render, the ``0.0`` value cut off."""
        lines = iter(text_lines)
        cut = len(_ZERO)
        kind, inline = self.kind, fmt.openmetrics
        main: list[list[str]] = []
        created: list[str] = []
        for series in todo:
            main.append([next(lines)[:-cut] for _ in range(series.size)])
            if kind.created and inline:
                created.append(next(lines)[:-cut])
        if kind.created and not inline:
            for _ in range(self.headers_for(fmt).created.count("\n")):
                next(lines)
            created = [next(lines)[:-cut] for _ in todo]
        if not created:
            created = [""] * len(todo)
        return [_Prefixes(tuple(m), c) for m, c in zip(main, created, strict=True)]

    def _current_children(self) -> list[Any]:
        metric = self.metric
        if metric._labelnames and not metric._labelvalues:
            with metric._lock:
                return list(metric._metrics.values())
        return [metric]

    def _refresh_children(self) -> None:
        children = self._current_children()
        if children == self.children:
            return
        known = {id(s.child): s for s in self.series}  # alive: self.series holds them
        self.series = [known.get(id(c)) or _Series.admit(self.kind, c) for c in children]
        self.children = children
        self.objects = [o for s in self.series for o in s.objects]
        self.offsets = list(itertools.accumulate((len(s.objects) for s in self.series), initial=0))
        self.generation += 1
        self.previous_raw = None

    def render(self, fmt: _Format, use_created: bool) -> bytes | None:
        """The family's text, or None when this scrape needs the library (exemplars)."""
        self._refresh_children()
        if self.kind.callbacks and any(map(_has_callback, self.children)):
            raise _Unsupported("callback value (Gauge.set_function)")
        raw = list(map(_VALUE, self.objects))
        previous, self.previous_raw = self.previous_raw, raw
        moved: list[int] | None = None  # series changed since the previous scrape, any format
        if previous is not None:
            moved = []
            if raw != previous:
                _changed(raw, previous, self.offsets, 0, len(self.series), moved)
        if self.kind.exemplars:
            self.exemplars.note(moved)
            if fmt.openmetrics and self.exemplars.present(self.series):
                return None
        created = list(map(_CREATED, self.children)) if use_created and self.kind.created else None
        last = self.bodies.get((fmt.key, created is not None))
        if last is None or last.generation != self.generation or last.created != created:
            return self._render(fmt, raw, created, range(len(self.series)), None)
        if last.raw == raw:
            return last.data
        if last.raw is not previous or moved is None:
            moved = []
            _changed(raw, last.raw, self.offsets, 0, len(self.series), moved)
        return self._render(fmt, raw, created, moved, last)

    def _render(
        self,
        fmt: _Format,
        raw: list[float],
        created: list[float] | None,
        dirty: Iterable[int],
        last: _Body | None,
    ) -> bytes:
        count = len(self.series)
        texts = last.texts.copy() if last is not None else [b""] * count
        created_lines = last.created_lines.copy() if last is not None else [b""] * count
        offsets, series = self.offsets, self.series
        dirty = list(dirty)
        todo = [series[i] for i in dirty if fmt.key not in series[i].prefixes]
        if todo:
            self._probe(fmt, todo)
        for i in dirty:
            texts[i], created_lines[i] = series[i].render(
                fmt, raw[offsets[i] : offsets[i + 1]], None if created is None else created[i]
            )
        headers = self.headers_for(fmt)
        parts = [headers.family.encode(), *texts]
        if created is not None and count and not fmt.openmetrics:
            parts.append(headers.created.encode())
            parts.extend(created_lines)
        data = b"".join(parts)
        slot = (fmt.key, created is not None)
        self.bodies[slot] = _Body(self.generation, raw, created, texts, created_lines, data)
        return data


# --- the registry ---------------------------------------------------------------------------


def _collectors(registry: CollectorRegistry) -> tuple[list[Collector], Metric | None]:
    """The registry's collectors in ``collect()`` order, and its target_info family if set."""
    if getattr(registry.collect, "__func__", None) is not CollectorRegistry.collect:
        raise _Unsupported("custom registry")
    internals: Any = registry
    try:
        with internals._lock:
            collectors = list(internals._collector_to_names)
            target = internals._target_info_metric() if internals._target_info else None
    except AttributeError as missing:
        raise _Unsupported("registry internals") from missing
    return collectors, target


def _use_created() -> bool | None:
    flag = getattr(_client_metrics, "_use_created", None)
    return flag if isinstance(flag, bool) else None


class RegistryEncoder:
    """Renders one registry, keeping what it rendered; use :func:`encode_registry`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._families: dict[Collector, _Family | None] = {}
        self._formats: dict[Hashable, _Format] = {}

    def render(self, registry: CollectorRegistry, encode: Encoder) -> bytes:
        """Exactly ``encode(registry)``, from the cache wherever the fast path applies."""
        found = _format_key(encode)
        use_created = _use_created()
        if found is None or use_created is None or values.ValueClass is not values.MutexValue:
            return encode(registry)
        openmetrics, key = found
        with self._lock:
            fmt = self._formats.get(key)
            if fmt is None:
                if len(self._formats) >= MAX_FORMATS:
                    return encode(registry)
                trailer = encode(_Metrics(()))
                fmt = self._formats[key] = _Format(key, encode, openmetrics, trailer)
            try:
                return self._render(registry, fmt, use_created)
            except _Unsupported:
                return encode(registry)

    def _render(self, registry: CollectorRegistry, fmt: _Format, use_created: bool) -> bytes:
        collectors, target = _collectors(registry)
        parts: list[bytes] = []
        if target is not None:
            parts.append(fmt.library([target]))
        families: dict[Collector, _Family | None] = {}
        for collector in collectors:
            body = None
            if type(collector) in _KINDS:
                # Only the plain metric types are remembered (None once given up on): a custom
                # collector may hold its registry, which must stay collectable.
                body, families[collector] = self._render_family(collector, fmt, use_created)
            parts.append(body if body is not None else fmt.library(collector.collect()))
        self._families = families
        parts.append(fmt.trailer)
        return b"".join(parts)

    def _render_family(
        self, metric: Collector, fmt: _Format, use_created: bool
    ) -> tuple[bytes | None, _Family | None]:
        """(body, or None for the library's this time; the family, or None when given up on)."""
        try:
            family = self._families[metric] if metric in self._families else _Family.admit(metric)
            if family is None:
                return None, None
            return family.render(fmt, use_created), family
        except (_Unsupported, AttributeError, TypeError, ValueError, IndexError):
            return None, None


_encoders: weakref.WeakKeyDictionary[CollectorRegistry, RegistryEncoder] = (
    weakref.WeakKeyDictionary()
)
_encoders_lock = threading.Lock()


def encoder_for(registry: CollectorRegistry) -> RegistryEncoder:
    """The registry's encoder: created on first use, dropped with the registry."""
    with _encoders_lock:
        found = _encoders.get(registry)
        if found is None:
            found = _encoders[registry] = RegistryEncoder()
        return found


def encode_registry(registry: CollectorRegistry, encode: Encoder) -> bytes:
    """``encode(registry)`` (an encoder from ``choose_encoder``), reusing unchanged text."""
    return encoder_for(registry).render(registry, encode)
