"""Metrics benchmark: two-dimension disaggregations over 1,000,000 synthetic referrals.

    make bench                                   # with the search benchmark
    BENCH_METRICS_REFERRALS=1000000 BENCH_METRICS_REUSE=1 .venv/bin/python -m pytest \\
        tests/perf/test_bench_metrics.py -m perf -s

Builds a database with 2,000 synthetic programs, the Norwalk census tracts and ZIP areas
(the Norwalk layers in geodata/) and N referrals from `seed-referrals`, then asks the
API (uvicorn, one worker) for each pair of dimensions and prints median and worst times:

* first: the server's first metrics request, which reads every row (printed once);
* after a loop step: each request follows a committed change to one referral that
  leaves it in its cells (a deadline moves), so it first applies the changed rows;
* after a referral moved to another cell (its sent time moves, as a new referral would
  add one): the request also rebuilds the releases its table belongs to
  (metrics/release.py), their suppression decided again;
* warm: nothing changed since the previous request.

Target: under one second at 1,000,000 referrals.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.auth.roles import Role
from service.catalog import synthetic as catalog
from service.geo.service import load_directory
from service.keys.service import create_key
from service.referrals import synthetic
from service.settings import Settings
from tests.conftest import database_name, geodata_dir, make_test_database, server_url
from tests.perf.harness import serve

pytestmark = pytest.mark.perf

N = int(os.environ.get("BENCH_METRICS_REFERRALS", "1000000"))
REUSE = os.environ.get("BENCH_METRICS_REUSE") == "1"
RUNS = 5
PAIRS = [
    ("gender", "school"),
    ("race_ethnicity", "tract"),
    ("program_category", "month"),
    ("provider", "grade_band"),
    ("zip", "english_learner"),
    ("home_language", "race_ethnicity"),
]


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _loaded(url: str) -> bool:
    try:
        conn = await asyncpg.connect(_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM referrals") >= N)
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()


async def _build(url: str, settings: Settings) -> float:
    engine = create_async_engine(url, poolclass=NullPool)
    async with AsyncSession(engine) as session, session.begin():
        await load_directory(session, geodata_dir(settings))
    await engine.dispose()
    conn = await asyncpg.connect(_dsn(url))
    try:
        async with conn.transaction():
            await catalog.generate(conn, 2000, seed=3)
        started = time.perf_counter()
        async with conn.transaction():
            await synthetic.generate(conn, N, seed=7)
        seconds = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
        return seconds
    finally:
        await conn.close()


async def _key(url: str) -> str:
    engine = create_async_engine(url, poolclass=NullPool)
    async with AsyncSession(engine) as session, session.begin():
        _, token = await create_key(session, name="bench", role=Role.admin, organization_id=None)
    await engine.dispose()
    return token


def test_two_dimension_disaggregation(settings: Settings, worker_id_safe: str) -> None:
    suffix = f"{worker_id_safe}_bench_metrics"
    url = (
        make_url(server_url())
        .set(database=database_name(suffix))
        .render_as_string(hide_password=False)
    )
    if REUSE and asyncio.run(_loaded(url)):
        print(f"\n== metrics: reusing {N:,} referrals (BENCH_METRICS_REUSE=1)")
    else:
        url = make_test_database(suffix)
        seconds = asyncio.run(_build(url, settings))
        print(f"\n== metrics: generated {N:,} referrals in {seconds:.1f} s")
    token = asyncio.run(_key(url))
    server, base = serve(url, workers=1, pool_size=4)
    try:
        with httpx.Client(
            base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"}
        ) as client:
            t0 = time.perf_counter()
            first = client.get("/metrics/referrals", params={"group_by": ["gender"]})
            assert first.status_code == 200, first.text
            print(f"first request (reads every row): {(time.perf_counter() - t0) * 1000:.0f} ms")
            for pair in PAIRS:
                moved, placed, warm = [], [], []
                for run in range(RUNS):
                    asyncio.run(_write(url, run, "contact_due_at"))
                    moved.append(_timed(client, pair))
                for run in range(RUNS):
                    asyncio.run(_write(url, run, "sent_at"))
                    placed.append(_timed(client, pair))
                for _ in range(RUNS):
                    warm.append(_timed(client, pair))
                body = client.get("/metrics/referrals", params={"group_by": list(pair)}).json()
                shown = sum(not r["suppressed"] for r in body["rows"])
                print(
                    f"{' x '.join(pair):35s} after a loop step: {_spread(moved)}; after a "
                    f"referral moved to another cell: {_spread(placed)}; warm: "
                    f"{_spread(warm)} ({len(body['rows'])} cells, {shown} shown)"
                )
    finally:
        server.terminate()
        server.wait(timeout=20)


def _timed(client: httpx.Client, pair: tuple[str, str]) -> float:
    t0 = time.perf_counter()
    response = client.get("/metrics/referrals", params={"group_by": list(pair)})
    assert response.status_code == 200, response.text
    return (time.perf_counter() - t0) * 1000


def _spread(times: list[float]) -> str:
    return f"median {statistics.median(times):5.0f} ms, worst {max(times):5.0f} ms"


async def _write(url: str, run: int, column: str) -> None:
    """Commit a change to one referral: its contact deadline moves a microsecond (as a
    step of its loop does: every cell stays as it was), or its sent time does (a new
    referral, or another student, provider or day, moves it: the releases are rebuilt)."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        step = "1 microsecond" if run % 2 == 0 else "-1 microsecond"
        await conn.execute(
            f"UPDATE referrals SET {column} = {column} + interval '{step}' "
            "WHERE id = (SELECT id FROM referrals ORDER BY id LIMIT 1)"
        )
    finally:
        await conn.close()
