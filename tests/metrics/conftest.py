"""A database at the size of a real pilot (`seed-referrals 3000`), shared by the
metrics tests that need one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.search.engines import serving
from service.settings import Settings
from tests.conftest import Caller, make_caller, make_test_database, run_cli


@pytest.fixture(scope="session")
def pilot_database(worker_id_safe: str) -> str:
    url = make_test_database(f"{worker_id_safe}_pilot")
    env = {**os.environ, "YOUTHLINK_DATABASE_URL": url}
    for command in (("load-geodata",), ("seed",), ("seed-referrals", "3000")):
        run_cli(env, *command)
    return url


@pytest.fixture
async def pilot(pilot_database: str, settings: Settings) -> AsyncIterator[tuple[Any, Caller]]:
    engine = create_async_engine(pilot_database, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        analyst = await make_caller(session, Role.admin)
    app = create_app(settings)
    app.state.sessionmaker = sessions
    app.state.search = serving(settings, sessions)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, analyst
    await engine.dispose()
