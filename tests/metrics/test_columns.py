"""The shared columns follow committed writes: changed rows are applied, a deletion reloads,
an uncommitted write stays out until it commits, and every answer equals the SQL.

These tests commit, so they use a database of their own (<prefix>_<worker>_metrics_columns).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.catalog import synthetic as catalog
from service.db import utcnow
from service.geo.service import load_directory
from service.local_time import today, zone
from service.metrics import columns, release
from service.metrics.dimensions import Dimension
from service.metrics.periods import school_year_of
from service.metrics.scope import Scope
from service.referrals import synthetic
from service.settings import Settings
from tests.conftest import geodata_dir, make_test_database
from tests.metrics.test_tabulate import _assert_same, _both

PAIRS = [
    [Dimension.gender, Dimension.school],
    [Dimension.program_category, Dimension.month],
    [Dimension.zip, Dimension.race_ethnicity],
    [Dimension.provider, Dimension.grade_band],
]


@pytest.fixture(scope="module")
def own_url(settings: Settings, worker_id_safe: str) -> str:
    return make_test_database(f"{worker_id_safe}_metrics_columns")


@pytest.fixture(scope="module")
async def own_engine(own_url: str, settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(own_url, poolclass=NullPool)
    async with AsyncSession(engine) as session, session.begin():
        await load_directory(session, geodata_dir(settings))
    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        async with raw.transaction():
            await catalog.generate(raw, 80, seed=8)
            await synthetic.generate(raw, 2500, seed=4)
        await connection.commit()
    yield engine
    await engine.dispose()


async def _raw(engine: AsyncEngine) -> asyncpg.Connection:
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    return await asyncpg.connect(url.set(drivername="postgresql").render_as_string(False))


async def _check(engine: AsyncEngine, expect: str) -> None:
    """A reading request: how it got its columns, and that every pair equals the SQL."""
    scope = Scope(start=today() - timedelta(days=365), end=today())
    async with AsyncSession(engine) as session:
        loaded = await columns.current(session)
        assert loaded.how == expect
        now = utcnow()
        for dimensions in PAIRS:
            new, old = await _both(session, dimensions, scope, now)
            _assert_same(new, old, f"{expect}: {dimensions}")


async def test_committed_writes_are_applied_as_changes(own_engine: AsyncEngine) -> None:
    columns.forget()
    await _check(own_engine, "full")
    await _check(own_engine, "current")
    writer = await _raw(own_engine)
    try:
        await writer.execute(
            "UPDATE referrals SET status = 'declined', responded_at = sent_at + interval"
            " '2 days', closed_at = sent_at + interval '2 days'"
            " WHERE id IN (SELECT id FROM referrals WHERE status = 'received' LIMIT 30)"
        )
        await _check(own_engine, "changes")
        await _check(own_engine, "current")
        async with writer.transaction():  # new schools, students and referrals
            await synthetic.generate(writer, 300, seed=5)
        await writer.execute(
            "UPDATE students SET gender = NULL, races = ARRAY['asian', 'white'],"
            " hispanic_latino = NULL, home_tract = NULL, grade = 11"
            " WHERE id IN (SELECT id FROM students ORDER BY id LIMIT 50)"
        )
        await writer.execute(
            "UPDATE programs SET category = CASE category WHEN 'early_childhood'"
            " THEN 'family_support' ELSE 'early_childhood' END WHERE id IN (SELECT program_id"
            " FROM referrals GROUP BY program_id ORDER BY count(*) DESC LIMIT 2)"
        )
        await _check(own_engine, "changes")
    finally:
        await writer.close()


async def test_an_open_transaction_is_picked_up_when_it_commits(own_engine: AsyncEngine) -> None:
    await _check(own_engine, "full" if columns._held is None else "current")
    slow, other = await _raw(own_engine), await _raw(own_engine)
    try:
        slow_tx = slow.transaction()
        await slow_tx.start()
        await slow.execute(
            "UPDATE referrals SET enrolled_at = sent_at + interval '9 days 3 hours',"
            " contacted_at = sent_at + interval '5 days', status = 'enrolled'"
            " WHERE id IN (SELECT id FROM referrals WHERE status = 'accepted' LIMIT 25)"
        )
        # Another writer commits meanwhile: the reader applies it, not the open one.
        await other.execute(
            "UPDATE students SET home_language = 'pt' WHERE id IN"
            " (SELECT id FROM students ORDER BY id DESC LIMIT 20)"
        )
        await _check(own_engine, "changes")
        await slow_tx.commit()
        await _check(own_engine, "changes")
        await _check(own_engine, "current")
    finally:
        await slow.close()
        await other.close()


async def test_a_deletion_reads_everything_again(own_engine: AsyncEngine) -> None:
    await _check(own_engine, "full" if columns._held is None else "current")
    writer = await _raw(own_engine)
    try:
        await writer.execute(
            "DELETE FROM referrals WHERE id IN (SELECT id FROM referrals ORDER BY id LIMIT 7)"
        )
    finally:
        await writer.close()
    await _check(own_engine, "full")
    await _check(own_engine, "current")


async def test_an_update_that_changes_nothing_is_no_change(own_engine: AsyncEngine) -> None:
    await _check(own_engine, "full" if columns._held is None else "current")
    async with AsyncSession(own_engine) as session, session.begin():
        await session.execute(text("UPDATE students SET preferred_language = 'fr'"))
        await session.execute(text("UPDATE referrals SET need_text = 'x' WHERE true"))
    await _check(own_engine, "current")


async def test_releases_follow_the_cells_referrals_are_in(own_engine: AsyncEngine) -> None:
    """A release's suppression pattern depends on which cell each referral is in: a
    referral moving on in its loop keeps it, a referral sent on another day gets a new
    one (the per-student arrays stay either way), never a stale pattern."""
    context = release.Context(zone(), utcnow(), {}, school_year_of(today()), 10)
    columns.forget()
    async with AsyncSession(own_engine) as session:
        before = release.release((await columns.current(session)).columns, context, _GENDER)
    for change, same in (
        ("contact_due_at = contact_due_at + interval '1 microsecond'", True),
        ("sent_at = sent_at - interval '1 day'", False),
    ):
        writer = await _raw(own_engine)
        try:
            await writer.execute(
                f"UPDATE referrals SET {change} "
                "WHERE id = (SELECT id FROM referrals ORDER BY id LIMIT 1)"
            )
        finally:
            await writer.close()
        async with AsyncSession(own_engine) as session:
            loaded = await columns.current(session)
            assert loaded.how == "changes"
            after = release.release(loaded.columns, context, _GENDER)
            assert (after is before) == same, change
            before = after


_GENDER = (Dimension.gender,)
