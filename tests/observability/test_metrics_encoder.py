"""The caching /metrics encoder gives prometheus_client's exact bytes, scrape after scrape."""

from __future__ import annotations

import gc
import math
import threading
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import prometheus_client.metrics as client_metrics
import pytest
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Enum,
    Gauge,
    Histogram,
    Info,
    Summary,
    disable_created_metrics,
    enable_created_metrics,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import parser as openmetrics_parser
from prometheus_client.parser import text_string_to_metric_families
from rsf_observability import metrics_encoder
from rsf_observability.exposition import render_metrics
from rsf_observability.metrics import RsfMetrics
from rsf_observability.metrics_encoder import encode_registry, encoder_for

ACCEPTS = {
    "text 0.0.4": "",
    "openmetrics": "application/openmetrics-text; version=1.0.0; charset=utf-8",
    # What Prometheus 3 sends: OpenMetrics first, UTF-8 names allowed.
    "prometheus 3": (
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,"
        "application/openmetrics-text;version=0.0.1;q=0.5,"
        "text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3"
    ),
    "text 1.0.0 dots": "text/plain;version=1.0.0;escaping=dots",
    "text 1.0.0 values": "text/plain;version=1.0.0;escaping=values",
    "openmetrics underscores": "application/openmetrics-text;version=1.0.0;escaping=underscores",
}
AWKWARD = ["plain", 'quote"d', "back\\slash", "new\nline", "caf\u00e9 \u2603", "line\u2028sep", ""]


@pytest.fixture(params=[False, True], ids=["no-created", "created"])
def created(request: pytest.FixtureRequest) -> Iterator[bool]:
    """Both settings of prometheus_client's process-wide ``_created`` switch, then the old one."""
    before = client_metrics._use_created
    (enable_created_metrics if request.param else disable_created_metrics)()
    try:
        yield request.param
    finally:
        (enable_created_metrics if before else disable_created_metrics)()


def assert_same(registry: CollectorRegistry, accepts: Iterable[str] = ACCEPTS.values()) -> None:
    """Twice per format, so the second render comes from the cache."""
    for accept in accepts:
        encode, _ = choose_encoder(accept)
        expected = encode(registry)
        assert encode_registry(registry, encode) == expected, accept
        assert encode_registry(registry, encode) == expected, accept


def every_type(registry: CollectorRegistry) -> dict[str, Any]:
    counter = Counter(
        "jobs_total", 'Jobs "done"\nback\\slash', ["queue", "kind"], registry=registry
    )
    plain_counter = Counter("restarts", "Restarts", registry=registry)
    gauge = Gauge("temperature", "Temp", ["room"], registry=registry, unit="celsius")
    plain_gauge = Gauge("lag_seconds", "Lag", registry=registry)
    histogram = Histogram(
        "latency_seconds", "Latency", ["a", "z"], buckets=(0.1, 1, 2.5e7), registry=registry
    )
    negative = Histogram(
        "delta", "Negative first bucket: no _sum", buckets=(-1, 0, 1), registry=registry
    )
    summary = Summary("size_bytes", "Size", ["route"], registry=registry)
    plain_summary = Summary("wait_seconds", "Wait", registry=registry)
    info = Info("build", "Build", registry=registry)
    enum = Enum("state", "State", ["worker"], states=["idle", "busy"], registry=registry)

    for i, value in enumerate(AWKWARD):
        counter.labels(value, "k").inc(i + 0.5)
        gauge.labels(value).set([math.inf, -math.inf, math.nan, -0.0, 1e21, 123456789.0, 1e-7][i])
        histogram.labels(value, value).observe(0.05 * i)
        summary.labels(value).observe(i)
        enum.labels(value).state("busy" if i % 2 else "idle")
    plain_counter.inc()
    plain_gauge.set(0.25)
    histogram.labels("x", "y").observe(math.inf)
    negative.observe(-3)
    plain_summary.observe(2)
    info.info({"version": '1.2 "beta"', "host": "a\nb"})
    return {
        "counter": counter,
        "plain_counter": plain_counter,
        "gauge": gauge,
        "plain_gauge": plain_gauge,
        "histogram": histogram,
        "negative": negative,
        "summary": summary,
    }


def test_every_metric_type_renders_exactly_like_prometheus_client(created: bool) -> None:
    registry = CollectorRegistry()
    every_type(registry)
    assert_same(registry)


def test_empty_registry_and_families_without_series(created: bool) -> None:
    registry = CollectorRegistry()
    assert_same(registry)
    Counter("never_total", "No series yet", ["a"], registry=registry)
    Histogram("never_seconds", "No series yet", ["a"], registry=registry)
    assert_same(registry)


def test_changed_values_added_and_removed_series_show_up(created: bool) -> None:
    registry = CollectorRegistry()
    m = every_type(registry)
    assert_same(registry)

    m["counter"].labels("plain", "k").inc()
    m["histogram"].labels("plain", "plain").observe(1.5)
    m["plain_gauge"].set(math.nan)
    m["summary"].labels("new").observe(7)
    assert_same(registry)

    m["counter"].labels("brand new", "k").inc(3)
    m["gauge"].remove("plain")
    m["histogram"].remove("x", "y")
    assert_same(registry)

    m["summary"].clear()
    m["counter"].clear()
    m["counter"].labels("plain", "k")  # same labels, a fresh child at 0
    assert_same(registry)

    m["gauge"].labels("plain").set(1)  # back, now after the others
    m["plain_counter"].reset()
    assert_same(registry)


def test_registering_and_unregistering_collectors_between_scrapes(created: bool) -> None:
    registry = CollectorRegistry()
    first = Counter("first_total", "First", registry=registry)
    first.inc()
    assert_same(registry)
    second = Gauge("second", "Second", ["x"], registry=registry)
    second.labels("1").set(2)
    assert_same(registry)
    registry.unregister(first)
    assert_same(registry)
    registry.register(first)  # now after the gauge, as prometheus_client has it
    assert_same(registry)


class _Business:
    """A custom collector, the way an app would add computed families."""

    def __init__(self) -> None:
        self.value = 1.0

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily("business_ratio", "Computed on scrape", labels=["kind"])
        family.add_metric(['we"ird'], self.value)
        return [family]


def test_custom_collectors_callback_gauges_and_target_info_keep_their_place() -> None:
    registry = CollectorRegistry(target_info={"service": "rsf", "env": 'q"a'})
    Counter("before_total", "Before", registry=registry).inc()
    business = _Business()
    registry.register(business)
    reading = {"now": 1.0}
    Gauge("callback", "From a function", registry=registry).set_function(lambda: reading["now"])
    Gauge("after", "After", ["x"], registry=registry).labels("1").set(3)
    assert_same(registry)
    business.value = math.inf
    reading["now"] = 2.0
    assert_same(registry)


def test_exemplars_render_in_openmetrics() -> None:
    registry = CollectorRegistry()
    counter = Counter("hits_total", "Hits", ["route"], registry=registry)
    histogram = Histogram("took_seconds", "Took", ["route"], registry=registry)
    counter.labels("/a").inc()
    assert_same(registry)
    counter.labels("/a").inc(exemplar={"trace_id": "abc"})
    histogram.labels("/a").observe(0.2, exemplar={"trace_id": "def"})
    assert_same(registry)


def test_values_outside_the_process_go_through_prometheus_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Another ValueClass (multiprocess mode's, or this one) is read by the library itself."""
    reads: list[int] = []

    class CountingValue(values.MutexValue):
        def get(self) -> float:
            reads.append(1)
            return super().get()

    monkeypatch.setattr(values, "ValueClass", CountingValue)
    registry = CollectorRegistry()
    Counter("hits_total", "Hits", ["route"], registry=registry).labels("/").inc(2)
    assert_same(registry)
    assert reads

    monkeypatch.undo()  # the metric keeps its CountingValue: the family still goes the slow way
    reads.clear()
    Gauge("plain", "Plain", registry=registry).set(1)
    assert_same(registry)
    assert reads


def test_a_registry_whose_internals_moved_is_rendered_by_prometheus_client() -> None:
    registry = CollectorRegistry()
    Counter("hits_total", "Hits", registry=registry).inc()
    collectors = list(registry._collector_to_names)
    del registry._collector_to_names
    registry.collect = lambda: (m for c in collectors for m in c.collect())  # type: ignore[method-assign]
    assert_same(registry)


def test_unchanged_series_are_not_rendered_again() -> None:
    registry = CollectorRegistry()
    counter = Counter("hits_total", "Hits", ["route"], registry=registry)
    for route in ("/a", "/b", "/c"):
        counter.labels(route).inc()
    encode, _ = choose_encoder("")
    rendered: list[object] = []
    original = metrics_encoder._Series.lines

    def counting(self: metrics_encoder._Series, *args: Any) -> tuple[str, str]:
        rendered.append(self.child)
        return original(self, *args)

    encode_registry(registry, encode)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(metrics_encoder._Series, "lines", counting)
        assert encode_registry(registry, encode) == encode(registry)
        assert rendered == []
        counter.labels("/b").inc()
        assert encode_registry(registry, encode) == encode(registry)
        assert rendered == [counter.labels("/b")]


def test_two_apps_in_one_process_do_not_share_a_cache() -> None:
    first, second = RsfMetrics(), RsfMetrics()
    first.http_requests_total.labels("GET", "/a", "200").inc()
    second.http_requests_total.labels("GET", "/a", "200").inc(5)
    assert render_metrics(first)[0] == choose_encoder("")[0](first.registry)
    assert render_metrics(second)[0] == choose_encoder("")[0](second.registry)
    assert encoder_for(first.registry) is not encoder_for(second.registry)


def test_the_cache_goes_with_its_registry() -> None:
    registry = CollectorRegistry()
    Counter("hits_total", "Hits", ["route"], registry=registry).labels("/").inc()
    encode_registry(registry, choose_encoder("")[0])
    gone = weakref.ref(registry)
    del registry
    gc.collect()
    assert gone() is None


def test_many_negotiated_formats_stay_exact_past_the_cache_limit() -> None:
    registry = CollectorRegistry()
    Counter("hits_total", "Hits", registry=registry).inc()
    versions = [f"1.0.{n}" for n in range(metrics_encoder.MAX_FORMATS + 3)]
    assert_same(registry, [f"application/openmetrics-text;version={v}" for v in versions])


def _parse_all(body: bytes, openmetrics: bool) -> dict[str, float]:
    parse = openmetrics_parser.text_string_to_metric_families
    families = (parse if openmetrics else text_string_to_metric_families)(body.decode())
    return {
        sample.name + repr(sorted(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }


def test_renders_in_a_thread_while_requests_update_metrics() -> None:
    """Every render parses, and every histogram's count equals its +Inf bucket."""
    registry = CollectorRegistry()
    counter = Counter("hits_total", "Hits", ["route"], registry=registry)
    histogram = Histogram("took_seconds", "Took", ["route"], registry=registry)
    stop = threading.Event()
    errors: list[BaseException] = []

    def update() -> None:
        n = 0
        try:
            while not stop.is_set():
                route = f"/r{n % 40}"
                counter.labels(route).inc()
                histogram.labels(route).observe(n % 7 / 10)
                if n % 13 == 0:
                    counter.remove(f"/r{(n // 13) % 40}")
                n += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    writer = threading.Thread(target=update)
    writer.start()
    try:
        for i in range(40):
            openmetrics = i % 2 == 0
            encode = choose_encoder(ACCEPTS["openmetrics"] if openmetrics else "")[0]
            samples = _parse_all(encode_registry(registry, encode), openmetrics)
            for key, value in samples.items():
                if key.startswith("took_seconds_count"):
                    route = key[len("took_seconds_count") :]
                    inf = "took_seconds_bucket" + route.replace("[", "[('le', '+Inf'), ", 1)
                    assert samples[inf] == value
    finally:
        stop.set()
        writer.join()
    assert errors == []
    assert_same(registry)


@pytest.mark.parametrize("accept", list(ACCEPTS.values()), ids=list(ACCEPTS))
def test_render_metrics_serves_prometheus_client_bytes(accept: str) -> None:
    metrics = RsfMetrics()
    metrics.http_requests_total.labels("GET", "/a", "200").inc()
    metrics.http_request_duration_seconds.labels("GET", "/a", "200").observe(0.01)
    metrics.settlement_success_rate_percent.set(math.nan)
    encode, content_type = choose_encoder(accept)
    for _ in range(2):
        body, headers = render_metrics(metrics, accept)
        assert body == encode(metrics.registry)
        assert headers["Content-Type"] == content_type
        metrics.http_requests_total.labels("GET", "/a", "200").inc()


def test_an_exemplar_on_a_long_lived_series_shows_on_the_next_scrape() -> None:
    registry = CollectorRegistry()
    counter = Counter("hits_total", "Hits", ["route"], registry=registry)
    for route in ("/a", "/b"):
        counter.labels(route).inc()
    encode = choose_encoder(ACCEPTS["openmetrics"])[0]
    for _ in range(metrics_encoder._Exemplars.FULL_SCAN + 3):  # past the full scan
        counter.labels("/b").inc()
        assert encode_registry(registry, encode) == encode(registry)
    counter.labels("/a").inc(exemplar={"trace_id": "abc"})
    assert b'# {trace_id="abc"}' in encode_registry(registry, encode)
    assert encode_registry(registry, encode) == encode(registry)


def test_a_gauge_child_turned_into_a_callback_after_a_scrape() -> None:
    registry = CollectorRegistry()
    gauge = Gauge("queue_depth", "Depth", ["queue"], registry=registry)
    gauge.labels("a").set(1)
    gauge.labels("b").set(2)
    assert_same(registry)
    gauge.labels("b").set_function(lambda: 42.0)
    assert_same(registry)


def test_prefixes_that_do_not_add_up_leave_the_family_to_prometheus_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every probe render is put back together and compared; a mismatch means the slow path."""
    monkeypatch.setattr(metrics_encoder, "_go", lambda value: repr(float(value)) + "?")
    registry = CollectorRegistry()
    Counter("hits_total", "Hits", ["route"], registry=registry).labels("/").inc()
    assert_same(registry)
