"""A program is served as its stored document (migration 0011, catalog/documents.py): the
ProgramOut JSON PostgreSQL writes when the program or anything it shows changes. It must
be exactly what ProgramOut of the ORM objects gives, program by program, over the whole
sample catalog and the edge cases, and it must follow every kind of change."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog import documents, reads
from service.catalog.models import Program, Taxonomy, TaxonomyTerm
from service.catalog.repository import PROGRAM_LOADS
from service.catalog.seed import load_seed_file
from service.catalog.views import program_out
from service.reader import Reader
from service.settings import get_settings
from tests.conftest import Callers
from tests.factories import create_location, create_program

EDGE_AREA = {  # one corner with every digit a double holds: it must read back exactly
    "type": "Polygon",
    "coordinates": [
        [
            [-73.45, 41.10],
            [-73.40, 41.10],
            [-73.41234567890123, 41.123456789012344],
            [-73.45, 41.10],
        ]
    ],
}


async def _served(session: AsyncSession) -> list[dict[str, Any]]:
    """Every program as the list statement serves it (admins see all)."""
    compiled = reads.PROGRAMS(scope.shape(Principal(role=Role.admin)))
    rows = await Reader(session=session).fetch(compiled, offset=0, limit=1000)
    return list(json.loads(reads.programs_json(rows)))


async def _modelled(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Every program as ProgramOut of its ORM objects, by id."""
    session.expire_all()
    programs = await session.scalars(select(Program).options(*PROGRAM_LOADS))
    return {str(p.id): program_out(p).model_dump(mode="json") for p in programs}


async def _document(session: AsyncSession, program_id: str) -> dict[str, Any]:
    body = await session.scalar(
        text("SELECT body FROM program_documents WHERE program_id = :id"),
        {"id": uuid.UUID(program_id)},
    )
    assert body is not None, "no stored document"
    return dict(json.loads(body))


async def test_every_stored_document_is_programout_exactly(
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
        schedules=[{"byday": ["TU"], "opens_at": "15:30:45", "closes_at": "17:00"}],
        service_area=EDGE_AREA,
        min_age=None,
        max_age=None,
        min_grade=None,
        max_grade=None,
        translations={},
    )
    await create_program(client, callers.provider_a, name="Edge: a closed one", status="inactive")
    await create_program(
        client,
        callers.provider_a,
        name="Edge: paid, pre-K to 12",
        min_grade="PK",
        max_grade="12",
        cost_options=[{"amount": 25.5, "period": "week", "description": "Sliding"}],
    )
    served = await _served(session)
    modelled = await _modelled(session)
    assert len(served) >= 100 and len(served) == len(modelled)
    for document in served:
        assert document == modelled[document["id"]], document["name"]
    times = [s["opens_at"] for p in served for s in p["schedules"]]
    assert "15:30:45" in times and "15:00" in times  # seconds only where there are some


async def test_a_program_without_a_stored_document_is_written_on_read(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    made = await create_program(client, callers.provider_a, name="Not stored")
    await session.execute(
        text("DELETE FROM program_documents WHERE program_id = :id"), {"id": made["id"]}
    )
    await session.commit()
    response = await client.get(f"/programs/{made['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == made


async def test_the_document_follows_every_change_to_what_it_shows(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    a = callers.provider_a
    site = await create_location(client, a)
    made = await create_program(client, a, name="Followed", location_ids=[site["id"]])
    pid = made["id"]

    patched = await client.patch(
        f"/programs/{pid}",
        json={"schedules": [{"byday": ["FR"], "opens_at": "09:00", "closes_at": "10:00"}]},
        headers=a.headers,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["schedules"][0]["byday"] == ["FR"]
    assert (await _document(session, pid)) == (await _modelled(session))[pid]

    moved = await client.put(
        f"/locations/{site['id']}",
        json={"name": "New site", "latitude": 41.1, "longitude": -73.42},
        headers=a.headers,
    )
    assert moved.status_code == 200, moved.text
    [listed] = (await _document(session, pid))["locations"]
    assert listed["name"] == "New site" and listed["version"] == moved.json()["version"]

    taxonomy = Taxonomy(name="Documents taxonomy")
    session.add(taxonomy)
    await session.flush()
    term = TaxonomyTerm(taxonomy_id=taxonomy.id, code="doc-chess", name="Chess")
    session.add(term)
    await session.commit()
    tagged = await client.patch(
        f"/programs/{pid}", json={"taxonomy_terms": ["doc-chess"]}, headers=a.headers
    )
    assert tagged.status_code == 200, tagged.text
    await session.execute(  # a term renamed shows in every program that carries it
        update(TaxonomyTerm).where(TaxonomyTerm.id == term.id).values(name="Renamed")
    )
    assert (await _document(session, pid))["taxonomy_terms"][0]["name"] == "Renamed"

    gone = await client.delete(f"/locations/{site['id']}", headers=a.headers)
    assert gone.status_code == 204, gone.text
    assert (await _document(session, pid))["locations"] == []

    await session.execute(
        update(Program).where(Program.id == uuid.UUID(pid)).values(seats_available=3)
    )
    document = await _document(session, pid)
    assert document["seats_available"] == 3
    assert document == (await _modelled(session))[pid]


async def test_a_deferred_bulk_load_writes_every_document_at_its_end(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    made = await create_program(client, callers.provider_a, name="Before the load")
    await documents.defer(session)
    await session.execute(
        update(Program).where(Program.id == uuid.UUID(made["id"])).values(name="Loaded")
    )
    assert (await _document(session, made["id"]))["name"] == "Before the load"
    await documents.write_all(session)
    assert (await _document(session, made["id"]))["name"] == "Loaded"
    await session.execute(  # the triggers are back for the rest of the transaction
        update(Program).where(Program.id == uuid.UUID(made["id"])).values(name="After")
    )
    assert (await _document(session, made["id"]))["name"] == "After"


async def test_a_deleted_program_takes_its_document_with_it(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    made = await create_program(client, callers.provider_a, name="Short-lived")
    gone = await client.delete(f"/programs/{made['id']}", headers=callers.provider_a.headers)
    assert gone.status_code == 204, gone.text
    left = await session.scalar(
        text("SELECT count(*) FROM program_documents WHERE program_id = :id"), {"id": made["id"]}
    )
    assert left == 0


async def test_the_list_answers_the_same_json_through_the_api(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    made = await create_program(client, callers.provider_a, name="Listed")
    response = await client.get("/programs", params={"per_page": 50})
    assert response.status_code == 200, response.text
    listed = response.json()["contents"]
    assert next(p for p in listed if p["id"] == made["id"]) == made
