"""The program list writes its JSON straight from the rows (catalog/reads.programs_json):
it must be exactly what ProgramOut's own validation and dump would give, program by
program, over the whole sample catalog and the edge cases."""

from __future__ import annotations

import json
from typing import Any

import httpx
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog import reads
from service.catalog.schemas import ProgramOut
from service.catalog.seed import load_seed_file
from service.reader import Reader
from service.settings import get_settings
from tests.conftest import Callers
from tests.factories import create_location, create_program

MODELS = TypeAdapter(list[ProgramOut])


async def _rows(session: AsyncSession) -> list[Any]:
    compiled = reads.PROGRAMS(scope.shape(Principal(role=Role.admin)))
    return list(await Reader(session=session).fetch(compiled, offset=0, limit=1000))


async def test_the_raw_json_is_programout_exactly(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await load_seed_file(session, get_settings().seeds_dir / "norwalk.json")
    site = await create_location(client, callers.provider_a)
    await create_program(
        client,
        callers.provider_a,
        name="Edge: seconds, an area, no costs",
        cost_options=[],
        location_ids=[site["id"]],
        schedules=[
            {"byday": ["TU"], "opens_at": "15:30:45", "closes_at": "17:00"},
        ],
        service_area={
            "type": "Polygon",
            "coordinates": [[[-73.45, 41.10], [-73.40, 41.10], [-73.40, 41.14], [-73.45, 41.10]]],
        },
        min_age=None,
        max_age=None,
        min_grade=None,
        max_grade=None,
        translations={},
    )
    await create_program(client, callers.provider_a, name="Edge: a closed one", status="inactive")
    rows = await _rows(session)
    assert len(rows) >= 100
    raw = json.loads(reads.programs_json(rows))
    modelled = json.loads(
        MODELS.dump_json(MODELS.validate_python([reads._program(r) for r in rows]))
    )
    assert len(raw) == len(modelled)
    for fast, slow in zip(raw, modelled, strict=True):
        assert fast == slow, fast["name"]
    times = [s["opens_at"] for p in raw for s in p["schedules"]]
    assert "15:30:45" in times and "15:00" in times  # seconds only where there are some


async def test_the_list_answers_the_same_json_through_the_api(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    made = await create_program(client, callers.provider_a, name="Listed")
    response = await client.get("/programs", params={"per_page": 50})
    assert response.status_code == 200, response.text
    listed = response.json()["contents"]
    assert next(p for p in listed if p["id"] == made["id"]) == made
