"""Search benchmark: a realistic query mix over HTTP, next to the same SQL through asyncpg.

    make bench                                     # 100,000 programs
    BENCH_SEARCH_SIZES=10000,100000,1000000 make bench
    BENCH_SEARCH_REUSE=1 make bench                # keep a database loaded by an earlier run

For each size: generate synthetic programs into the bench database, `reindex`, serve
the app with `python -m service serve --workers 2` (uvicorn) on loopback, and drive the
mix with CONCURRENCY httpx clients from this process: once with every query computed (no
result cache), once with the API's default result cache. Then replay the exact statements
the postgres adapter issued for each query (captured from SQLAlchemy) through a bare
asyncpg pool with the same concurrency: the difference is what the API layer costs.
Load generator, API, and PostgreSQL share this machine's cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import time
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.catalog import synthetic
from service.search import sync
from service.search.params import search_params
from service.search.pg_backend import PostgresBackend
from service.search.text import load_synonyms
from service.settings import Settings
from tests.conftest import database_name, make_test_database, server_url
from tests.perf.harness import drive, pct, serve

pytestmark = pytest.mark.perf

REUSE = os.environ.get("BENCH_SEARCH_REUSE") == "1"
SIZES = [int(n) for n in os.environ.get("BENCH_SEARCH_SIZES", "100000").split(",")]
REQUESTS = int(os.environ.get("BENCH_SEARCH_REQUESTS", "3000"))
CONCURRENCY = 16
WORDS = ["soccer", "tutoring", "robotics", "art", "music", "counseling", "college", "dance"]
TYPOS = ["tutorng", "robotcs", "basketbal", "mindfullness"]


def mix(rng: random.Random) -> list[dict[str, Any]]:
    """What families, counselors and partner sites ask, in rough proportion."""

    def point() -> str:
        return f"{rng.uniform(41.0, 41.5):.4f},{rng.uniform(-73.7, -72.8):.4f}"

    return [
        {"q": rng.choice(WORDS)},
        {"q": rng.choice(WORDS), "age": rng.randint(5, 17)},
        {"q": rng.choice(TYPOS)},
        {"q": f"{rng.choice(WORDS)} club", "language": "es"},
        {"near": point(), "radius_m": 5000, "sort": "distance"},
        {"near": point(), "radius_m": 8000, "category": "out_of_school_time", "free": "true"},
        {"category": "social_emotional_health", "age_min": 12, "age_max": 15},
        {"day": "MO", "time_from": "15:00", "time_to": "18:00", "grade": str(rng.randint(1, 8))},
        {"q": rng.choice(WORDS), "facets": "category,language,age_band,cost_band,day"},
        {"on_date": "2026-07-15", "max_cost": 100, "enrollment_open": "true"},
    ]


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _load(url: str, n: int) -> tuple[float, float]:
    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("TRUNCATE organizations, taxonomies CASCADE")
            await synthetic.generate(conn, n, seed=7)
            await conn.execute("TRUNCATE search_outbox")
        load = time.perf_counter() - started
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        started = time.perf_counter()
        await sync.reindex(async_sessionmaker(engine), PostgresBackend(load_synonyms()), 2000)
        index = time.perf_counter() - started
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute("VACUUM ANALYZE search_documents, search_lexicon")
    finally:
        await conn.close()
    return load, index


async def _capture(url: str, queries: list[dict[str, Any]]) -> list[list[tuple[str, Any]]]:
    """The statements the postgres adapter runs for each query, with their parameters."""
    engine = create_async_engine(url, poolclass=NullPool)
    captured: list[tuple[str, Any]] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, params: Any, ctx: Any, many: bool) -> None:
        captured.append((statement, params))

    backend = PostgresBackend(load_synonyms())
    out = []
    try:
        async with AsyncSession(engine) as session:
            await session.connection()
            for params in queries:
                captured.clear()
                await backend.search(session, _query(params))
                out.append(list(captured))
    finally:
        await engine.dispose()
    return out


def _query(params: dict[str, Any]) -> Any:
    """The SearchQuery the API would build for these parameters."""
    from datetime import date, time
    from decimal import Decimal

    from service.catalog.enums import Category, Grade, Weekday

    converted: dict[str, Any] = {}
    for key, value in params.items():
        if key in ("age", "age_min", "age_max", "max_cost"):
            converted[key] = Decimal(str(value))
        elif key == "category":
            converted[key] = [Category(value)]
        elif key == "day":
            converted[key] = [Weekday(value)]
        elif key in ("time_from", "time_to"):
            converted[key] = time.fromisoformat(value)
        elif key == "grade":
            converted[key] = Grade(value)
        elif key in ("free", "enrollment_open"):
            converted[key] = value == "true"
        elif key == "on_date":
            converted[key] = date.fromisoformat(value)
        elif key in ("facets", "language"):
            converted[key] = [value]
        else:
            converted[key] = value
    return search_params(**converted)


async def _drive_sql(url: str, work: list[list[tuple[str, Any]]]) -> tuple[list[float], float]:
    latencies: list[float] = []
    queue = list(work)
    pool = await asyncpg.create_pool(_dsn(url), min_size=CONCURRENCY, max_size=CONCURRENCY)

    async def worker() -> None:
        while queue:
            statements = queue.pop()
            t0 = time.perf_counter()
            async with pool.acquire() as conn, conn.transaction():
                for sql, params in statements:
                    await conn.fetch(sql, *params)
            latencies.append((time.perf_counter() - t0) * 1000)

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return latencies, time.perf_counter() - started
    finally:
        await pool.close()


def _line(name: str, latencies: list[float], seconds: float, n: int) -> str:
    return (
        f"{name}: p50 {pct(latencies, 50):.1f} ms, p95 {pct(latencies, 95):.1f} ms, "
        f"mean {statistics.fmean(latencies):.1f} ms, {n / seconds:,.0f} req/s"
    )


async def _indexed(url: str, size: int) -> bool:
    """Whether the database at `url` exists and holds an index of `size` programs."""
    try:
        conn = await asyncpg.connect(_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        return False
    try:
        return bool(await conn.fetchval("SELECT count(*) FROM search_documents") == size)
    except asyncpg.UndefinedTableError:
        return False
    finally:
        await conn.close()


def _database(worker: str, size: int) -> tuple[str, bool]:
    """The bench database for `size` programs; with BENCH_SEARCH_REUSE=1 a loaded one is kept."""
    suffix = f"{worker}_bench_{size}"
    url = make_url(server_url()).set(database=database_name(suffix))
    rendered = url.render_as_string(hide_password=False)
    if REUSE and asyncio.run(_indexed(rendered, size)):
        return rendered, True
    return make_test_database(suffix), False


def _queries(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    queries = [q for _ in range(REQUESTS // 10) for q in mix(rng)]
    rng.shuffle(queries)
    return queries


def _paths(queries: list[dict[str, Any]]) -> list[str]:
    return ["/search/programs?" + urlencode(q, doseq=True) for q in queries]


def _run_api(url: str, paths: list[str], warmup: list[str], cache_ttl_s: float) -> list[float]:
    server, base = serve(
        url, workers=2, pool_size=10, extra_env={"YOUTHLINK_SEARCH_CACHE_TTL_S": str(cache_ttl_s)}
    )
    try:
        asyncio.run(drive(base, warmup, CONCURRENCY))  # both workers' pools, other queries
        latencies, seconds, errors = asyncio.run(drive(base, paths, CONCURRENCY))
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert errors == 0
    cache = f"result cache {cache_ttl_s:g} s" if cache_ttl_s else "no result cache"
    print(
        _line(
            f"API, {cache} ({len(paths)} requests, {CONCURRENCY} concurrent)",
            latencies,
            seconds,
            len(paths),
        )
    )
    return latencies


@pytest.mark.parametrize("size", SIZES)
def test_search_mix(settings: Settings, worker_id_safe: str, size: int) -> None:
    url, reused = _database(worker_id_safe, size)
    if reused:
        print(f"\n== {size:,} programs: reusing the loaded database (BENCH_SEARCH_REUSE=1)")
    else:
        load_s, index_s = asyncio.run(_load(url, size))
        print(
            f"\n== {size:,} programs: generated in {load_s:.1f} s, reindexed in {index_s:.1f} s "
            f"({size / index_s:,.0f} documents/s)"
        )
    queries = _queries(11)
    paths, warmup = _paths(queries), _paths(_queries(12))[:200]
    # Every query computed, then the same mix with the default result cache: the mix repeats
    # itself the way real traffic does (same words and ages; points are all different).
    latencies = _run_api(url, paths, warmup, cache_ttl_s=0)
    _run_api(url, paths, warmup, cache_ttl_s=Settings().search_cache_ttl_s)
    work = asyncio.run(_capture(url, queries))
    sql_latencies, sql_seconds = asyncio.run(_drive_sql(url, work))
    print(_line("SQL  (same statements, bare asyncpg)", sql_latencies, sql_seconds, len(work)))
    ratio = statistics.fmean(latencies) / statistics.fmean(sql_latencies)
    print(f"API without cache / SQL mean latency: {ratio:.2f}x")
