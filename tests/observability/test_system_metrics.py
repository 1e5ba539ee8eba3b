"""SystemMetricsCollector: real CPU/memory/disk percentages, event-loop lag, lifespan task."""

from __future__ import annotations

import asyncio
import socket
import time

from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings
from rsf_observability.system_metrics import SystemMetricsCollector, real_mountpoints

from tests.support.polling import async_wait_until


def _gauge(metrics: RsfMetrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name == name
    }


def test_refresh_sets_real_percentages_for_the_instance() -> None:
    metrics = RsfMetrics()
    SystemMetricsCollector(metrics, instance="node-a").refresh()

    (cpu,) = _gauge(metrics, "system_cpu_usage_percent").items()
    assert cpu[0] == (("instance", "node-a"),)
    assert 0.0 <= cpu[1] <= 100.0
    (memory,) = _gauge(metrics, "system_memory_usage_percent").values()
    assert 0.0 < memory <= 100.0
    disks = _gauge(metrics, "system_disk_usage_percent")
    assert (("instance", "node-a"), ("mountpoint", "/")) in disks
    assert all(0.0 <= v <= 100.0 for v in disks.values())


def test_mountpoints_are_real_bounded_and_start_with_root() -> None:
    mounts = real_mountpoints(limit=3)
    assert mounts[0] == "/"
    assert len(mounts) <= 3
    assert not any(m.startswith(("/proc", "/sys", "/dev/shm", "/run")) for m in mounts)


def test_instance_defaults_to_hostname_and_settings_give_the_interval() -> None:
    metrics = RsfMetrics()
    assert SystemMetricsCollector(metrics).instance == socket.gethostname()
    settings = ObservabilitySettings(system_metrics_interval=7.5, instance="pod-1")
    collector = SystemMetricsCollector.from_settings(metrics, settings)
    assert (collector.instance, collector.interval) == ("pod-1", 7.5)
    assert SystemMetricsCollector.from_settings(metrics, ObservabilitySettings()).interval == 30.0


async def test_eventloop_lag_reports_a_blocked_loop() -> None:
    metrics = RsfMetrics()
    collector = SystemMetricsCollector(metrics)

    def block_loop() -> None:
        until = time.perf_counter() + 0.05
        while time.perf_counter() < until:
            pass

    asyncio.get_running_loop().call_soon(block_loop)
    lag = await collector.measure_eventloop_lag()
    # The probe was queued behind a callback that held the loop for 50 ms.
    assert lag >= 0.05
    assert _gauge(metrics, "python_eventloop_lag_seconds")[()] == lag


async def test_background_task_refreshes_until_stopped() -> None:
    metrics = RsfMetrics()
    collector = SystemMetricsCollector(metrics, instance="bg", interval=0.01)
    task = collector.start()
    assert collector.start() is task  # idempotent
    try:
        await async_wait_until(lambda: _gauge(metrics, "system_cpu_usage_percent"))
        await async_wait_until(lambda: () in _gauge(metrics, "python_eventloop_lag_seconds"))
        assert collector.running
    finally:
        await collector.stop()
    assert task.done()
    assert not collector.running
    await collector.stop()  # stopping twice is harmless
