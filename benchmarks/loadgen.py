"""A small HTTP/1.1 keep-alive load generator, run in its own process.

Used when ``wrk`` is not installed. Fixed duration and concurrency; every connection sends a
request, reads the whole response, and repeats. Prints one JSON line: requests, rps, p50, p99.
Loopback only: the target must be 127.0.0.1 or localhost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time


async def _worker(
    host: str, port: int, path: str, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: rsf-bench\r\n\r\n".encode()
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            if not head.startswith(b"HTTP/1.1 2"):
                errors.append(1)
    finally:
        writer.close()


async def run(
    host: str, port: int, path: str, duration: float, connections: int
) -> dict[str, float]:
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback targets only")
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *(_worker(host, port, path, deadline, latencies, errors) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    q = statistics.quantiles(ordered, n=100) if len(ordered) > 1 else [0.0] * 99
    return {
        "requests": len(ordered),
        "errors": len(errors),
        "rps": len(ordered) / elapsed,
        "p50_ms": q[49] * 1e3,
        "p99_ms": q[98] * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/ping")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    print(
        json.dumps(
            asyncio.run(run(args.host, args.port, args.path, args.duration, args.connections))
        )
    )


if __name__ == "__main__":
    main()
