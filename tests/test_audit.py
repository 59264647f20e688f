"""Every write leaves an audit entry: who (key, role, organization), what, when."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from tests.conftest import Callers
from tests.factories import create_location, create_program


async def test_catalog_and_key_writes_are_audited(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    provider = callers.provider_a
    location = await create_location(client, provider)
    program = await create_program(client, provider, location_ids=[location["id"]])
    path = f"/programs/{program['id']}"
    await client.patch(path, json={"name": "Renamed"}, headers=provider.headers)
    await client.post(f"{path}/verify", headers=provider.headers)
    await client.delete(path, headers=provider.headers)
    key = await client.post(
        "/api-keys", json={"name": "x", "role": "admin"}, headers=callers.admin.headers
    )
    assert key.status_code == 201
    rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    actions = [r.action for r in rows]
    for action in (
        "location.create",
        "program.create",
        "program.update",
        "program.verify",
        "program.delete",
        "api_key.create",
    ):
        assert action in actions
    mine = [r for r in rows if r.subject_id == program["id"]]
    assert {r.actor_organization_id for r in mine} == {provider.organization_id}
    assert all(r.actor_key_id is not None and r.actor_role == "provider" for r in mine)
