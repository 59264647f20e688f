"""The database saying "not now" is a 503 to retry, not a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from service.db import SessionDep
from service.errors import PROBLEM_JSON


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
