"""Read benchmark: Youthlink's catalog reads next to a bare FastAPI + asyncpg app that sends
the same SQL (tests/perf/reference_app.py), on the same database, workers and machine.

    make bench                              # 100,000 programs
    BENCH_READS_PROGRAMS=10000 make bench
    BENCH_SEARCH_REUSE=1 make bench         # reuse the database the search benchmark made

Both apps run `--workers 2` on loopback; wrk (32 connections) reads 2,000 random active
program ids for BENCH_READS_SECONDS, then the first page of 20 programs. The figure is
Youthlink's throughput as a share of the reference's, with the program documents each
process keeps for reads without a key turned off (YOUTHLINK_PROGRAM_CACHE_SIZE=0), so
that both run the same statement per read; then Youthlink's program read as served, with
them kept (catalog/program_cache.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from service.settings import Settings
from tests.perf.harness import Load, free_port, serve, wait_ready, wrk
from tests.perf.test_bench_search import _database, _dsn, _generate

pytestmark = pytest.mark.perf

PROGRAMS = int(os.environ.get("BENCH_READS_PROGRAMS", "100000"))
SECONDS = float(os.environ.get("BENCH_READS_SECONDS", "20"))
CONNECTIONS = 32


def _reference(url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "YOUTHLINK_DATABASE_URL": url}
    command = [sys.executable, "-m", "uvicorn", "tests.perf.reference_app:app"]
    process = subprocess.Popen(
        [*command, "--workers", "2", "--port", str(port), "--log-level", "warning"], env=env
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/programs").status_code == 200:
                return process, base
        except httpx.TransportError:
            if time.monotonic() > deadline:
                process.terminate()
                raise
            time.sleep(0.3)


async def _ids(url: str) -> list[str]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT id FROM programs WHERE status = 'active' ORDER BY random() LIMIT 2000"
        )
        return [str(r["id"]) for r in rows]
    finally:
        await conn.close()


def _loads(base: str, ids: list[str]) -> dict[str, Load]:
    one = [f"/programs/{i}" for i in ids]
    wrk(base, one[:200], CONNECTIONS, 3)  # warm both workers' pools
    return {
        "GET /programs/{id}": wrk(base, one, CONNECTIONS, SECONDS),
        "GET /programs (20)": wrk(base, ["/programs?per_page=20"], CONNECTIONS, SECONDS),
    }


def test_reads_next_to_a_bare_app(settings: Settings, worker_id_safe: str) -> None:
    url, reused = _database(worker_id_safe, PROGRAMS)
    if not reused:
        asyncio.run(_generate(url, PROGRAMS))
    ids = asyncio.run(_ids(url))
    server, base = serve(
        url, workers=2, pool_size=10, extra_env={"YOUTHLINK_PROGRAM_CACHE_SIZE": "0"}
    )
    try:
        wait_ready(base)
        ours = _loads(base, ids)
    finally:
        server.terminate()
        server.wait(timeout=30)
    server, base = serve(url, workers=2, pool_size=10)
    try:
        wait_ready(base)
        one = [f"/programs/{i}" for i in ids]
        wrk(base, one, CONNECTIONS, 3)  # each worker keeps what it reads
        kept = wrk(base, one, CONNECTIONS, SECONDS)
    finally:
        server.terminate()
        server.wait(timeout=30)
    reference, reference_base = _reference(make_url(url).render_as_string(hide_password=False))
    try:
        theirs = _loads(reference_base, ids)
    finally:
        reference.terminate()
        reference.wait(timeout=30)
    print(f"\n== reads, {PROGRAMS:,} programs, 2 workers each, wrk {CONNECTIONS} connections")
    print("| read | Youthlink req/s | p50 | p95 | reference req/s | p50 | p95 | share |")
    print("|---|---|---|---|---|---|---|---|")
    for name, load in ours.items():
        ref = theirs[name]
        print(
            f"| {name} | {load.rate:,.0f} | {load.p50_ms:.1f} ms | {load.p95_ms:.1f} ms | "
            f"{ref.rate:,.0f} | {ref.p50_ms:.1f} ms | {ref.p95_ms:.1f} ms | "
            f"{load.rate / ref.rate:.0%} |"
        )
    print(
        f"| GET /programs/{{id}}, documents kept (as served) | {kept.rate:,.0f} | "
        f"{kept.p50_ms:.1f} ms | {kept.p95_ms:.1f} ms | | | | |"
    )
    for load in (*ours.values(), *theirs.values(), kept):
        assert load.bad_status == 0 and load.socket_errors == 0
