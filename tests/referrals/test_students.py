"""Students: owned by a school, read by it and admins only, every read audited."""

from __future__ import annotations

import httpx

from tests.conftest import Callers
from tests.referrals.conftest import World, student_body


async def test_school_records_a_student_and_reads_it_back(world: World) -> None:
    s = world.student
    assert s["school_id"] == str(world.callers.school_a.organization_id)
    assert s["grade"] == "6" and s["home_language"] == "es"  # 'spa' normalised
    response = await world.client.get(
        f"/students/{s['id']}", headers=world.callers.school_a.headers
    )
    assert response.status_code == 200
    assert response.json()["first_name"] == "Marisol"
    assert response.headers["ETag"] == '"1"'


async def test_only_the_owning_school_and_admins_read_a_student(world: World) -> None:
    c = world.callers
    path = f"/students/{world.student['id']}"
    expected = {
        "admin": 200,
        "school_a": 200,
        "school_b": 404,
        "provider_a": 403,
        "analyst": 403,
        "partner_app": 403,
        "anonymous": 401,
    }
    for name, status in expected.items():
        response = await world.client.get(path, headers=getattr(c, name).headers)
        assert response.status_code == status, (name, response.text)
    listed = await world.client.get("/students", headers=c.school_b.headers)
    assert listed.json()["total_items"] == 0


async def test_student_number_is_unique_per_school(world: World) -> None:
    again = await world.client.post(
        "/students", json=student_body(), headers=world.callers.school_a.headers
    )
    assert again.status_code == 409 and again.json()["code"] == "duplicate_student"
    elsewhere = await world.client.post(
        "/students", json=student_body(), headers=world.callers.school_b.headers
    )
    assert elsewhere.status_code == 201


async def test_invalid_students_are_refused(client: httpx.AsyncClient, callers: Callers) -> None:
    for bad in (
        {"races": ["martian"]},
        {"date_of_birth": "2999-01-01"},
        {"grade": "13"},
        {"home_tract": "09001044100", "home_location": {"latitude": 41.1, "longitude": -73.4}},
        {"preferred_language": "xx"},
        {"first_name": ""},
    ):
        response = await client.post(
            "/students", json=student_body(**bad), headers=callers.school_a.headers
        )
        assert response.status_code == 422, (bad, response.text)
    provider = await client.post(
        "/students", json=student_body(), headers=callers.provider_a.headers
    )
    assert provider.status_code == 403


async def test_admin_must_name_a_school(client: httpx.AsyncClient, callers: Callers) -> None:
    response = await client.post("/students", json=student_body(), headers=callers.admin.headers)
    assert response.status_code == 422
    not_school = await client.post(
        "/students",
        json=student_body(school_id=str(callers.provider_a.organization_id)),
        headers=callers.admin.headers,
    )
    assert not_school.status_code == 422 and not_school.json()["code"] == "not_a_school"


async def test_home_tract_from_a_point_keeps_only_the_tract(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    body = student_body(home_location={"latitude": 41.1177, "longitude": -73.4082})
    response = await client.post("/students", json=body, headers=callers.school_a.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["home_tract"] is not None and len(created["home_tract"]) == 11
    assert "home_location" not in created
    unknown = await client.post(
        "/students",
        json=student_body(student_number="S-2", home_tract="99999999999"),
        headers=callers.school_a.headers,
    )
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_reference"


async def test_patch_with_if_match(world: World) -> None:
    path = f"/students/{world.student['id']}"
    headers = world.callers.school_a.headers
    changed = await world.client.patch(
        path, json={"grade": "7"}, headers={**headers, "If-Match": '"1"'}
    )
    assert changed.status_code == 200 and changed.json()["grade"] == "7"
    stale = await world.client.patch(
        path, json={"grade": "8"}, headers={**headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    cleared = await world.client.patch(path, json={"first_name": None}, headers=headers)
    assert cleared.status_code == 422


async def test_admins_see_who_read_a_student(world: World) -> None:
    path = f"/students/{world.student['id']}"
    await world.client.get(path, headers=world.callers.school_a.headers)
    trail = await world.client.get(f"{path}/audit", headers=world.callers.admin.headers)
    assert trail.status_code == 200, trail.text
    actions = [e["action"] for e in trail.json()["contents"]]
    assert "student.read" in actions and "student.create" in actions and "consent.create" in actions
    denied = await world.client.get(f"{path}/audit", headers=world.callers.school_a.headers)
    assert denied.status_code == 403
