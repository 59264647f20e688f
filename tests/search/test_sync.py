"""Index sync: catalog triggers fill the outbox; the worker drains it without losing rows."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.catalog.enums import OrganizationType, ProgramStatus
from service.catalog.models import Location, Organization, Program
from service.search import sync
from service.search.document import SearchDocument
from service.search.models import SearchDocumentRow, SearchOutbox, SearchTextRow
from service.search.pg_backend import PostgresBackend
from service.search.text import load_synonyms
from tests.conftest import Callers, make_test_database
from tests.factories import create_location, create_program

Sessions = async_sessionmaker[AsyncSession]


async def _outbox(session: AsyncSession) -> list[uuid.UUID]:
    return list(await session.scalars(select(SearchOutbox.program_id).order_by(SearchOutbox.id)))


async def test_catalog_writes_enqueue_their_programs_in_the_same_transaction(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    provider = callers.provider_a
    location = await create_location(client, provider)
    program = await create_program(client, provider, location_ids=[location["id"]])
    pid = uuid.UUID(program["id"])
    assert pid in await _outbox(session)

    await session.execute(text("DELETE FROM search_outbox"))
    await session.execute(
        update(Organization).where(Organization.id == provider.organization_id).values(name="New")
    )
    assert await _outbox(session) == [pid]

    await session.execute(text("DELETE FROM search_outbox"))
    await session.execute(
        update(Location).where(Location.id == uuid.UUID(location["id"])).values(name="Annex")
    )
    assert await _outbox(session) == [pid]

    await session.execute(text("DELETE FROM search_outbox"))
    await session.execute(text("DELETE FROM schedules WHERE program_id = :p"), {"p": pid})
    assert set(await _outbox(session)) == {pid}


async def test_refresh_indexes_active_programs_and_removes_the_rest(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    backend = PostgresBackend(load_synonyms())
    program = await create_program(client, callers.provider_a)
    pid = uuid.UUID(program["id"])
    assert await sync.refresh(session, backend, [pid]) == (1, 0)
    doc = await session.get(SearchDocumentRow, pid)
    shown = await session.get(SearchTextRow, pid)
    assert doc is not None and doc.cost_band == "free"
    assert shown is not None and shown.name == program["name"]

    await session.execute(
        update(Program).where(Program.id == pid).values(status=ProgramStatus.inactive)
    )
    assert await sync.refresh(session, backend, [pid]) == (0, 1)
    session.expunge_all()
    assert await session.get(SearchDocumentRow, pid) is None


# ---------------------------------------------------------------- the worker, on committed data


@pytest.fixture(scope="session")
def sync_database(worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_sync")


@pytest.fixture(scope="session")
async def sessions(sync_database: str) -> AsyncIterator[Sessions]:
    engine = create_async_engine(sync_database, poolclass=NullPool)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
async def clean(sessions: Sessions) -> Sessions:
    async with sessions() as session, session.begin():
        await session.execute(text("TRUNCATE search_outbox, search_documents, programs CASCADE"))
    return sessions


async def _add_program(sessions: Sessions, name: str) -> uuid.UUID:
    async with sessions() as session, session.begin():
        org = Organization(type=OrganizationType.provider, name=f"Org of {name}")
        session.add(org)
        await session.flush()
        program = Program(organization_id=org.id, name=name, category="out_of_school_time")
        session.add(program)
        await session.flush()
        return program.id


async def _count(sessions: Sessions, model: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


class DownServer(PostgresBackend):
    """A backend whose server is unreachable: apply always raises."""

    async def apply(
        self, session: AsyncSession, documents: Sequence[SearchDocument], removed: Any
    ) -> None:
        raise ConnectionError("search server unreachable")


async def test_worker_applies_due_rows_and_deletes_them(clean: Sessions) -> None:
    backend = PostgresBackend(load_synonyms())
    first = await _add_program(clean, "Robotics Club")
    await _add_program(clean, "Chess Club")
    done = await sync.drain(clean, backend)
    assert (done.upserted, done.failed) == (2, False)
    assert await _count(clean, SearchOutbox) == 0
    assert await _count(clean, SearchDocumentRow) == 2

    async with clean() as session, session.begin():
        await session.execute(delete_program(first))
    done = await sync.drain(clean, backend)
    assert done.removed == 1 and await _count(clean, SearchDocumentRow) == 1


def delete_program(pid: uuid.UUID) -> Any:
    return text("DELETE FROM programs WHERE id = :p").bindparams(p=pid)


async def test_rows_survive_a_search_outage_and_catch_up_after(clean: Sessions) -> None:
    await _add_program(clean, "Robotics Club")
    down = await sync.drain_once(clean, DownServer(load_synonyms()))
    assert down.failed and await _count(clean, SearchOutbox) == 1
    async with clean() as session:
        row = (await session.execute(select(SearchOutbox))).scalar_one()
        lag = await sync.lag(session)
        due_in = await session.scalar(select(SearchOutbox.available_at - func.now()))
    assert row.attempts == 1 and "unreachable" in (row.last_error or "")
    assert lag.pending == 1 and lag.retrying == 1 and "unreachable" in (lag.last_error or "")
    assert due_in is not None and due_in.total_seconds() > 1  # backing off
    assert (await sync.drain_once(clean, PostgresBackend(load_synonyms()))).rows == 0  # not due

    async with clean() as session, session.begin():  # time passes
        await session.execute(update(SearchOutbox).values(available_at=func.now()))
    back = await sync.drain(clean, PostgresBackend(load_synonyms()))
    assert back.upserted == 1 and await _count(clean, SearchOutbox) == 0


async def test_two_workers_never_take_the_same_rows(clean: Sessions) -> None:
    for n in range(30):
        await _add_program(clean, f"Program {n}")
    backend = PostgresBackend(load_synonyms())
    results = await asyncio.gather(
        sync.drain_once(clean, backend, batch_size=20),
        sync.drain_once(clean, backend, batch_size=20),
    )
    assert sum(r.rows for r in results) == 30 and all(r.rows for r in results)
    assert await _count(clean, SearchDocumentRow) == 30


async def test_the_worker_loop_keeps_going_until_stopped(clean: Sessions) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(
        sync.run_worker(clean, PostgresBackend(load_synonyms()), poll_s=0.05, stop=stop)
    )
    try:
        pid = await _add_program(clean, "Late Arrival")
        for _ in range(100):
            async with clean() as session:
                if await session.get(SearchDocumentRow, pid):
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the worker did not index the new program")
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_reindex_rebuilds_everything_and_pauses_the_worker(clean: Sessions) -> None:
    backend = PostgresBackend(load_synonyms())
    for n in range(5):
        await _add_program(clean, f"Program {n}")
    done = await sync.reindex(clean, backend, batch_size=2)
    assert done.documents == 5 and done.parked_rows == 5
    assert await _count(clean, SearchOutbox) == 0
    assert await _count(clean, SearchDocumentRow) == 5

    async with clean() as session, session.begin():  # a change whose outbox row was lost
        await session.execute(
            update(Program).where(Program.name == "Program 0").values(status="inactive")
        )
        await session.execute(text("DELETE FROM search_outbox"))
    assert (await sync.reindex(clean, backend)).documents == 4
    assert await _count(clean, SearchDocumentRow) == 4

    async with clean() as holder:  # while a reindex holds the lock, the worker waits
        conn = await holder.connection()
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": sync.LOCK_KEY})
        await _add_program(clean, "Written during a reindex")
        assert (await sync.drain_once(clean, backend)).rows == 0
        await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": sync.LOCK_KEY})
    assert (await sync.drain(clean, backend)).upserted == 1


async def test_search_status_shows_outbox_lag_to_admins_only(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    await create_program(client, callers.provider_a)
    response = await client.get("/search/status", headers=callers.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["backend"] == "postgres" and body["outbox"]["pending"] >= 1
    assert body["outbox"]["oldest_age_seconds"] is not None
    anonymous = await client.get("/search/status")
    provider = await client.get("/search/status", headers=callers.provider_a.headers)
    assert (anonymous.status_code, provider.status_code) == (401, 403)


async def test_search_refuses_an_invalid_key(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/search/programs", headers={"Authorization": "Bearer yl_00000000_nope"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
