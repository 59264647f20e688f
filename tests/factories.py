"""Request bodies and rows for tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from service.catalog.enums import Season
from service.search.document import ProgramSource
from tests.conftest import Caller

NORWALK_GREEN = (41.1177, -73.4082)  # a point inside Norwalk (tract 09001044100 area)


def program_source(**overrides: Any) -> ProgramSource:
    """A searchable program as the catalog would give it to the search mapping: a plain,
    free-for-all, year-round program unless `overrides` say otherwise."""
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "organization_id": uuid.UUID(int=1),
        "organization_name": "Partners",
        "name": "Program",
        "description": "",
        "translations": {},
        "category": "out_of_school_time",
        "min_age": None,
        "max_age": None,
        "min_grade": None,
        "max_grade": None,
        "languages": ("en",),
        "season": Season.year_round,
        "starts_on": None,
        "ends_on": None,
        "enrollment_status": "open",
        "seats_available": None,
        "registration_deadline": None,
        "transportation_provided": False,
        "accessibility": (),
        "accepting_referrals": True,
        "last_verified_at": None,
    }
    return ProgramSource(**(fields | overrides))


def program_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Homework Help Club",
        "description": "Tutoring in reading and math after school.",
        "category": "out_of_school_time",
        "min_age": 6,
        "max_age": 11.5,
        "min_grade": "K",
        "max_grade": "5",
        "languages": ["en", "spa"],
        "cost_options": [{"free": True}],
        "schedules": [
            {
                "byday": ["MO", "WE"],
                "opens_at": "15:00",
                "closes_at": "17:00",
                "valid_from": "2026-09-01",
                "valid_to": "2027-06-18",
            }
        ],
        "season": "school_year",
        "translations": {"es": {"name": "Club de tareas", "description": "Tutoría."}},
        "accessibility": ["wheelchair_accessible"],
    }
    body.update(overrides)
    return body


async def create_location(
    client: httpx.AsyncClient,
    caller: Caller,
    lat: float = NORWALK_GREEN[0],
    lng: float = NORWALK_GREEN[1],
    **extra: Any,
) -> dict[str, Any]:
    response = await client.post(
        f"/organizations/{caller.organization_id}/locations",
        json={
            "name": "Main site",
            "address_1": "1 Main St",
            "city": "Norwalk",
            "state": "CT",
            "postal_code": "06851",
            "latitude": lat,
            "longitude": lng,
            **extra,
        },
        headers=caller.headers,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_program(
    client: httpx.AsyncClient, caller: Caller, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/programs", json=program_body(**overrides), headers=caller.headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
