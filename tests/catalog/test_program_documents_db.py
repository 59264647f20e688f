"""Stored program documents (migration 0011) with real connections and commits, on a
database of their own (the usual test transaction would hide what is tested here).

Two transactions change one program at once, through different tables: the document
must end holding both changes (the second writer's trigger waits on the document's lock
until the first commits, then builds the document in a new statement that sees the
first writer's change). A bulk load writes every document at its end, on fresh planner
statistics (planned on the row counts from before the load, 100,000 documents took over
13 minutes)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from service.catalog import synthetic
from tests.conftest import make_test_database


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def dsn(worker_id_safe: str) -> str:
    return _dsn(make_test_database(f"{worker_id_safe}_documents"))


async def _document(conn: asyncpg.Connection, program_id: object) -> dict[str, object]:
    body = await conn.fetchval(
        "SELECT body FROM program_documents WHERE program_id = $1", program_id
    )
    return dict(json.loads(body))


async def test_concurrent_writers_of_one_program_both_show(dsn: str) -> None:
    setup = await asyncpg.connect(dsn)
    first = await asyncpg.connect(dsn)
    second = await asyncpg.connect(dsn)
    try:
        async with setup.transaction():
            await synthetic.generate(setup, 20, seed=3)
        program_id, location_id = await setup.fetchrow(
            "SELECT p.id, pl.location_id FROM programs p "
            "JOIN program_locations pl ON pl.program_id = p.id "
            "JOIN schedules s ON s.program_id = p.id LIMIT 1"
        )

        one = first.transaction()
        await one.start()
        await first.execute(  # the first writer: a schedule's description
            "UPDATE schedules SET description = 'first writer' WHERE program_id = $1",
            program_id,
        )
        two = second.transaction()
        await two.start()
        waiting = asyncio.create_task(  # the second: the name of a location it is held at
            second.execute("UPDATE locations SET name = 'second writer' WHERE id = $1", location_id)
        )
        await asyncio.sleep(0.5)
        assert not waiting.done(), "the second writer did not wait for the document's lock"
        await one.commit()
        await asyncio.wait_for(waiting, 10)
        await two.commit()

        document = await _document(setup, program_id)
        assert {s["description"] for s in document["schedules"]} == {"first writer"}
        assert "second writer" in {site["name"] for site in document["locations"]}
    finally:
        for conn in (setup, first, second):
            await conn.close()


async def test_a_bulk_load_writes_every_document_on_fresh_statistics(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("TRUNCATE organizations, taxonomies, search_changes CASCADE")
            await conn.execute("ANALYZE programs")  # the planner now counts no programs
            made = await synthetic.generate(conn, 300, seed=5)
            counted = await conn.fetchval(
                "SELECT reltuples FROM pg_class WHERE relname = 'programs'"
            )
            assert counted >= made.programs  # analyzed before the documents were built
        missing = await conn.fetchval(
            "SELECT count(*) FROM programs p WHERE NOT EXISTS "
            "(SELECT 1 FROM program_documents d WHERE d.program_id = p.id)"
        )
        assert made.programs == 300 and missing == 0
    finally:
        await conn.close()
