"""Administrators manage organizations; staff keep their own profile current."""

from __future__ import annotations

import httpx

from tests.conftest import Callers
from tests.factories import create_location, create_program


async def test_admin_creates_updates_deletes_organization(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    created = await client.post(
        "/organizations",
        json={
            "type": "provider",
            "name": "Riverbend Arts",
            "email": "hi@riverbend.example.org",
            "website": "https://riverbend.example.org",
            "phone": "203-555-0199",
        },
        headers=callers.admin.headers,
    )
    assert created.status_code == 201, created.text
    org = created.json()
    url = f"/organizations/{org['id']}"
    renamed = await client.patch(
        url,
        json={"name": "Riverbend Arts Center", "verified": True},
        headers={**callers.admin.headers, "If-Match": '"1"'},
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Riverbend Arts Center"
    assert renamed.json()["verified"] is True
    assert (await client.delete(url, headers=callers.admin.headers)).status_code == 204
    assert (await client.get(url, headers=callers.admin.headers)).status_code == 404


async def test_only_admins_create_and_verify(client: httpx.AsyncClient, callers: Callers) -> None:
    body = {"type": "provider", "name": "Sneaky"}
    assert (
        await client.post("/organizations", json=body, headers=callers.provider_a.headers)
    ).status_code == 403
    assert (await client.post("/organizations", json=body)).status_code == 401
    own = f"/organizations/{callers.provider_a.organization_id}"
    described = await client.patch(
        own, json={"description": "After-school arts."}, headers=callers.provider_a.headers
    )
    assert described.status_code == 200
    self_verify = await client.patch(
        own, json={"verified": True}, headers=callers.provider_a.headers
    )
    assert self_verify.status_code == 403
    assert self_verify.json()["code"] == "admin_only_field"
    foreign = f"/organizations/{callers.provider_b.organization_id}"
    assert (
        await client.patch(foreign, json={"description": "x"}, headers=callers.provider_a.headers)
    ).status_code == 404


async def test_bad_organization_input_is_a_422(client: httpx.AsyncClient, callers: Callers) -> None:
    for body in (
        {"type": "provider", "name": ""},
        {"type": "pirate", "name": "X"},
        {"type": "provider", "name": "X", "email": "not-an-email"},
        {"type": "provider", "name": "X", "website": "ftp://example.org"},
    ):
        response = await client.post("/organizations", json=body, headers=callers.admin.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    own = f"/organizations/{callers.provider_a.organization_id}"
    removal = await client.patch(own, json={"name": None}, headers=callers.provider_a.headers)
    assert removal.status_code == 422


async def test_verified_cannot_be_cleared(client: httpx.AsyncClient, callers: Callers) -> None:
    # Found by the stateful schemathesis walk: {"verified": null} was a 500 (NOT NULL).
    own = f"/organizations/{callers.provider_a.organization_id}"
    cleared = await client.patch(own, json={"verified": None}, headers=callers.admin.headers)
    assert cleared.status_code == 422, cleared.text
    assert cleared.json()["errors"][0]["loc"] == ["body", "verified"]


async def test_anonymous_sees_only_organizations_with_active_programs(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    await create_program(client, callers.provider_a)
    anonymous = (await client.get("/organizations", params={"per_page": 100})).json()
    names = {o["name"] for o in anonymous["contents"]}
    assert "Provider A" in names
    assert "Provider B" not in names and "School A" not in names
    staff = (
        await client.get(
            "/organizations",
            params={"per_page": 100, "type": "school"},
            headers=callers.analyst.headers,
        )
    ).json()
    assert {"School A", "School B"} <= {o["name"] for o in staff["contents"]}


async def test_locations_crud_and_scoping(client: httpx.AsyncClient, callers: Callers) -> None:
    site = await create_location(client, callers.provider_a)
    url = f"/locations/{site['id']}"
    moved = await client.put(
        url, json={"name": "Online", "is_virtual": True}, headers=callers.provider_a.headers
    )
    assert moved.status_code == 200
    assert moved.json()["latitude"] is None and moved.json()["tract_geoid"] is None
    foreign = await client.put(url, json={"is_virtual": True}, headers=callers.provider_b.headers)
    assert foreign.status_code == 404
    no_point = await client.post(
        f"/organizations/{callers.provider_a.organization_id}/locations",
        json={"name": "Somewhere"},
        headers=callers.provider_a.headers,
    )
    assert no_point.status_code == 422
    listed = await client.get(
        f"/organizations/{callers.provider_a.organization_id}/locations",
        headers=callers.provider_a.headers,
    )
    assert [loc["id"] for loc in listed.json()["contents"]] == [site["id"]]
    assert (await client.delete(url, headers=callers.provider_a.headers)).status_code == 204
