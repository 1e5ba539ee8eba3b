"""LokiHandler against a strict push-API receiver on loopback: batching, labels, retries, drops."""

from __future__ import annotations

import base64
import itertools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from rsf_observability import context
from rsf_observability.log_enrichment import install_record_factory
from rsf_observability.loki import LokiHandler, static_labels
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings

from tests.support.loki_receiver import LokiReceiver
from tests.support.polling import wait_until

FAST_RETRY = {"backoff_base": 0.01, "backoff_max": 0.05}


@pytest.fixture
def metrics() -> RsfMetrics:
    return RsfMetrics()


@pytest.fixture
def make_handler(loki_receiver: LokiReceiver, metrics: RsfMetrics) -> Iterator[Any]:
    """Build LokiHandlers on the receiver (long interval: only size, flush and close send)."""
    handlers: list[LokiHandler] = []

    def build(**options: Any) -> LokiHandler:
        settings = ObservabilitySettings(
            loki_host=loki_receiver.url,
            environment="production",
            loki_batch_interval=options.pop("batch_interval", 60.0),
        )
        options = {**FAST_RETRY, **options}
        handler = LokiHandler.from_settings(settings, metrics=metrics, **options)
        handlers.append(handler)
        return handler

    yield build
    for handler in handlers:
        handler.close(timeout=2)


_names = itertools.count()


def logger_for(handler: LokiHandler, name: str = "rsf.loki.test") -> logging.Logger:
    """A logger of this test alone (a fresh name), writing only to ``handler``."""
    install_record_factory()
    logger = logging.getLogger(f"{name}.{next(_names)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger


def dropped(metrics: RsfMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value("log_records_dropped_total", {"reason": reason})
    return value or 0.0


def test_many_records_few_requests(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    handler = make_handler(batch_size=100)
    log = logger_for(handler)
    for number in range(250):
        log.info("record %d", number)
    assert handler.flush(10)
    assert len(loki_receiver.accepted) == 3
    messages = [line["message"] for line in loki_receiver.json_lines()]
    assert messages == [f"record {number}" for number in range(250)]


def test_interval_sends_a_partial_batch(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    handler = make_handler(batch_size=500, batch_interval=0.05)
    logger_for(handler).info("alone")
    wait_until(loki_receiver.entries)
    assert loki_receiver.json_lines()[0]["message"] == "alone"


def test_one_stream_per_label_set(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    handler = make_handler()
    log = logger_for(handler)
    log.info("a")
    log.error("b")
    log.info("c")
    assert handler.flush(10)
    [request] = loki_receiver.accepted
    streams = {
        s["stream"]["level"]: [v[1] for v in s["values"]] for s in request.payload["streams"]
    }
    assert {
        level: [json.loads(line)["message"] for line in lines] for level, lines in streams.items()
    } == {
        "info": ["a", "c"],
        "error": ["b"],
    }


def test_labels_are_exactly_the_bounded_set(
    loki_receiver: LokiReceiver, metrics: RsfMetrics
) -> None:
    settings = ObservabilitySettings(
        loki_host=loki_receiver.url,
        environment="production",
        loki_labels={"team": "settle", "job": "not-allowed", "region-1": "in"},
        loki_batch_interval=60,
    )
    handler = LokiHandler.from_settings(settings, metrics=metrics)
    try:
        log = logger_for(handler, "rsf.some.module")
        token = context.correlation_id.set("req_1704192645123_abc123def")
        try:
            # python-logging-loki would turn ``tags`` into labels; the SDK keeps them in the line
            log.warning("labelled", extra={"orderId": "o-1", "tags": {"correlationId": "x"}})
        finally:
            context.correlation_id.reset(token)
        assert handler.flush(10)
    finally:
        handler.close()
    [entry] = loki_receiver.entries()
    assert entry.labels == {
        "job": "rsf-utility",
        "app": "rsf-utility",
        "environment": "production",
        "level": "warn",
        "team": "settle",
        "region_1": "in",
    }
    line = entry.json()
    assert line["correlationId"] == "req_1704192645123_abc123def"
    assert line["tags"] == {"correlationId": "x"}
    assert line["logger"].startswith("rsf.some.module")
    assert static_labels(settings)["job"] == "rsf-utility"


def test_timestamps_come_from_record_created(
    loki_receiver: LokiReceiver, make_handler: Any
) -> None:
    handler = make_handler()
    record = logging.LogRecord("rsf.past", logging.INFO, __file__, 1, "from the past", (), None)
    record.created = 1_700_000_000.5
    handler.handle(record)
    assert handler.flush(10)
    [entry] = loki_receiver.entries()
    assert entry.timestamp_ns == "1700000000500000000"


def test_payload_groups_lines_by_level_with_their_own_timestamps() -> None:
    from rsf_observability.loki import LokiLabels

    labels = LokiLabels({"app": "rsf", "environment": "test"})
    lines = ['{"message":"quote \\" backslash \\\\ é ✓"}', 'raw "line"\twith\u2028odd\x00', ""]
    entries = [
        (logging.INFO, 1_700_000_000.5, lines[0]),
        (logging.ERROR, 1_700_000_001.25, lines[1]),
        (logging.INFO, 1_700_000_002.0, lines[2]),
    ]
    assert labels.payload(entries) == {
        "streams": [
            {
                "stream": {"app": "rsf", "environment": "test", "level": "info"},
                "values": [
                    ["1700000000500000000", lines[0]],
                    ["1700000002000000000", lines[2]],
                ],
            },
            {
                "stream": {"app": "rsf", "environment": "test", "level": "error"},
                "values": [["1700000001250000000", lines[1]]],
            },
        ]
    }


def test_push_body_is_utf8_json_and_a_lone_surrogate_still_fails_to_encode() -> None:
    from rsf_observability.loki import _push_body

    payload = {"streams": [{"stream": {"level": "info"}, "values": [["1", 'naïve "q" ✓']]}]}
    assert json.loads(_push_body(payload).decode("utf-8")) == payload
    with pytest.raises(UnicodeEncodeError):
        _push_body({"streams": [{"stream": {"level": "info"}, "values": [["1", "\ud800"]]}]})


def test_lines_with_quotes_and_unicode_reach_loki_intact(
    loki_receiver: LokiReceiver, make_handler: Any
) -> None:
    handler = make_handler()
    log = logger_for(handler)
    messages = ['say "hi"', "back\\slash", "naïve ✓ ₹", "tab\tand\u2028separator"]
    for message in messages:
        log.info(message)
    assert handler.flush(10)
    assert [line["message"] for line in loki_receiver.json_lines()] == messages


def test_retry_after_a_500(
    loki_receiver: LokiReceiver, make_handler: Any, metrics: RsfMetrics
) -> None:
    loki_receiver.fail(500, times=2)
    handler = make_handler()
    logger_for(handler).info("survives two 500s")
    assert handler.flush(10)
    assert [r.status for r in loki_receiver.requests] == [500, 500, 204]
    assert loki_receiver.json_lines()[0]["message"] == "survives two 500s"
    assert dropped(metrics, "retries_exhausted") == 0


def test_retry_after_a_429(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    loki_receiver.fail(429, times=1, retry_after="0")
    handler = make_handler()
    logger_for(handler).info("rate limited once")
    assert handler.flush(10)
    assert [r.status for r in loki_receiver.requests] == [429, 204]


def test_other_4xx_drops_the_batch_without_retry(
    loki_receiver: LokiReceiver, make_handler: Any, metrics: RsfMetrics
) -> None:
    loki_receiver.fail(400, times=5)
    handler = make_handler()
    log = logger_for(handler)
    log.info("one")
    log.info("two")
    assert handler.flush(10)
    assert [r.status for r in loki_receiver.requests] == [400]
    assert dropped(metrics, "rejected") == 2


def test_delivered_after_the_receiver_comes_back(
    loki_receiver: LokiReceiver, make_handler: Any, metrics: RsfMetrics
) -> None:
    loki_receiver.down()
    handler = make_handler(max_retries=1000, backoff_max=0.05)
    log = logger_for(handler)
    for number in range(5):
        log.info("while down %d", number)
    handler.flush(0.01)  # start sending now; it cannot succeed yet
    wait_until(lambda: handler.failed_attempts >= 3)
    loki_receiver.up()
    assert handler.flush(10)
    assert [line["message"] for line in loki_receiver.json_lines()] == [
        f"while down {number}" for number in range(5)
    ]
    assert sum(dropped(metrics, r) for r in ("buffer_full", "retries_exhausted")) == 0


def test_drops_are_counted_when_it_stays_down_and_the_buffer_fills(
    loki_receiver: LokiReceiver,
    make_handler: Any,
    metrics: RsfMetrics,
    capsys: pytest.CaptureFixture[str],
) -> None:
    loki_receiver.down()
    handler = make_handler(batch_size=5, buffer_size=10, max_retries=2)
    log = logger_for(handler)
    for number in range(50):
        log.error("lost %d", number)
    assert handler.flush(10)  # everything is either sent or given up by now
    full, exhausted = dropped(metrics, "buffer_full"), dropped(metrics, "retries_exhausted")
    assert full >= 50 - 10 - 5  # at most a buffer and one batch in flight were kept
    assert full + exhausted == 50
    assert loki_receiver.entries() == []
    warnings = [line for line in capsys.readouterr().err.splitlines() if "dropped Loki" in line]
    assert len(warnings) == 1  # many drops, one warning per minute


def test_warning_again_after_the_interval(
    loki_receiver: LokiReceiver, make_handler: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    loki_receiver.fail(400, times=10)
    handler = make_handler(warning_interval=0.0)
    log = logger_for(handler)
    for _ in range(2):
        log.info("rejected")
        assert handler.flush(10)
    err = capsys.readouterr().err
    assert err.count("dropped Loki log records (1 rejected)") == 2


def test_flush_at_shutdown(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    handler = make_handler()
    log = logger_for(handler)
    for number in range(3):
        log.info("buffered %d", number)
    assert loki_receiver.entries() == []  # batched: nothing sent before close
    handler.close()
    assert len(loki_receiver.entries()) == 3
    assert not handler._thread.is_alive()
    log.info("after close")
    assert len(loki_receiver.entries()) == 3


def test_shutdown_gives_up_at_its_deadline_when_loki_is_down(
    loki_receiver: LokiReceiver, make_handler: Any, metrics: RsfMetrics
) -> None:
    loki_receiver.down()
    handler = make_handler(max_retries=10_000, shutdown_timeout=0.3)
    log = logger_for(handler)
    for _ in range(4):
        log.info("never delivered")
    handler.close()
    assert not handler._thread.is_alive()
    assert dropped(metrics, "shutdown") == 4


def test_basic_auth_and_tenant_header(loki_receiver: LokiReceiver, metrics: RsfMetrics) -> None:
    settings = ObservabilitySettings(
        loki_host=loki_receiver.url,
        loki_username="loki-user",
        loki_password="s3cret",
        loki_tenant_id="tenant-a",
        loki_batch_interval=60,
    )
    handler = LokiHandler.from_settings(settings, metrics=metrics)
    try:
        logger_for(handler).info("authenticated")
        assert handler.flush(10)
    finally:
        handler.close()
    [request] = loki_receiver.accepted
    expected = base64.b64encode(b"loki-user:s3cret").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert request.headers["x-scope-orgid"] == "tenant-a"
    assert request.headers["content-type"] == "application/json"


def test_no_auth_headers_by_default(loki_receiver: LokiReceiver, make_handler: Any) -> None:
    handler = make_handler()
    logger_for(handler).info("anonymous")
    assert handler.flush(10)
    [request] = loki_receiver.accepted
    assert "authorization" not in request.headers
    assert "x-scope-orgid" not in request.headers


def test_emit_never_waits_while_the_receiver_hangs(
    loki_receiver: LokiReceiver, make_handler: Any
) -> None:
    loki_receiver.slow(60)
    handler = make_handler(batch_size=10, buffer_size=5000, timeout=60)
    log = logger_for(handler)
    for number in range(10):
        log.info("first batch %d", number)
    wait_until(lambda: loki_receiver.arrived >= 1)  # the shipper is now stuck in a request
    for number in range(1000):
        log.info("while hung %d", number)
    assert loki_receiver.answered == 0  # all 1000 emits returned while Loki had not answered
    loki_receiver.release()
    assert handler.flush(20)
    assert len(loki_receiver.entries()) == 1010


async def test_request_latency_unaffected_while_the_receiver_hangs(
    loki_receiver: LokiReceiver, make_handler: Any
) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    loki_receiver.slow(60)
    handler = make_handler(batch_size=5, buffer_size=5000, timeout=60)
    log = logger_for(handler, "rsf.app")

    async def endpoint(request: Request) -> JSONResponse:
        for number in range(20):
            log.info("handling %d", number)
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/work", endpoint)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.get("/work")
        wait_until(lambda: loki_receiver.arrived >= 1)
        responses = [await client.get("/work") for _ in range(20)]
    assert first.status_code == 200
    assert all(response.status_code == 200 for response in responses)
    assert loki_receiver.answered == 0
    loki_receiver.release()
    assert handler.flush(20)
    assert len(loki_receiver.entries()) == 21 * 20


def test_the_http_clients_own_records_are_not_shipped(
    loki_receiver: LokiReceiver, make_handler: Any, clean_root_logging: logging.Logger
) -> None:
    handler = make_handler()
    clean_root_logging.addHandler(handler)
    clean_root_logging.setLevel(logging.DEBUG)
    logging.getLogger("rsf.own_records").info("first")
    assert handler.flush(10)
    logging.getLogger("rsf.own_records").info("second")
    assert handler.flush(10)
    clean_root_logging.removeHandler(handler)
    lines = loki_receiver.json_lines()
    assert [line["message"] for line in lines] == ["first", "second"]
    assert {line["logger"] for line in lines} == {"rsf.own_records"}


# --- the receiver itself is strict ---------------------------------------------------------


def test_receiver_rejects_wrong_content_type_and_bad_shapes(loki_receiver: LokiReceiver) -> None:
    url = loki_receiver.push_url
    good = {"streams": [{"stream": {"job": "x"}, "values": [["1", "line"]]}]}
    assert httpx.post(url, json=good).status_code == 204
    assert (
        httpx.post(
            url, content=json.dumps(good), headers={"content-type": "text/plain"}
        ).status_code
        == 415
    )
    assert (
        httpx.post(
            url, content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    for bad in (
        {"streams": {}},
        {"streams": [{"stream": {"job": 1}, "values": [["1", "l"]]}]},
        {"streams": [{"stream": {"bad-name": "x"}, "values": [["1", "l"]]}]},
        {"streams": [{"stream": {"job": "x"}, "values": [[1, "l"]]}]},
        {"streams": [{"stream": {"job": "x"}, "values": [["1.5", "l"]]}]},
        {"streams": [{"stream": {"job": "x"}, "values": [["1"]]}]},
    ):
        assert httpx.post(url, json=bad).status_code == 400, bad
    assert httpx.get(url).status_code == 405
    assert httpx.post(loki_receiver.url + "/other", json=good).status_code == 404
    assert len(loki_receiver.entries()) == 1


def test_receiver_down_refuses_connections_and_comes_back_on_the_same_port(
    loki_receiver: LokiReceiver,
) -> None:
    port = loki_receiver.port
    loki_receiver.down()
    with pytest.raises(httpx.ConnectError):
        httpx.post(loki_receiver.push_url, json={"streams": []})
    loki_receiver.up()
    assert loki_receiver.port == port
    assert httpx.post(loki_receiver.push_url, json={"streams": []}).status_code == 204


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_ships_its_own_records_once(
    loki_receiver: LokiReceiver, make_handler: Any
) -> None:
    handler = make_handler()
    log = logger_for(handler)
    log.info("parent, before the fork")  # still buffered: the interval is 60 s
    pid = os.fork()
    if pid == 0:  # the child: log, flush through its own shipper thread, leave at once
        try:
            log.info("from the child")
            handler.close()
        finally:
            os._exit(0 if loki_receiver.port else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    handler.close()
    messages = sorted(line["message"] for line in loki_receiver.json_lines())
    assert messages == ["from the child", "parent, before the fork"]
