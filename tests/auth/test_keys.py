"""API keys: shown once, stored hashed, scoped to a role and an organization, revocable."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.models import ApiKey
from tests.conftest import Callers


async def test_admin_issues_a_key_that_works_and_is_stored_hashed(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    response = await client.post(
        "/api-keys",
        json={
            "name": "front desk",
            "role": "provider",
            "organization_id": str(callers.provider_a.organization_id),
        },
        headers=callers.admin.headers,
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    token = issued["key"]
    assert token.startswith(issued["prefix"] + "_")
    stored = await session.scalar(select(ApiKey).where(ApiKey.prefix == issued["prefix"]))
    assert stored is not None and token not in stored.secret_hash
    listed = await client.get("/api-keys", headers=callers.admin.headers)
    assert token not in listed.text
    me = await client.patch(
        f"/organizations/{callers.provider_a.organization_id}",
        json={"description": "ok"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert me.status_code == 200


async def test_revoked_and_malformed_keys_are_refused(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    response = await client.post(
        "/api-keys",
        json={
            "name": "temp",
            "role": "analyst",
            "organization_id": str(callers.analyst.organization_id),
        },
        headers=callers.admin.headers,
    )
    key = response.json()
    headers = {"Authorization": f"Bearer {key['key']}"}
    assert (await client.get("/programs", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api-keys/{key['id']}", headers=callers.admin.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = await client.get("/programs", headers=headers)
    assert after.status_code == 401 and after.json()["code"] == "invalid_api_key"
    for bad in ("nonsense", "yl_12345678_wrong", key["key"] + "x"):
        got = await client.get("/programs", headers={"Authorization": f"Bearer {bad}"})
        assert got.status_code == 401, bad


async def test_role_must_fit_the_organization(client: httpx.AsyncClient, callers: Callers) -> None:
    cases = [
        {"name": "x", "role": "school", "organization_id": str(callers.provider_a.organization_id)},
        {"name": "x", "role": "provider"},
        {"name": "x", "role": "admin", "organization_id": str(callers.provider_a.organization_id)},
        {
            "name": "x",
            "role": "provider",
            "organization_id": "00000000-0000-0000-0000-000000000000",
        },
    ]
    for body in cases:
        response = await client.post("/api-keys", json=body, headers=callers.admin.headers)
        assert response.status_code == 422, body
    assert (await client.get("/api-keys", headers=callers.provider_a.headers)).status_code == 403


async def test_a_key_records_when_it_was_last_used(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    await client.get("/programs", headers=callers.provider_a.headers)
    used = await session.scalar(
        select(ApiKey.last_used_at).where(
            ApiKey.organization_id == callers.provider_a.organization_id
        )
    )
    assert used is not None
