"""Search benchmark: one query mix through the API, tantivy and Meilisearch side by side.

    make bench                                        # 10,000 and 100,000 programs
    BENCH_SEARCH_SIZES=1000000 make bench             # a million (generation takes minutes)
    YOUTHLINK_MEILI_URL=http://127.0.0.1:7700 YOUTHLINK_MEILI_MASTER_KEY=... make bench
    BENCH_SEARCH_REUSE=1 make bench                   # keep a database generated earlier

For each size: generate synthetic programs; build the embedded index once in this process
(the rebuild time, and what the index takes); serve the API with `--workers 2`, result
cache and rate limits off, and wait until both workers have built their index (their
memory is then read from /proc); drive the mix with wrk (16 connections) for
BENCH_SEARCH_SECONDS, then each query shape alone. With YOUTHLINK_MEILI_URL set, the same
data is indexed into Meilisearch (timed) and a second API, searching Meilisearch, takes
the same mix in the same run. wrk, the API and PostgreSQL (and Meilisearch) share this
machine's two cores.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import async_sessionmaker

from service.catalog import synthetic
from service.db import make_engine as make_db_engine
from service.search.engines import make_engine, meili_follower
from service.search.follower import Follower
from service.search.tantivy.engine import TantivyEngine
from service.search.text import load_synonyms
from service.settings import Settings
from tests.conftest import MEILI_URL, database_name, make_test_database, server_url
from tests.perf.harness import Load, rss_mb, serve, wait_quiet, wait_ready, wrk

pytestmark = pytest.mark.perf

REUSE = os.environ.get("BENCH_SEARCH_REUSE") == "1"
SIZES = [int(n) for n in os.environ.get("BENCH_SEARCH_SIZES", "10000,100000").split(",")]
SECONDS = float(os.environ.get("BENCH_SEARCH_SECONDS", "20"))
SHAPE_SECONDS = float(os.environ.get("BENCH_SEARCH_SHAPE_SECONDS", "5"))
ENGINES = os.environ.get("BENCH_SEARCH_ENGINES", "tantivy,meilisearch").split(",")
CONNECTIONS = 16
WORDS = ["soccer", "tutoring", "robotics", "art", "music", "counseling", "college", "dance"]
TYPOS = ["tutorng", "robotcs", "basketbal", "mindfullness"]
SPANISH = ["fútbol", "arte", "música", "danza", "natación", "tarea"]


def shapes(rng: random.Random) -> dict[str, dict[str, Any]]:
    """What families, counselors and partner sites ask, one of each shape."""

    def point() -> str:  # inside the synthetic region (Fairfield and New Haven counties)
        return f"{rng.uniform(41.0, 41.5):.4f},{rng.uniform(-73.7, -72.8):.4f}"

    return {
        "word": {"q": rng.choice(WORDS)},
        "word + age": {"q": rng.choice(WORDS), "age": rng.randint(5, 17)},
        "typo": {"q": rng.choice(TYPOS)},
        "Spanish": {"q": rng.choice(SPANISH)},
        "near, by distance": {"near": point(), "radius_m": 5000, "sort": "distance"},
        "radius + category + free": {
            "near": point(),
            "radius_m": 8000,
            "category": "out_of_school_time",
            "free": "true",
        },
        "ages": {"category": "social_emotional_health", "age_min": 12, "age_max": 15},
        "day/time/grade": {
            "day": "MO",
            "time_from": "15:00",
            "time_to": "18:00",
            "grade": str(rng.randint(1, 8)),
        },
        "word + facets": {
            "q": rng.choice(WORDS),
            "facets": "category,language,age_band,cost_band,day",
        },
        "date + cost + open": {"on_date": "2026-07-15", "max_cost": 100, "enrollment_open": "true"},
    }


def _paths(seed: int, n: int = 2000) -> dict[str, list[str]]:
    rng = random.Random(seed)
    out: dict[str, list[str]] = {}
    for _ in range(n // 10):
        for name, params in shapes(rng).items():
            out.setdefault(name, []).append("/search/programs?" + urlencode(params))
    return out


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _generate(url: str, n: int) -> float:
    conn = await asyncpg.connect(_dsn(url))
    try:
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("TRUNCATE organizations, taxonomies, search_changes CASCADE")
            await synthetic.generate(conn, n, seed=7)
        seconds = time.perf_counter() - started
        await conn.execute("VACUUM ANALYZE")
        return seconds
    finally:
        await conn.close()


async def _programs(url: str) -> int:
    try:
        conn = await asyncpg.connect(_dsn(url))
    except asyncpg.InvalidCatalogNameError:
        return -1
    try:
        return int(await conn.fetchval("SELECT count(*) FROM programs WHERE status = 'active'"))
    except asyncpg.UndefinedTableError:
        return -1
    finally:
        await conn.close()


def _database(worker: str, size: int) -> tuple[str, bool]:
    """The bench database for `size` programs; with BENCH_SEARCH_REUSE=1 a loaded one is kept."""
    suffix = f"{worker}_bench_{size}"
    url = make_url(server_url()).set(database=database_name(suffix))
    rendered = url.render_as_string(hide_password=False)
    if REUSE and asyncio.run(_programs(rendered)) > 0:
        return rendered, True
    return make_test_database(suffix), False


async def _build(url: str, settings: Settings, meili: bool) -> tuple[float, int]:
    """A full rebuild in this process, connected as the API connects: (seconds, documents)."""
    engine = make_db_engine(settings.model_copy(update={"database_url": url}), pool_size=1)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    try:
        if meili:
            follower = meili_follower(settings, sessions, make_engine(settings))
            async with sessions() as session, session.begin():  # start from scratch
                await session.execute(text("DELETE FROM search_cursors"))
        else:
            follower = Follower(sessions, TantivyEngine(load_synonyms()), name="bench")
        started = time.perf_counter()
        step = await follower.step()
        return time.perf_counter() - started, int(step.rebuilt or 0)
    finally:
        await engine.dispose()


def _row(name: str, load: Load) -> str:
    return (
        f"| {name} | {load.rate:,.0f} | {load.p50_ms:.1f} | {load.p95_ms:.1f} | "
        f"{load.p99_ms:.1f} | {load.bad_status + load.socket_errors} |"
    )


def _run(url: str, engine: str, paths: dict[str, list[str]], meili: bool) -> dict[str, Load]:
    env = {"YOUTHLINK_SEARCH_CACHE_TTL_S": "0"}
    if meili and MEILI_URL:
        env["YOUTHLINK_MEILI_URL"] = MEILI_URL
    server, base = serve(url, workers=2, pool_size=10, extra_env=env, meili=meili)
    try:
        ready_s = wait_ready(base)
        ready_s += wait_quiet(server.pid)
        memory = rss_mb(server.pid)
        mixed = [p for group in paths.values() for p in group]
        random.Random(3).shuffle(mixed)
        wrk(base, mixed[:200], CONNECTIONS, 3)  # warm both workers
        results = {"mix": wrk(base, mixed, CONNECTIONS, SECONDS)}
        for name, group in paths.items():
            results[name] = wrk(base, group, CONNECTIONS, SHAPE_SECONDS)
    finally:
        server.terminate()
        server.wait(timeout=30)
    workers = ", ".join(f"{mb:,.0f} MB" for mb in memory.values())
    print(f"\n{engine}: both workers ready {ready_s:.1f} s after start; RSS per worker {workers}")
    print("| shape | req/s | p50 ms | p95 ms | p99 ms | non-2xx + errors |")
    print("|---|---|---|---|---|---|")
    for name, load in results.items():
        print(_row(name, load))
    return results


@pytest.mark.parametrize("size", SIZES)
def test_search_mix(settings: Settings, worker_id_safe: str, size: int) -> None:
    url, reused = _database(worker_id_safe, size)
    if reused:
        print(f"\n== {size:,} programs: reusing the loaded database (BENCH_SEARCH_REUSE=1)")
    else:
        seconds = asyncio.run(_generate(url, size))
        print(f"\n== {size:,} programs: generated in {seconds:.1f} s")
    paths = _paths(11)
    runs: dict[str, dict[str, Load]] = {}
    if "tantivy" in ENGINES:
        build_s, documents = asyncio.run(_build(url, settings, meili=False))
        print(f"tantivy: full rebuild of {documents:,} documents in {build_s:.1f} s (one process)")
        runs["tantivy"] = _run(url, "tantivy", paths, meili=False)
    if "meilisearch" in ENGINES and not MEILI_URL:
        print("Meilisearch: skipped (set YOUTHLINK_MEILI_URL to a live server to compare)")
    elif "meilisearch" in ENGINES:
        with_meili = settings.model_copy(update={"meili_url": MEILI_URL})
        meili_s, meili_docs = asyncio.run(_build(url, with_meili, meili=True))
        print(f"Meilisearch: full rebuild of {meili_docs:,} documents in {meili_s:.1f} s")
        runs["meilisearch"] = _run(url, "meilisearch", paths, meili=True)
    for results in runs.values():
        assert all(load.bad_status == 0 and load.socket_errors == 0 for load in results.values())
    if len(runs) == 2:
        ratio = runs["tantivy"]["mix"].rate / runs["meilisearch"]["mix"].rate
        print(f"tantivy / Meilisearch throughput on the mix: {ratio:.2f}x")
