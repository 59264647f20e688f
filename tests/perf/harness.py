"""What the benchmarks share: a server process on loopback, a concurrent HTTP load, percentiles."""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pct(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]


def serve(
    url: str, workers: int = 1, pool_size: int = 20, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """`python -m service serve` on a free loopback port; returns it once /health answers."""
    port = free_port()
    env = {
        **os.environ,
        "YOUTHLINK_DATABASE_URL": url,
        "YOUTHLINK_DB_POOL_SIZE": str(pool_size),
        "YOUTHLINK_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    env.pop("YOUTHLINK_MEILI_URL", None)
    command = [sys.executable, "-m", "service", "serve", "--port", str(port)]
    server = subprocess.Popen([*command, "--workers", str(workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return server, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.3)


async def drive(base: str, paths: list[str], concurrency: int) -> tuple[list[float], float, int]:
    """GET every path with `concurrency` clients; latencies (ms), seconds, non-200 count."""
    latencies: list[float] = []
    errors = 0
    queue = list(paths)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while queue:
            path = queue.pop()
            t0 = time.perf_counter()
            response = await client.get(path)
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        return latencies, time.perf_counter() - started, errors
