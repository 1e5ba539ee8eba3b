"""System and event-loop gauges, refreshed by a background task (the guide's 30 s schedule).

CPU is ``psutil.cpu_percent`` (real utilisation across all cores since the previous reading),
not the guide's ``os.loadavg()[0] * 100``, which is a queue length and can exceed 100 on any
multi-core host. Disk usage covers real partitions only (no tmpfs, proc, squashfs, overlays of
snaps...), capped at ``max_mountpoints`` so the label stays bounded; the root filesystem is
always included, also in containers where it is an overlay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from dataclasses import dataclass, field

import psutil

from rsf_observability.metrics import RsfMetrics
from rsf_observability.settings import ObservabilitySettings

logger = logging.getLogger("rsf.metrics")

_PSEUDO_FSTYPES = frozenset(
    {
        "autofs",
        "binfmt_misc",
        "bpf",
        "cgroup",
        "cgroup2",
        "configfs",
        "debugfs",
        "devpts",
        "devtmpfs",
        "efivarfs",
        "fusectl",
        "hugetlbfs",
        "mqueue",
        "nsfs",
        "proc",
        "pstore",
        "ramfs",
        "securityfs",
        "squashfs",
        "sysfs",
        "tmpfs",
        "tracefs",
    }
)


def real_mountpoints(limit: int = 16) -> list[str]:
    """Mountpoints of real filesystems, root first, one per device, at most ``limit``."""
    found: list[str] = ["/"]
    devices: set[str] = set()
    try:
        partitions = psutil.disk_partitions(all=False)
    except OSError:
        partitions = []
    for part in sorted(partitions, key=lambda p: p.mountpoint):
        if part.fstype in _PSEUDO_FSTYPES or part.mountpoint.startswith("/snap/"):
            continue
        if part.mountpoint == "/":
            devices.add(part.device)
            continue
        if part.device in devices:
            continue
        devices.add(part.device)
        found.append(part.mountpoint)
    return found[:limit]


@dataclass(eq=False)
class SystemMetricsCollector:
    """Sets CPU, memory, disk and event-loop-lag gauges; cheap enough to refresh on scrape."""

    metrics: RsfMetrics
    instance: str = field(default_factory=socket.gethostname)
    interval: float = 30.0
    max_mountpoints: int = 16
    _task: asyncio.Task[None] | None = field(default=None, init=False, repr=False)
    _mountpoints: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading only primes the counter

    @classmethod
    def from_settings(
        cls, metrics: RsfMetrics, settings: ObservabilitySettings
    ) -> SystemMetricsCollector:
        """Interval from ``system_metrics_interval``; instance from ``settings.instance``."""
        return cls(
            metrics,
            instance=settings.instance or socket.gethostname(),
            interval=settings.system_metrics_interval,
        )

    def refresh(self) -> None:
        """Read CPU, memory and disk now (non-blocking; a few syscalls)."""
        m = self.metrics
        m.system_cpu_usage_percent.labels(self.instance).set(psutil.cpu_percent(interval=None))
        m.system_memory_usage_percent.labels(self.instance).set(psutil.virtual_memory().percent)
        seen: set[str] = set()
        for mountpoint in real_mountpoints(self.max_mountpoints):
            try:
                usage = psutil.disk_usage(mountpoint)
            except OSError:
                continue
            m.system_disk_usage_percent.labels(self.instance, mountpoint).set(usage.percent)
            seen.add(mountpoint)
        for gone in self._mountpoints - seen:
            with contextlib.suppress(KeyError):
                m.system_disk_usage_percent.remove(self.instance, gone)
        self._mountpoints = seen

    async def measure_eventloop_lag(self) -> float:
        """Seconds a callback scheduled now waits before the running loop gets to it."""
        loop = asyncio.get_running_loop()
        ran: asyncio.Future[float] = loop.create_future()
        scheduled = time.perf_counter()

        def _mark() -> None:
            if not ran.done():
                ran.set_result(time.perf_counter())

        loop.call_soon(_mark)
        lag = max(0.0, await ran - scheduled)
        self.metrics.python_eventloop_lag_seconds.set(lag)
        return lag

    async def collect(self) -> None:
        """One full round: system gauges and event-loop lag."""
        self.refresh()
        await self.measure_eventloop_lag()

    async def run(self) -> None:
        """Collect every ``interval`` seconds until cancelled; a failed round is logged only."""
        while True:
            try:
                await self.collect()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("System metrics collection failed")
            await asyncio.sleep(self.interval)

    def start(self) -> asyncio.Task[None]:
        """Start :meth:`run` on the running loop (call it from the app lifespan); idempotent."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self.run(), name="rsf-system-metrics"
            )
        return self._task

    async def stop(self) -> None:
        """Cancel the background task and wait for it to end."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
