"""Test harness: a real PostgreSQL + PostGIS, one database per xdist worker.

Each worker's database is created fresh and migrated once with Alembic, and the
repository's Norwalk geodata (geodata/) is loaded into it. Every test runs inside a transaction that
is rolled back, and the app's session dependency is pointed at that transaction.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from service.catalog.models import Organization
from service.db import get_reader, get_session, wrote
from service.devdb import DatabaseUnavailable, ensure_postgis, server_url
from service.devdeps import MissingDependency, ensure_chromium
from service.geo.service import load_directory
from service.keys.service import create_key
from service.migrate import upgrade
from service.reader import Reader
from service.search.engines import serving
from service.settings import Settings, get_settings
from tests.oidc_issuer import Issuers


def pytest_sessionstart(session: pytest.Session) -> None:
    """Once, before any xdist worker starts: PostGIS and chromium, installed or named."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checked
    try:
        ensure_postgis(server_url())
        ensure_chromium()
    except (DatabaseUnavailable, MissingDependency) as exc:
        pytest.exit(f"cannot run the tests: {exc}", returncode=3)


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# A live Meilisearch for the contract suite's second engine (tests/search/conftest.py).
# Every other test runs on the default, embedded engine, so it leaves the environment;
# it goes on as YOUTHLINK_TEST_MEILI_URL, which the app never reads and the test workers
# (pytest-xdist starts them after this file is loaded) inherit: before, `make test`
# with the URL set skipped the contract on every worker.
MEILI_URL = os.environ.pop("YOUTHLINK_MEILI_URL", None) or os.environ.get(
    "YOUTHLINK_TEST_MEILI_URL"
)
if MEILI_URL:
    os.environ["YOUTHLINK_TEST_MEILI_URL"] = MEILI_URL

# Two checkouts can run their suites side by side when each sets its own prefix.
TEST_DB_PREFIX = os.environ.get("YOUTHLINK_TEST_DB_PREFIX", "youthlink_test")


def database_name(suffix: str) -> str:
    return f"{TEST_DB_PREFIX}_{suffix}"


def make_test_database(suffix: str) -> str:
    """Drop and create database <prefix>_<suffix>, migrate it; return its URL."""
    server = server_url()
    ensure_postgis(server)
    name = database_name(suffix)

    async def recreate() -> None:
        conn = await asyncpg.connect(_dsn(server))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(recreate())
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def run_cli(env: dict[str, str], *args: str) -> None:
    """`python -m service <args>` with `env`, as an operator would run it."""
    subprocess.run(
        [sys.executable, "-m", "service", *args], env=env, check=True, capture_output=True
    )


@pytest.fixture(scope="session")
def worker_id_safe(worker_id: str) -> str:
    return worker_id.replace("-", "_")


@pytest.fixture(scope="session")
def database_url(worker_id_safe: str) -> str:
    return make_test_database(worker_id_safe)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    get_settings.cache_clear()
    os.environ["YOUTHLINK_DATABASE_URL"] = database_url
    # Tests run webhook receivers on http://127.0.0.1.
    os.environ["YOUTHLINK_WEBHOOK_ALLOW_HTTP"] = "true"
    os.environ["YOUTHLINK_WEBHOOK_ALLOW_PRIVATE_NETWORKS"] = "true"
    # Suites fire many requests from one address; tests/ops/test_abuse.py turns limits on.
    os.environ["YOUTHLINK_RATE_LIMITS_ENABLED"] = "false"
    settings = get_settings()
    # The repository carries both; a test that needs them must never skip for want of them.
    for name, directory in (("geodata", settings.geodata_dir), ("HSDS", settings.hsds_dir)):
        if directory is None or not directory.is_dir():
            pytest.fail(f"no {name} directory ({directory}): is this a complete checkout?")
    return settings


def geodata_dir(settings: Settings) -> Path:
    """The geodata directory the settings fixture checked."""
    assert settings.geodata_dir is not None
    return settings.geodata_dir


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(settings.database_url, poolclass=NullPool)
    async with AsyncSession(engine) as session, session.begin():
        await load_directory(session, geodata_dir(settings))
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction rolled back after the test; commits become savepoints."""
    async with engine.connect() as connection:
        transaction = await connection.begin()
        session = AsyncSession(
            bind=connection,
            join_transaction_mode="create_savepoint",
            expire_on_commit=False,
            autoflush=False,
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


@pytest.fixture
async def client(session: AsyncSession, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(create_app(settings), session, settings) as client:
        yield client


@asynccontextmanager
async def app_client(
    app: FastAPI, session: AsyncSession, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of `app` whose requests all run in the test's session."""

    async def test_session(request: Request) -> AsyncIterator[AsyncSession]:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            wrote(request)

    @asynccontextmanager
    async def same_session() -> AsyncIterator[AsyncSession]:
        yield session  # what code outside a request (ndjson streams) opens, in the test

    app.dependency_overrides[get_session] = test_session
    app.dependency_overrides[get_reader] = lambda: Reader(session=session)
    app.state.sessionmaker = same_session
    # What the (unrun) lifespan sets: the embedded index, following the log through the
    # test's session (it sees the test's own writes).
    app.state.search = serving(settings, same_session)
    app.state.after_catalog_write = [app.state.search.wrote]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture(scope="session")
def issuers() -> Iterator[Issuers]:
    """A real OpenID Connect issuer on loopback (tests/oidc_issuer.py); each test takes
    a tenant of its own with `issuers.tenant()`."""
    server = Issuers()
    yield server
    server.close()


@dataclass
class Caller:
    """An API key holder: its headers, role and organization."""

    role: Role | None
    organization_id: uuid.UUID | None
    headers: dict[str, str]


async def make_org(session: AsyncSession, org_type: OrganizationType, name: str) -> Organization:
    org = Organization(type=org_type, name=name)
    session.add(org)
    await session.flush()
    return org


async def make_caller(session: AsyncSession, role: Role, org: Organization | None = None) -> Caller:
    _, token = await create_key(
        session,
        name=f"test {role.value}",
        role=role,
        organization_id=org.id if org else None,
    )
    return Caller(role, org.id if org else None, {"Authorization": f"Bearer {token}"})


@dataclass
class Callers:
    anonymous: Caller
    admin: Caller
    provider_a: Caller
    provider_b: Caller
    school_a: Caller
    school_b: Caller
    analyst: Caller
    partner_app: Caller
    privacy_officer_a: Caller  # school A's


@pytest.fixture
async def callers(session: AsyncSession) -> Callers:
    provider_a = await make_org(session, OrganizationType.provider, "Provider A")
    provider_b = await make_org(session, OrganizationType.provider, "Provider B")
    school_a = await make_org(session, OrganizationType.school, "School A")
    school_b = await make_org(session, OrganizationType.school, "School B")
    backbone = await make_org(session, OrganizationType.backbone, "Backbone")
    callers = Callers(
        anonymous=Caller(None, None, {}),
        admin=await make_caller(session, Role.admin),
        provider_a=await make_caller(session, Role.provider, provider_a),
        provider_b=await make_caller(session, Role.provider, provider_b),
        school_a=await make_caller(session, Role.school, school_a),
        school_b=await make_caller(session, Role.school, school_b),
        analyst=await make_caller(session, Role.analyst, backbone),
        partner_app=await make_caller(session, Role.partner_app, backbone),
        privacy_officer_a=await make_caller(session, Role.privacy_officer, school_a),
    )
    # Release the savepoint, so a request that fails and rolls back keeps these rows.
    await session.commit()
    return callers
