"""Schemathesis against the real app on a real database, over every operation.

The app runs under uvicorn in a thread, on its own committed database (seeded, with
geodata when present), so what is tested is what a client gets over HTTP. Each
operation is exercised anonymously and with admin, provider and school keys; every
response must be non-5xx and match the documented schema.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.catalog.seed import load_seed_file, seed_id
from service.keys.service import create_key
from service.search.pg_backend import PostgresBackend
from service.search.sync import refresh
from service.search.text import load_synonyms
from service.settings import REPO_ROOT, Settings
from tests.conftest import make_test_database

schema = schemathesis.openapi.from_path(REPO_ROOT / "openapi" / "openapi.json")

ROLES = ("anonymous", "admin", "provider", "school")
MAX_EXAMPLES = 30


@dataclass
class LiveApi:
    base_url: str
    headers: dict[str, dict[str, str]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(url: str, base: Settings) -> dict[str, dict[str, str]]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            if base.geodata_dir is not None:
                from service.geo.service import load_directory

                await load_directory(session, base.geodata_dir)
            await load_seed_file(session, base.seeds_dir / "norwalk.json")
            # Index the seeds, so that search is fuzzed over real documents.
            program_ids = list(await session.scalars(text("SELECT id FROM programs")))
            await refresh(session, PostgresBackend(load_synonyms()), program_ids)
            provider_org = seed_id("organization", "harbor-lights-youth")
            from sqlalchemy import select

            from service.catalog.enums import OrganizationType
            from service.catalog.models import Organization

            provider = await session.scalar(
                select(Organization.id)
                .where(Organization.type == OrganizationType.provider)
                .order_by(Organization.id != provider_org)
                .limit(1)
            )
            school = await session.scalar(
                select(Organization.id).where(Organization.type == OrganizationType.school).limit(1)
            )
            if school is None:
                org = Organization(type=OrganizationType.school, name="Contract Test School")
                session.add(org)
                await session.flush()
                school = org.id
            tokens = {
                "admin": (
                    await create_key(session, name="st", role=Role.admin, organization_id=None)
                )[1],
                "provider": (
                    await create_key(
                        session, name="st", role=Role.provider, organization_id=provider
                    )
                )[1],
                "school": (
                    await create_key(session, name="st", role=Role.school, organization_id=school)
                )[1],
            }
    finally:
        await engine.dispose()
    headers = {role: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    headers["anonymous"] = {}
    return headers


@pytest.fixture(scope="module")
def live_api(worker_id_safe: str, settings: Settings) -> Iterator[LiveApi]:
    url = make_test_database(f"{worker_id_safe}_contract")
    headers = asyncio.run(_prepare(url, settings))
    app_settings = settings.model_copy(update={"database_url": url, "db_pool_size": 4})
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(app_settings),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    yield LiveApi(base_url=f"http://127.0.0.1:{port}", headers=headers)
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.parametrize("role", ROLES)
@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case: schemathesis.Case, role: str, live_api: LiveApi) -> None:
    # Business rules JSON Schema cannot say (min_age <= max_age, both coordinates or none)
    # make some schema-valid bodies a 422, so positive_data_acceptance does not apply.
    # With a key added by hand, schemathesis's own auth mutations are overridden, so the
    # negative-data and auth checks run for the anonymous caller only.
    excluded = [checks.positive_data_acceptance]
    if role != "anonymous":
        excluded += [checks.negative_data_rejection, checks.ignored_auth]
    case.call_and_validate(
        base_url=live_api.base_url, headers=live_api.headers[role], excluded_checks=excluded
    )
