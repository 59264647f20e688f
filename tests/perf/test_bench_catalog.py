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
import time

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from service.catalog import synthetic
from service.settings import Settings
from tests.conftest import make_test_database
from tests.perf.harness import drive, pct, serve

pytestmark = pytest.mark.perf

N_PROGRAMS = int(os.environ.get("BENCH_PROGRAMS", "100000"))
REQUESTS = 2000
CONCURRENCY = 16


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


def test_catalog_bulk_load_and_reads(settings: Settings, worker_id_safe: str) -> None:
    url = make_test_database(f"{worker_id_safe}_bench")
    load_seconds, ids = asyncio.run(_load(url))
    print(
        f"\nsynthetic load: {N_PROGRAMS:,} programs in {load_seconds:.1f} s "
        f"({N_PROGRAMS / load_seconds:,.0f} programs/s)"
    )

    server, base = serve(url, workers=1, pool_size=20)
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
            latencies, seconds, errors = asyncio.run(drive(base, paths, CONCURRENCY))
            print(
                f"{name}: {len(paths)} requests, {CONCURRENCY} concurrent: "
                f"p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, "
                f"{len(paths) / seconds:,.0f} req/s, {errors} errors"
            )
            assert errors == 0
    finally:
        server.terminate()
        server.wait(timeout=10)
