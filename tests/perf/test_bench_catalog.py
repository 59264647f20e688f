"""Catalog benchmark: bulk synthetic load and read latency over HTTP (prints figures).

    make bench            # or: .venv/bin/pytest tests/perf -m perf -s -k catalog

Generates BENCH_PROGRAMS synthetic programs (default 100,000) into its own database,
serves the app with `python -m service serve` (uvicorn, one worker) in its own process
on loopback and measures GET /programs/{id} and a filtered GET /programs with
concurrent httpx clients from this process. Client and server share the 2 cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from service.catalog import synthetic
from service.settings import Settings
from tests.conftest import make_test_database

pytestmark = pytest.mark.perf

N_PROGRAMS = int(os.environ.get("BENCH_PROGRAMS", "100000"))
REQUESTS = 2000
CONCURRENCY = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def _load(url: str) -> tuple[float, list[str]]:
    conn = await asyncpg.connect(
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await synthetic.generate(conn, N_PROGRAMS, seed=7)
        elapsed = time.perf_counter() - started
        await conn.execute("ANALYZE")
        ids = [
            str(r["id"])
            for r in await conn.fetch(
                "SELECT id FROM programs WHERE status = 'active' ORDER BY random() LIMIT 1000"
            )
        ]
        return elapsed, ids
    finally:
        await conn.close()


async def _drive(base: str, paths: list[str]) -> tuple[list[float], float, int]:
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

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(CONCURRENCY)))
    return latencies, time.perf_counter() - started, errors


def test_catalog_bulk_load_and_reads(settings: Settings, worker_id_safe: str) -> None:
    url = make_test_database(f"{worker_id_safe}_bench")
    load_seconds, ids = asyncio.run(_load(url))
    print(
        f"\nsynthetic load: {N_PROGRAMS:,} programs in {load_seconds:.1f} s "
        f"({N_PROGRAMS / load_seconds:,.0f} programs/s)"
    )

    port = _free_port()
    env = {
        **os.environ,
        "YOUTHLINK_DATABASE_URL": url,
        "YOUTHLINK_DB_POOL_SIZE": "20",
        "YOUTHLINK_LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--port", str(port)], env=env
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    rng = random.Random(1)
    cases = {
        "GET /programs/{id}": [f"/programs/{rng.choice(ids)}" for _ in range(REQUESTS)],
        "GET /programs?category=..&per_page=20": [
            f"/programs?category={rng.choice(['early_childhood', 'family_support'])}"
            f"&page={rng.randint(1, 20)}"
            for _ in range(REQUESTS // 4)
        ],
    }
    try:
        for name, paths in cases.items():
            latencies, seconds, errors = asyncio.run(_drive(base, paths))
            print(
                f"{name}: {len(paths)} requests, {CONCURRENCY} concurrent: "
                f"p50 {_pct(latencies, 50):.1f} ms, p95 {_pct(latencies, 95):.1f} ms, "
                f"{len(paths) / seconds:,.0f} req/s, {errors} errors"
            )
            assert errors == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
