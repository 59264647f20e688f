"""Providers list and keep current their programs through the catalog API."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.models import Program
from tests.conftest import Callers
from tests.factories import create_location, create_program, program_body


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Program)) or 0)


async def test_provider_creates_program_and_reads_it_back(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    site = await create_location(client, callers.provider_a)
    response = await client.post(
        "/programs",
        json=program_body(location_ids=[site["id"]]),
        headers=callers.provider_a.headers,
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"] == f"/programs/{created['id']}"
    assert created["organization_id"] == str(callers.provider_a.organization_id)
    assert created["languages"] == ["en", "es"]  # 'spa' normalised to ISO 639-1
    assert created["min_grade"] == "K" and created["max_grade"] == "5"
    assert created["max_age"] == 11.5
    assert created["locations"][0]["id"] == site["id"]
    assert created["schedules"][0]["byday"] == ["MO", "WE"]
    assert created["translations"]["es"]["name"] == "Club de tareas"

    read = await client.get(f"/programs/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"min_age": 12, "max_age": 8}, "min_age"),
        ({"min_grade": "5", "max_grade": "K"}, "min_grade"),
        ({"languages": ["xx"]}, "languages"),
        ({"season": "dates"}, "starts_on"),
        ({"category": "astrology"}, "category"),
        ({"name": "bad\u0000name"}, "name"),
        ({"schedules": [{"byday": ["MO"], "opens_at": "17:00", "closes_at": "15:00"}]}, "opens_at"),
        ({"schedules": [{"byday": ["1MO"], "opens_at": "09:00", "closes_at": "10:00"}]}, "ordinal"),
        ({"cost_options": [{"free": True, "amount": 10, "period": "week"}]}, "free"),
        ({"cost_options": [{"amount": 10, "currency": "XYZ", "period": "week"}]}, "XYZ"),
        ({"translations": {"zz": {"name": "x"}}}, "zz"),
        ({"unexpected": 1}, "unexpected"),
        ({"taxonomy_terms": ["no_such_term"]}, "no_such_term"),
        ({"service_area": {"type": "Point", "coordinates": [0, 0]}}, "Polygon"),
        # The driver would store these as -infinity and infinity (schemathesis found it:
        # the stored document then said "-infinity").
        ({"starts_on": "0001-01-01"}, "starts_on"),
        ({"registration_deadline": "9999-12-31"}, "registration_deadline"),
    ],
)
async def test_invalid_program_is_refused_with_problem_details_and_writes_nothing(
    client: httpx.AsyncClient,
    callers: Callers,
    session: AsyncSession,
    change: dict[str, object],
    field: str,
) -> None:
    before = await _count(session)
    response = await client.post(
        "/programs", json=program_body(**change), headers=callers.provider_a.headers
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert field in response.text
    assert await _count(session) == before


async def test_location_of_another_organization_is_refused(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    foreign = await create_location(client, callers.provider_b)
    response = await client.post(
        "/programs",
        json=program_body(location_ids=[foreign["id"]]),
        headers=callers.provider_a.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "location_ids"]


async def test_who_may_create(client: httpx.AsyncClient, callers: Callers) -> None:
    anonymous = await client.post("/programs", json=program_body())
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "authentication_required"
    analyst = await client.post("/programs", json=program_body(), headers=callers.analyst.headers)
    assert analyst.status_code == 403
    admin_without_org = await client.post(
        "/programs", json=program_body(), headers=callers.admin.headers
    )
    assert admin_without_org.status_code == 422
    admin = await client.post(
        "/programs",
        json=program_body(organization_id=str(callers.provider_b.organization_id)),
        headers=callers.admin.headers,
    )
    assert admin.status_code == 201
    into_foreign_org = await client.post(
        "/programs",
        json=program_body(organization_id=str(callers.provider_b.organization_id)),
        headers=callers.provider_a.headers,
    )
    assert into_foreign_org.status_code == 404


async def test_visibility_of_inactive_programs(client: httpx.AsyncClient, callers: Callers) -> None:
    active = await create_program(client, callers.provider_a, name="Open Gym")
    hidden = await create_program(client, callers.provider_a, name="Old Club", status="inactive")

    def names(response: httpx.Response) -> set[str]:
        return {p["name"] for p in response.json()["contents"]}

    org = str(callers.provider_a.organization_id)
    anonymous = await client.get("/programs", params={"organization_id": org})
    assert names(anonymous) == {"Open Gym"}
    own = await client.get(
        "/programs", params={"organization_id": org}, headers=callers.provider_a.headers
    )
    assert names(own) == {"Open Gym", "Old Club"}
    assert (await client.get(f"/programs/{hidden['id']}")).status_code == 404
    assert (
        await client.get(f"/programs/{hidden['id']}", headers=callers.provider_b.headers)
    ).status_code == 404
    assert (
        await client.get(f"/programs/{hidden['id']}", headers=callers.admin.headers)
    ).status_code == 200
    assert (
        await client.get(f"/programs/{active['id']}", headers=callers.provider_b.headers)
    ).status_code == 200


async def test_patch_changes_only_given_fields_and_replaces_lists(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    program = await create_program(client, callers.provider_a)
    response = await client.patch(
        f"/programs/{program['id']}",
        json={
            "name": "Homework Help Club (new hours)",
            "schedules": [{"byday": ["TU"], "opens_at": "16:00", "closes_at": "18:00"}],
        },
        headers=callers.provider_a.headers,
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["name"] == "Homework Help Club (new hours)"
    assert [s["byday"] for s in changed["schedules"]] == [["TU"]]
    assert changed["languages"] == program["languages"]
    assert changed["version"] == 2 and response.headers["ETag"] == '"2"'


async def test_patch_that_breaks_a_rule_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    program = await create_program(client, callers.provider_a, min_age=6, max_age=11)
    response = await client.patch(
        f"/programs/{program['id']}", json={"min_age": 14}, headers=callers.provider_a.headers
    )
    assert response.status_code == 422
    assert "min_age" in response.text
    after = (await client.get(f"/programs/{program['id']}")).json()
    assert after == program


async def test_if_match_refuses_a_stale_write(client: httpx.AsyncClient, callers: Callers) -> None:
    program = await create_program(client, callers.provider_a)
    url = f"/programs/{program['id']}"
    first = await client.patch(
        url, json={"seats_available": 5}, headers={**callers.provider_a.headers, "If-Match": '"1"'}
    )
    assert first.status_code == 200
    stale = await client.patch(
        url, json={"seats_available": 3}, headers={**callers.provider_a.headers, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert stale.json()["code"] == "stale_etag"
    assert (await client.get(url)).json()["seats_available"] == 5


async def test_other_provider_cannot_change_or_delete(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    program = await create_program(client, callers.provider_a)
    url = f"/programs/{program['id']}"
    patch = await client.patch(url, json={"name": "Mine now"}, headers=callers.provider_b.headers)
    assert patch.status_code == 404
    delete = await client.delete(url, headers=callers.provider_b.headers)
    assert delete.status_code == 404
    assert (await client.get(url)).json()["name"] == program["name"]


async def test_verify_and_delete(client: httpx.AsyncClient, callers: Callers) -> None:
    program = await create_program(client, callers.provider_a)
    assert program["last_verified_at"] is None
    verified = await client.post(
        f"/programs/{program['id']}/verify", headers=callers.provider_a.headers
    )
    assert verified.status_code == 200
    assert verified.json()["last_verified_at"] is not None
    deleted = await client.delete(f"/programs/{program['id']}", headers=callers.provider_a.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"/programs/{program['id']}")).status_code == 404


async def test_list_filters_and_page_envelope(client: httpx.AsyncClient, callers: Callers) -> None:
    for i in range(3):
        await create_program(client, callers.provider_a, name=f"Club {i}")
    await create_program(
        client, callers.provider_a, name="Counseling", category="social_emotional_health"
    )
    org = str(callers.provider_a.organization_id)
    page = (
        await client.get("/programs", params={"organization_id": org, "per_page": 2, "page": 2})
    ).json()
    assert page["total_items"] == 4 and page["total_pages"] == 2
    assert page["page_number"] == 2 and page["size"] == 2
    assert page["last_page"] is True and page["first_page"] is False
    by_category = (
        await client.get(
            "/programs", params={"organization_id": org, "category": "social_emotional_health"}
        )
    ).json()
    assert [p["name"] for p in by_category["contents"]] == ["Counseling"]
    too_big = await client.get("/programs", params={"per_page": 101})
    assert too_big.status_code == 422


async def test_occurrences_expand_the_weekly_schedule_in_local_time(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    program = await create_program(client, callers.provider_a)
    response = await client.get(
        f"/programs/{program['id']}/occurrences", params={"from": "2026-09-07", "to": "2026-09-13"}
    )
    assert response.status_code == 200
    assert response.json() == [
        {"starts_at": "2026-09-07T15:00:00-04:00", "ends_at": "2026-09-07T17:00:00-04:00"},
        {"starts_at": "2026-09-09T15:00:00-04:00", "ends_at": "2026-09-09T17:00:00-04:00"},
    ]
    backwards = await client.get(
        f"/programs/{program['id']}/occurrences", params={"from": "2026-09-13", "to": "2026-09-07"}
    )
    assert backwards.status_code == 422
