"""A referral world on a database of its own whose transactions really commit: for
concurrency, the worker and webhooks delivered over HTTP (tests/referrals/test_live.py,
test_capacity.py). The fixtures are registered by tests/referrals/conftest.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from service.search.engines import serving
from service.settings import Settings
from tests.conftest import Caller, make_caller, make_org, make_test_database
from tests.factories import create_program
from tests.referrals.conftest import consent_body, post, student_body

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(scope="session")
def live_database(worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_referrals")


@dataclass
class Live:
    client: httpx.AsyncClient
    sessions: Sessions
    school: Caller
    provider: Caller
    student: dict[str, Any]
    program: dict[str, Any]

    async def referral(self) -> dict[str, Any]:
        body = {"student_id": self.student["id"], "program_id": self.program["id"], "need": "other"}
        return dict(await post(self.client, self.school, "/referrals", body))


@pytest.fixture
async def live(live_database: str, settings: Settings) -> AsyncIterator[Live]:
    engine = create_async_engine(live_database, poolclass=NullPool)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with sessions() as session, session.begin():
        await session.execute(
            text("TRUNCATE organizations, api_keys, idempotency_keys, audit_log CASCADE")
        )
        school = await make_caller(
            session, Role.school, await make_org(session, OrganizationType.school, "S")
        )
        provider = await make_caller(
            session, Role.provider, await make_org(session, OrganizationType.provider, "P")
        )
    app = create_app(settings)
    app.state.sessionmaker = sessions
    app.state.search = serving(settings, sessions)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        program = await create_program(client, provider, name="Robotics")
        student = await post(client, school, "/students", student_body())
        await post(client, school, f"/students/{student['id']}/consents", consent_body())
        yield Live(client, sessions, school, provider, student, program)
    await engine.dispose()
