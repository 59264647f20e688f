"""Keeping indexes current: catalog triggers log changes in the writer's transaction; each
index follows the log from its own cursor, in commit order, and rebuilds when it must."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import orjson
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from service.auth.principal import ANONYMOUS, Principal
from service.auth.roles import Role
from service.catalog import reads
from service.catalog.enums import OrganizationType, ProgramStatus
from service.catalog.models import Location, Organization, Program
from service.errors import NotFound
from service.reader import Reader
from service.search import changelog
from service.search.document import SearchDocument
from service.search.engines import Searching
from service.search.follower import Follower, TableCursor
from service.search.models import SearchChange
from service.search.query import SearchQuery
from service.search.tantivy.engine import TantivyEngine
from service.search.text import load_synonyms
from tests.conftest import Callers, make_test_database
from tests.factories import create_location, create_program

Sessions = async_sessionmaker[AsyncSession]


async def _logged(session: AsyncSession) -> list[uuid.UUID | None]:
    return list(await session.scalars(select(SearchChange.program_id).order_by(SearchChange.id)))


async def test_catalog_writes_log_their_programs_in_the_same_transaction(
    client: httpx.AsyncClient, session: AsyncSession, callers: Callers
) -> None:
    provider = callers.provider_a
    location = await create_location(client, provider)
    program = await create_program(client, provider, location_ids=[location["id"]])
    pid = uuid.UUID(program["id"])
    assert pid in await _logged(session)

    for change in (
        update(Organization).where(Organization.id == provider.organization_id).values(name="N"),
        update(Location).where(Location.id == uuid.UUID(location["id"])).values(name="Annex"),
        text("DELETE FROM schedules WHERE program_id = :p").bindparams(p=pid),
    ):
        await session.execute(text("DELETE FROM search_changes"))
        await session.execute(change)
        assert set(await _logged(session)) == {pid}


# ---------------------------------------------------------------- followers, on committed data


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
        await session.execute(
            text("TRUNCATE search_changes, search_cursors, programs, organizations CASCADE")
        )
        await session.execute(text("UPDATE search_log_horizon SET trimmed_through = 0"))
    return sessions


async def _add_program(sessions: Sessions, name: str) -> uuid.UUID:
    async with sessions() as session, session.begin():
        return await _program_in(session, name)


async def _program_in(session: AsyncSession, name: str) -> uuid.UUID:
    org = Organization(type=OrganizationType.provider, name=f"Org of {name}")
    session.add(org)
    await session.flush()
    program = Program(organization_id=org.id, name=name, category="out_of_school_time")
    session.add(program)
    await session.flush()
    return program.id


async def _names(engine: TantivyEngine) -> list[str]:
    result = await engine.search(SearchQuery(per_page=100))
    return sorted(hit.name for hit in result.hits)


def _follower(sessions: Sessions, **options: Any) -> tuple[Follower, TantivyEngine]:
    engine = TantivyEngine(load_synonyms())
    return Follower(sessions, engine, name="test", **options), engine


@pytest.fixture(params=["in a session", "on the reads pool"])
async def reader(
    request: pytest.FixtureRequest, sync_database: str
) -> AsyncIterator[Reader | None]:
    """How a follower reads the log: in a session (the worker, tests' apps), or first on
    the reads pool, as an API process does (a session only when there is news)."""
    if request.param == "in a session":
        yield None
        return
    dsn = make_url(sync_database).set(drivername="postgresql")
    pool = await asyncpg.create_pool(
        dsn.render_as_string(hide_password=False), min_size=0, max_size=2
    )
    yield Reader(pool=pool)
    await pool.close()


async def test_a_follower_builds_then_applies_changes_and_removals(
    clean: Sessions, reader: Reader | None
) -> None:
    first = await _add_program(clean, "Robotics Club")
    follower, engine = _follower(clean, reader=reader)
    built = await follower.step()
    assert built.rebuilt == 1 and await _names(engine) == ["Robotics Club"]
    assert follower.state.cursor is not None and follower.state.built_at is not None

    await _add_program(clean, "Chess Club")
    async with clean() as session, session.begin():
        await session.execute(
            update(Program).where(Program.id == first).values(status=ProgramStatus.inactive)
        )
    step = await follower.step()
    assert step.programs == 2 and step.rebuilt is None
    assert await _names(engine) == ["Chess Club"]
    assert (await follower.step()).programs == 0  # nothing new


async def test_a_transaction_that_commits_late_is_not_skipped(
    clean: Sessions, reader: Reader | None
) -> None:
    """Cursors are snapshots, not row ids: a change logged before a later one but committed
    after the follower read the later one is still applied."""
    follower, engine = _follower(clean, reader=reader)
    await follower.step()
    async with clean() as slow:
        await slow.begin()
        await _program_in(slow, "Slow Starter")  # logged first, not yet committed
        await _add_program(clean, "Quick Finisher")  # logged and committed after it
        await follower.step()
        assert await _names(engine) == ["Quick Finisher"]
        await slow.commit()
    await follower.step()
    assert await _names(engine) == ["Quick Finisher", "Slow Starter"]


async def test_a_rebuild_request_or_a_trimmed_log_rebuilds(
    clean: Sessions, reader: Reader | None
) -> None:
    follower, engine = _follower(clean, reader=reader)
    await follower.step()
    async with clean() as session, session.begin():
        await changelog.request_rebuild(session)
    assert (await follower.step()).rebuilt == 0

    await _add_program(clean, "Missed")
    async with clean() as session, session.begin():  # the log is trimmed past the cursor
        await session.execute(
            text("UPDATE search_changes SET changed_at = now() - interval '9 days'")
        )
        assert await changelog.trim(session, timedelta(days=7)) >= 1
    step = await follower.step()
    assert step.rebuilt == 1 and await _names(engine) == ["Missed"]


async def test_many_changes_at_once_are_one_rebuild(clean: Sessions, reader: Reader | None) -> None:
    follower, engine = _follower(clean, rebuild_above=3, reader=reader)
    await follower.step()
    for n in range(5):
        await _add_program(clean, f"Program {n}")
    assert (await follower.step()).rebuilt == 5
    assert len(await _names(engine)) == 5


class Unreachable(TantivyEngine):
    """An engine whose server is down: every write raises."""

    async def apply(
        self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        raise ConnectionError("search server unreachable")


async def test_a_stored_cursor_survives_an_outage_and_one_follower_applies_at_a_time(
    clean: Sessions,
) -> None:
    """The worker's Meilisearch follower keeps its cursor in search_cursors: a failed step
    leaves it where it was (the change is applied when the server is back), and a second
    worker skips the step while the first holds the row."""
    up = TantivyEngine(load_synonyms())
    follower = Follower(clean, up, name="server", store=TableCursor("server"))
    await follower.step()
    await _add_program(clean, "During the outage")

    down = Follower(clean, Unreachable(load_synonyms()), name="server", store=TableCursor("server"))
    with pytest.raises(ConnectionError):
        await down.step()
    async with clean() as session:
        cursor = await session.scalar(text("SELECT snapshot FROM search_cursors"))
        assert (await changelog.lag(session, cursor)).pending == 1

    async with clean() as holder:  # another worker holds the cursor's row
        await holder.execute(text("SELECT 1 FROM search_cursors FOR UPDATE"))
        assert (await follower.step()).skipped
        await holder.rollback()
    assert (await follower.step()).programs == 1
    assert await _names(up) == ["During the outage"]


async def test_the_follower_loop_keeps_going_until_stopped(clean: Sessions) -> None:
    follower, engine = _follower(clean, poll_s=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    try:
        await _add_program(clean, "Loop")
        for _ in range(100):
            if await _names(engine) == ["Loop"]:
                break
            await asyncio.sleep(0.05)
        assert await _names(engine) == ["Loop"]
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)


async def test_search_status_shows_the_index_lag_to_admins_only(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    await create_program(client, callers.provider_a, name="Status Check")
    response = await client.get("/search/status", headers=callers.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "tantivy" and body["follower"]["followed_by"].startswith("this API")
    assert set(body["follower"]) >= {"pending_changes", "oldest_pending_seconds", "built_at"}
    # The writing process reads its own write in its next search.
    search = await client.get("/search/programs", params={"q": "status check"})
    assert search.status_code == 200, search.text
    assert search.json()["total_items"] == 1
    anonymous = await client.get("/search/status")
    provider = await client.get("/search/status", headers=callers.provider_a.headers)
    assert (anonymous.status_code, provider.status_code) == (401, 403)


async def test_search_refuses_an_invalid_key(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/search/programs", headers={"Authorization": "Bearer yl_00000000_nope"}
    )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_applying_the_same_changes_again_changes_nothing(clean: Sessions) -> None:
    for name in ("Art Club", "Chess Club"):
        await _add_program(clean, name)
    follower, engine = _follower(clean)
    await follower.step()
    before = await engine.search(SearchQuery(per_page=100))
    async with clean() as session, session.begin():
        await session.execute(
            text("INSERT INTO search_changes (program_id) SELECT id FROM programs")
        )
    assert (await follower.step()).programs == 2
    after = await engine.search(SearchQuery(per_page=100))
    assert [(h.program_id, h.fixed) for h in after.hits] == [
        (h.program_id, h.fixed) for h in before.hits
    ]
    assert (await engine.stats()).documents == 2


async def test_a_program_without_a_description_is_found_with_an_empty_one(
    client: httpx.AsyncClient, callers: Callers
) -> None:
    """An empty text is not stored in the embedded index; the hit said "None" (a family
    read it in the widget) until the engine read it back as empty."""
    await create_program(client, callers.provider_a, name="Quiet Reading Hour", description="")
    found = await client.get("/search/programs", params={"q": "quiet reading"})
    assert found.status_code == 200, found.text
    (hit,) = found.json()["contents"]
    assert (hit["name"], hit["description"]) == ("Quiet Reading Hour", "")


async def test_a_hit_read_again_after_a_change_shows_the_change(clean: Sessions) -> None:
    """Each searcher keeps the stored documents it read (tantivy/engine.py _Live.document):
    a change makes a new searcher, so a page read before it never comes back stale."""
    program = await _add_program(clean, "Robotics Club")
    follower, engine = _follower(clean)
    await follower.step()
    for _ in range(2):  # the second read is served from the kept document
        assert await _names(engine) == ["Robotics Club"]
    kept = engine._live.documents
    assert len(kept) == 1
    async with clean() as session, session.begin():
        await session.execute(
            update(Program).where(Program.id == program).values(name="Chess Club")
        )
    await follower.step()
    assert await _names(engine) == ["Chess Club"]
    assert engine._live.documents is not kept  # the new searcher's own, never the old


async def test_anonymous_program_reads_follow_the_index_and_keyed_reads_do_not(
    clean: Sessions, sync_database: str
) -> None:
    """catalog/program_cache.py: kept public documents are forgotten by the step that
    applies their change, and a read with a key always reads PostgreSQL."""
    program = await _add_program(clean, "Robotics Club")
    follower, engine = _follower(clean)
    kept = Searching(engine, follower, None).program_cache(16)
    assert kept is not None
    reader = Reader(sessions=clean)
    assert not await kept.current()  # nothing is served before the first build
    await follower.step()

    async def name(principal: Principal) -> str:
        body, _ = await reads.program(reader, principal, program, kept)
        return str(orjson.loads(body)["name"])

    assert await name(ANONYMOUS) == "Robotics Club"
    assert len(kept) == 1
    async with clean() as session, session.begin():  # another process's edit
        await session.execute(
            update(Program).where(Program.id == program).values(name="Chess Club")
        )
    assert await name(ANONYMOUS) == "Robotics Club"  # until this process's index steps
    admin = Principal(role=Role.admin, key_id=uuid.uuid4())
    assert await name(admin) == "Chess Club"
    await follower.step()
    assert len(kept) == 0
    assert await name(ANONYMOUS) == "Chess Club"
    follower.mark_stale()  # a catalog write of this process: the next read catches up
    async with clean() as session, session.begin():
        await session.execute(
            update(Program).where(Program.id == program).values(status=ProgramStatus.inactive)
        )
    with pytest.raises(NotFound):
        await name(ANONYMOUS)
