"""The one-statement reads (service/catalog/reads.py) answer exactly what the ORM mapping
(service/catalog/views.py, still used by writes) answers, for every seeded row."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.principal import ANONYMOUS, Principal
from service.auth.roles import Role
from service.catalog import reads
from service.catalog import repository as repo
from service.catalog.models import Location, Organization, Program
from service.catalog.schemas import OrganizationOut
from service.catalog.seed import load_seed_file
from service.catalog.totals import Totals
from service.catalog.views import location_out, program_out
from service.pagination import PageParams
from service.reader import Reader
from service.settings import Settings
from tests.conftest import Callers

ADMIN = Principal(role=Role.admin, organization_id=None, key_id=None)


def _same_sets(body: dict[str, Any]) -> dict[str, Any]:
    """Locations and terms have no order in the ORM mapping: compare them as sets."""
    for key in ("locations", "taxonomy_terms"):
        if key in body:
            body[key] = sorted(body[key], key=lambda item: str(item["id"]))
    return body


async def test_every_seeded_row_reads_the_same_both_ways(
    session: AsyncSession, settings: Settings, callers: Callers
) -> None:
    await load_seed_file(session, settings.seeds_dir / "norwalk.json")
    reader = Reader(session=session)
    programs = (await session.scalars(select(Program.id))).all()
    assert len(programs) > 100
    for program_id in programs:
        orm = await repo.get_program(session, ADMIN, program_id)
        assert orm is not None
        fast, version = await reads.program(reader, ADMIN, program_id)
        expected = json.loads(program_out(orm).model_dump_json())
        assert _same_sets(json.loads(fast)) == _same_sets(expected) and version == orm.version
    for org_id in (await session.scalars(select(Organization.id))).all():
        org = await session.get(Organization, org_id)
        fast, _ = await reads.organization(reader, ADMIN, org_id)
        assert json.loads(fast) == json.loads(OrganizationOut.model_validate(org).model_dump_json())
    for location_id in (await session.scalars(select(Location.id).limit(40))).all():
        location = await session.get(Location, location_id)
        assert location is not None
        fast, _ = await reads.location(reader, ADMIN, location_id)
        expected = json.loads(location_out(location).model_dump_json())
        assert json.loads(fast) == expected


async def test_a_page_knows_its_total_and_past_the_end(
    client: httpx.AsyncClient, session: AsyncSession, settings: Settings
) -> None:
    await load_seed_file(session, settings.seeds_dir / "norwalk.json")
    first = (await client.get("/programs", params={"per_page": 5})).json()
    total = first["total_items"]
    assert first["size"] == 5 and first["total_pages"] == -(-total // 5) and first["first_page"]
    beyond = (await client.get("/programs", params={"per_page": 5, "page": 1000})).json()
    assert beyond["contents"] == [] and beyond["total_items"] == total and beyond["empty"]
    page = await reads.programs_page(
        Reader(session=session), Totals(0), ANONYMOUS, PageParams(2, 7)
    )
    assert json.loads(page)["page_number"] == 2


async def test_big_totals_are_kept_briefly_and_dropped_by_a_write() -> None:
    counted = []

    async def count() -> int:
        counted.append(1)
        return 95_000

    totals = Totals(ttl_s=60)
    assert await totals.total("programs", count) == 95_000
    assert await totals.total("programs", count) == 95_000 and len(counted) == 1
    totals.clear()  # what a committed write of this process does (app.state.after_write)
    await totals.total("programs", count)
    assert len(counted) == 2

    async def small() -> int:
        counted.append(1)
        return 12

    await totals.total("one organization", small)
    await totals.total("one organization", small)
    assert len(counted) == 4  # small counts are cheap: always exact
    assert await Totals(ttl_s=0).total("programs", count) == 95_000


async def test_a_write_drops_the_kept_totals_of_its_process(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    app.state.totals._kept["stale"] = (float("inf"), 5_000)
    created = await client.post(
        "/programs",
        json={"name": "Chess club", "category": "out_of_school_time"},
        headers=callers.provider_a.headers,
    )
    assert created.status_code == 201, created.text
    assert "stale" not in app.state.totals._kept
