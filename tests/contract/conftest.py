"""The live API the contract tests call: uvicorn in a thread, on its own committed database.

The database is seeded (with geodata when present) and the seeds are indexed, so that
what is fuzzed is what a client gets over HTTP. One server serves every module of this
package in a process (xdist workers each start their own).
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from schemathesis import Case, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.app import create_app
from service.auth.roles import Role
from service.catalog.enums import OrganizationType, ProgramStatus
from service.catalog.models import Organization, Program
from service.catalog.seed import load_seed_file, seed_id
from service.geo.service import load_directory
from service.keys.service import create_key
from service.settings import Settings
from tests.conftest import geodata_dir, make_test_database


def ready_not_ready(response: Response, case: Case) -> bool:
    """/ready answering its documented 503 for its search check: the server's embedded
    index is still being built, or trails the catalog by more than its bound while the
    fuzzers write fast. Anything else from /ready is judged as usual.
    """
    if case.operation.definition.raw.get("operationId") != "ready" or response.status_code != 503:
        return False
    checks = response.json().get("checks", {})
    failing = {name for name, check in checks.items() if not check.get("ok")}
    return failing == {"search"}


# Multiplies every fuzzing budget of this package: 1 in CI; more for a deeper hunt, e.g.
# YOUTHLINK_FUZZ_SCALE=10 (scenarios and examples grow, calls per scenario do not).
FUZZ_SCALE = float(os.environ.get("YOUTHLINK_FUZZ_SCALE", "1"))


def scaled(budget: int) -> int:
    return max(1, round(budget * FUZZ_SCALE))


@dataclass
class LiveApi:
    base_url: str
    headers: dict[str, dict[str, str]]  # role -> headers (anonymous: none)
    provider_id: uuid.UUID  # the provider key's organization
    school_id: uuid.UUID  # the school key's organization
    referrable: list[uuid.UUID]  # the provider's active programs taking referrals


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _prepare(url: str, base: Settings) -> LiveApi:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session, session.begin():
            await load_directory(session, geodata_dir(base))
            await load_seed_file(session, base.seeds_dir / "norwalk.json")
            provider = await session.scalar(
                select(Organization.id)
                .where(Organization.type == OrganizationType.provider)
                .order_by(Organization.id != seed_id("organization", "harbor-lights-youth"))
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
            assert provider is not None
            referrable = list(
                await session.scalars(
                    select(Program.id).where(
                        Program.organization_id == provider,
                        Program.status == ProgramStatus.active,
                        Program.accepting_referrals.is_(True),
                    )
                )
            )
            tokens = {
                role: (await create_key(session, name="contract", role=role, organization_id=org))[
                    1
                ]
                for role, org in (
                    (Role.admin, None),
                    (Role.provider, provider),
                    (Role.school, school),
                )
            }
    finally:
        await engine.dispose()
    headers = {role.value: {"Authorization": f"Bearer {token}"} for role, token in tokens.items()}
    headers["anonymous"] = {}
    return LiveApi("", headers, provider, school, referrable)


@pytest.fixture(scope="package")
def live_api(worker_id_safe: str, settings: Settings) -> Iterator[LiveApi]:
    url = make_test_database(f"{worker_id_safe}_contract")
    api = asyncio.run(_prepare(url, settings))
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
    api.base_url = f"http://127.0.0.1:{port}"
    yield api
    server.should_exit = True
    thread.join(timeout=10)
