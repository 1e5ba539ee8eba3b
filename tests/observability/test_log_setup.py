"""configure_logging: handlers on the root logger, formats, levels, run-time level changes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import subprocess
import sys
from typing import Any

import pytest
from rsf_observability import log_setup
from rsf_observability.log_format import DevFormatter, JsonFormatter
from rsf_observability.log_setup import (
    configure_logging,
    get_log_level,
    logging_lifespan,
    set_log_level,
    temporary_log_level,
)
from rsf_observability.logger import get_logger
from rsf_observability.loki import LokiHandler
from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings

from tests.support.loki_receiver import LokiReceiver
from tests.support.polling import async_wait_until, wait_until

pytestmark = pytest.mark.usefixtures("clean_root_logging")


def settings(**values: Any) -> ObservabilitySettings:
    values.setdefault("loki_host", None)
    return ObservabilitySettings(**values)


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line]


def test_json_lines_on_the_given_stream() -> None:
    stream = io.StringIO()
    configure_logging(settings(log_format="json", environment="staging"), stream=stream)
    get_logger("Setup").info("configured", answer=42)
    [line] = [line for line in json_lines(stream) if line["message"] == "configured"]
    assert line["environment"] == "staging"
    assert line["service"] == "rsf-utility"
    assert line["scope"] == "Setup"
    assert line["answer"] == 42


def test_format_follows_node_env_by_default() -> None:
    dev = configure_logging(settings(environment="development"), stream=io.StringIO())
    assert isinstance(dev.console_handler.formatter, DevFormatter)
    prod = configure_logging(settings(environment="production"), stream=io.StringIO())
    assert isinstance(prod.console_handler.formatter, JsonFormatter)


def test_calling_twice_replaces_only_its_own_handlers(clean_root_logging: logging.Logger) -> None:
    foreign = logging.NullHandler()
    clean_root_logging.addHandler(foreign)
    first, second = io.StringIO(), io.StringIO()
    configure_logging(settings(log_format="json"), stream=first)
    runtime = configure_logging(settings(log_format="json"), stream=second)
    assert foreign in clean_root_logging.handlers
    ours = [h for h in clean_root_logging.handlers if h in runtime.handlers]
    assert ours == [runtime.console_handler]
    assert len(clean_root_logging.handlers) == len(set(clean_root_logging.handlers))
    logging.getLogger("rsf.once").warning("exactly once")
    assert first.getvalue() == ""
    assert [line["message"] for line in json_lines(second)] == ["exactly once"]


def test_level_from_log_level_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARN")
    monkeypatch.delenv("LOKI_HOST", raising=False)
    stream = io.StringIO()
    configure_logging(ObservabilitySettings(log_format="json"), stream=stream)
    assert get_log_level() == "warn"
    log = get_logger("Env")
    log.info("not shown")
    log.warn("shown")
    assert [line["message"] for line in json_lines(stream)] == ["shown"]


@pytest.mark.parametrize("level", ["error", "warn", "info", "debug"])
def test_each_guide_level(level: str) -> None:
    configure_logging(settings(log_level=level), stream=io.StringIO())
    assert get_log_level() == level


def test_level_changes_at_run_time() -> None:
    stream = io.StringIO()
    configure_logging(settings(log_format="json", log_level="info"), stream=stream)
    log = get_logger("Runtime")
    log.debug("before")
    set_log_level("debug")
    assert get_log_level() == "debug"
    log.debug("after")
    assert [line["message"] for line in json_lines(stream)] == ["after"]
    with pytest.raises(ValueError, match="unknown log level"):
        set_log_level("verbose")


def test_temporary_level_restores_the_previous_level() -> None:
    configure_logging(settings(log_level="warn"), stream=io.StringIO())
    handle = temporary_log_level("debug", 60)
    assert get_log_level() == "debug"
    assert handle.active
    handle.restore()
    assert get_log_level() == "warn"
    assert not handle.active
    handle.restore()  # harmless twice
    assert get_log_level() == "warn"


def test_temporary_level_expires_by_itself() -> None:
    configure_logging(settings(log_level="info"), stream=io.StringIO())
    handle = temporary_log_level("debug", 0.05)
    assert handle.wait(10)
    assert get_log_level() == "info"


def test_overlapping_raises_extend_and_restore_the_original_level() -> None:
    configure_logging(settings(log_level="warn"), stream=io.StringIO())
    long = temporary_log_level("info", 60)
    short = temporary_log_level("debug", 0.05)
    assert get_log_level() == "debug"
    assert short.wait(10)
    assert get_log_level() == "info"  # the first raise is still active
    long.restore()
    assert get_log_level() == "warn"  # not the level the second raise found


def test_second_raise_outlives_the_first() -> None:
    configure_logging(settings(log_level="error"), stream=io.StringIO())
    first = temporary_log_level("debug", 60)
    second = temporary_log_level("debug", 60)
    first.restore()
    assert get_log_level() == "debug"
    second.restore()
    assert get_log_level() == "error"


def test_explicit_level_ends_temporary_levels() -> None:
    configure_logging(settings(log_level="info"), stream=io.StringIO())
    handle = temporary_log_level("debug", 60)
    set_log_level("warn")
    assert not handle.active
    handle.restore()
    assert get_log_level() == "warn"


def test_temporary_level_as_context_manager() -> None:
    configure_logging(settings(log_level="info"), stream=io.StringIO())
    with temporary_log_level("debug", 60):
        assert get_log_level() == "debug"
    assert get_log_level() == "info"


async def test_temporary_level_is_awaitable() -> None:
    configure_logging(settings(log_level="info"), stream=io.StringIO())
    handle = temporary_log_level("debug", 0.05)
    await asyncio.wait_for(handle, 10)
    assert get_log_level() == "info"
    async with temporary_log_level("debug", 60) as again:
        assert get_log_level() == "debug"
    await asyncio.wait_for(again, 10)
    assert get_log_level() == "info"


def loki_settings(receiver: LokiReceiver, **values: Any) -> ObservabilitySettings:
    return ObservabilitySettings(
        loki_host=receiver.url,
        log_format="json",
        environment="production",
        loki_batch_interval=60,
        **values,
    )


def test_loki_handler_added_when_loki_host_is_set(loki_receiver: LokiReceiver) -> None:
    metrics = RsfMetrics()
    runtime = configure_logging(loki_settings(loki_receiver), metrics=metrics, stream=io.StringIO())
    assert isinstance(runtime.loki_handler, LokiHandler)
    assert runtime.loki_handler in logging.getLogger().handlers
    assert runtime.loki_handler.metrics is metrics
    get_logger("Ship").info("to loki", orderId="o-1")
    runtime.shutdown()
    lines = loki_receiver.json_lines()
    assert [line["message"] for line in lines] == ["to loki"]
    assert lines[0]["orderId"] == "o-1"
    assert runtime.loki_handler not in logging.getLogger().handlers


def test_reconfiguring_flushes_and_replaces_the_old_loki_handler(
    loki_receiver: LokiReceiver,
) -> None:
    first = configure_logging(loki_settings(loki_receiver), stream=io.StringIO())
    get_logger().info("first")
    second = configure_logging(loki_settings(loki_receiver), stream=io.StringIO())
    root_loki = [h for h in logging.getLogger().handlers if isinstance(h, LokiHandler)]
    assert root_loki == [second.loki_handler]
    assert first.loki_handler is not None
    assert [line["message"] for line in loki_receiver.json_lines()] == ["first"]


async def test_lifespan_flushes_loki_on_shutdown(loki_receiver: LokiReceiver) -> None:
    from starlette.applications import Starlette

    configure_logging(loki_settings(loki_receiver), stream=io.StringIO())
    app = Starlette(lifespan=logging_lifespan)
    events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return await events.get()

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.create_task(app({"type": "lifespan", "state": {}}, receive, send))
    await events.put({"type": "lifespan.startup"})
    await async_wait_until(lambda: sent)
    get_logger("Lifespan").info("served a request")
    assert loki_receiver.entries() == []  # batched, not yet sent (interval is 60 s)
    await events.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 10)
    assert {"type": "lifespan.shutdown.complete"} in sent
    assert [line["message"] for line in loki_receiver.json_lines()] == ["served a request"]


def test_shutdown_logging_uses_the_current_runtime(loki_receiver: LokiReceiver) -> None:
    runtime = configure_logging(loki_settings(loki_receiver), stream=io.StringIO())
    assert log_setup.get_logging_runtime() is runtime
    get_logger().warning("at exit")
    log_setup.shutdown_logging()
    wait_until(lambda: loki_receiver.entries())
    assert loki_receiver.json_lines()[0]["message"] == "at exit"


def test_records_are_flushed_at_interpreter_exit(loki_receiver: LokiReceiver) -> None:
    script = (
        "from rsf_observability import configure_logging, get_logger\n"
        "configure_logging()\n"
        "get_logger('Exit').warning('logged just before exit', step=3)\n"
    )
    env = {
        **os.environ,
        "LOKI_HOST": loki_receiver.url,
        "LOKI_BATCH_INTERVAL": "60",
        "NODE_ENV": "production",
    }
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    [line] = loki_receiver.json_lines()
    assert line["message"] == "logged just before exit"
    assert line["step"] == 3
    assert json.loads(result.stdout)["message"] == "logged just before exit"


def test_console_lines_are_flushed_one_by_one_and_a_broken_stream_is_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Recording(io.StringIO):
        flushed: list[str]

        def flush(self) -> None:
            self.flushed.append(self.getvalue())

    class Broken(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError("disk gone")

    stream = Recording()
    stream.flushed = []
    configure_logging(settings(log_format="json", log_level="info"), stream=stream)
    log = get_logger("Console")
    log.info("first")
    log.info("second")
    assert [len(json_lines(io.StringIO(text))) for text in stream.flushed] == [1, 2]

    reported: list[logging.LogRecord] = []
    runtime = configure_logging(settings(log_format="json", log_level="info"), stream=Broken())
    monkeypatch.setattr(runtime.console_handler, "handleError", reported.append)
    log.info("lost")
    assert [record.getMessage() for record in reported] == ["lost"]
