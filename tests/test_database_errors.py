"""The database saying "not now" is a 503 to retry, not a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from service.app import create_app
from service.db import SessionDep, make_engine, make_sessionmaker
from service.errors import PROBLEM_JSON
from service.reader import Reader, open_pool
from service.settings import Settings
from tests.perf.harness import free_port


async def test_a_statement_timeout_is_a_503(client: httpx.AsyncClient) -> None:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]

    @app.get("/_slow")
    async def slow(session: SessionDep) -> dict[str, str]:
        await session.execute(text("SET LOCAL statement_timeout = '20ms'"))
        await session.execute(text("SELECT pg_sleep(1)"))
        return {}

    response = await client.get("/_slow")
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "query_timeout" and response.headers["Retry-After"] == "5"


async def test_other_database_errors_stay_errors(client: httpx.AsyncClient) -> None:
    app: FastAPI = client._transport.app  # type: ignore[attr-defined]

    @app.get("/_broken")
    async def broken(session: SessionDep) -> dict[str, str]:
        await session.execute(text("SELECT * FROM no_such_table"))
        return {}

    assert (await client.get("/_broken")).status_code == 500


async def test_an_unreachable_database_is_a_503(settings: Settings) -> None:
    """Connecting fails below the driver (connection refused: an OSError, not a DBAPI
    error) while PostgreSQL restarts or is down; that is a 503 to retry too."""
    closed = settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"}
    )
    app = create_app(closed)
    engine = make_engine(closed)
    app.state.sessionmaker = make_sessionmaker(engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/programs")
    finally:
        await engine.dispose()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
    assert response.headers["Retry-After"] == "5"


async def test_a_request_that_waits_too_long_for_a_connection_is_a_503(
    settings: Settings,
) -> None:
    """Every pooled connection busy past `db_pool_timeout_s`: a 503 to retry, not a 500."""
    tight = settings.model_copy(
        update={"db_pool_size": 1, "db_max_overflow": 0, "db_pool_timeout_s": 0.2}
    )
    app = create_app(tight)
    engine = make_engine(tight)
    app.state.sessionmaker = make_sessionmaker(engine)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            engine.connect() as held,
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            await held.execute(text("SELECT 1"))
            response = await client.get("/programs")
    finally:
        await engine.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "database_busy"
    assert response.headers["Retry-After"] == "1"


async def test_reads_waiting_too_long_for_the_reads_pool_are_a_503(settings: Settings) -> None:
    tight = settings.model_copy(update={"db_read_pool_size": 1, "db_pool_timeout_s": 0.2})
    app = create_app(tight)
    pool = await open_pool(tight)
    app.state.reader = Reader(pool=pool, wait_s=tight.db_pool_timeout_s)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            pool.acquire(),
            httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        ):
            response = await client.get("/programs")
    finally:
        await pool.close()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_busy"
    assert response.headers["Retry-After"] == "1"


async def test_reads_of_an_unreachable_database_are_a_503(settings: Settings) -> None:
    closed = settings.model_copy(
        update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"}
    )
    app = create_app(closed)
    pool = await open_pool(closed)
    app.state.reader = Reader(pool=pool)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/programs/00000000-0000-4000-8000-000000000000")
    finally:
        await pool.close()
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "database_unavailable"
