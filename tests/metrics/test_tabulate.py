"""The columnar tabulation gives exactly the numbers of the GROUPING SETS statement it
replaced (tests/metrics/reference_sql.py), for every grouping, filter and measure, and
sees every write at once."""

from __future__ import annotations

import itertools
from datetime import datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog import synthetic as catalog
from service.db import utcnow
from service.local_time import today, zone
from service.metrics import columns, tabulate
from service.metrics.dimensions import TRACT_ZIP, Dimension
from service.metrics.scope import Scope
from service.referrals import synthetic
from tests.metrics import reference_sql


async def _seed(session: AsyncSession, referrals: int = 3000) -> None:
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    await catalog.generate(raw, 120, seed=5)
    await synthetic.generate(raw, referrals, seed=11)


def _window(scope: Scope) -> tuple[datetime, datetime]:
    tz = zone()
    start = datetime.combine(scope.start, time(0), tz)
    return start, datetime.combine(scope.end + timedelta(days=1), time(0), tz)


async def _both(
    session: AsyncSession, dimensions: list[Dimension], scope: Scope, now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    start, stop = _window(scope)
    loaded = await columns.current(session)
    zips = None
    if Dimension.zip in dimensions:
        zips = {row.tract: row.zip for row in await session.execute(text(TRACT_ZIP))}
    new = tabulate.tabulate(
        loaded.columns, dimensions, scope, now=now, start=start, stop=stop, tz=zone(), zips=zips
    )
    old = await reference_sql.run(
        session, dimensions, scope, now=now, start=start, stop=stop, tz=zone().key
    )
    return new, old


def _by_key(rows: list[dict[str, Any]]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {}
    for row in rows:
        key = (row.get("g0"), row.get("g1"))
        assert key not in out, key
        out[key] = {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in row.items()}
    return out


def _assert_same(new: list[dict[str, Any]], old: list[dict[str, Any]], label: str) -> None:
    a, b = _by_key(new), _by_key(old)
    assert a.keys() == b.keys(), label
    for key in b:
        # Exact: the same counts and the same float percentiles, bit for bit.
        assert a[key] == b[key], (label, key, a[key], b[key])


DIMENSIONS = list(Dimension)


@pytest.fixture(autouse=True)
def _fresh_columns() -> None:
    columns.forget()


async def test_every_grouping_equals_the_sql(session: AsyncSession) -> None:
    await _seed(session)
    counts = (
        await session.execute(
            text(
                "SELECT (SELECT count(*) FROM referrals), (SELECT count(*) FROM referral_facts),"
                " (SELECT count(*) FROM students), (SELECT count(*) FROM metrics_students)"
            )
        )
    ).one()
    assert counts[0] == counts[1] == 3000 and counts[2] == counts[3]  # seed-referrals fills both
    now = utcnow()
    scope = Scope(start=today() - timedelta(days=365), end=today())
    groupings: list[list[Dimension]] = [[]]
    groupings += [[d] for d in DIMENSIONS]
    groupings += [list(pair) for pair in itertools.permutations(DIMENSIONS, 2)]
    for dimensions in groupings:
        new, old = await _both(session, dimensions, scope, now)
        _assert_same(new, old, str(dimensions))


async def test_filters_and_periods_equal_the_sql(session: AsyncSession) -> None:
    await _seed(session)
    now = utcnow()
    pick = (
        await session.execute(
            text(
                "SELECT r.provider_id, r.school_id, p.category FROM referrals r "
                "JOIN programs p ON p.id = r.program_id ORDER BY r.sent_at DESC LIMIT 1"
            )
        )
    ).one()
    days = today()
    scopes = [
        Scope(start=days - timedelta(days=730), end=days),
        Scope(start=days - timedelta(days=45), end=days - timedelta(days=3)),
        Scope(start=days - timedelta(days=365), end=days, program_category=pick.category),
        Scope(start=days - timedelta(days=365), end=days, provider_id=pick.provider_id),
        Scope(start=days - timedelta(days=365), end=days, only_school=pick.school_id),
        Scope(
            start=days - timedelta(days=365),
            end=days,
            only_school=pick.school_id,
            school_id=pick.provider_id,  # another organization's: nothing
        ),
        Scope(start=days - timedelta(days=365), end=days, program_category="no_such"),
        Scope(start=days + timedelta(days=1), end=days + timedelta(days=2)),  # no referral
    ]
    for scope in scopes:
        for dimensions in ([], [Dimension.month, Dimension.provider], [Dimension.zip]):
            new, old = await _both(session, dimensions, scope, now)
            _assert_same(new, old, f"{scope} {dimensions}")


async def test_writes_are_seen_by_the_next_request(session: AsyncSession) -> None:
    await _seed(session, referrals=1500)
    now = utcnow()
    scope = Scope(start=today() - timedelta(days=365), end=today())
    pairs = [
        [Dimension.gender, Dimension.race_ethnicity],
        [Dimension.program_category, Dimension.tract],
        [Dimension.zip, Dimension.grade_band],
    ]
    first, _ = await _both(session, pairs[0], scope, now)
    changes = [
        # a referral moves on (the referral trigger)
        "UPDATE referrals SET status = 'declined', responded_at = sent_at + interval '1 day',"
        " closed_at = sent_at + interval '1 day' WHERE id IN (SELECT id FROM referrals"
        " WHERE status = 'received' ORDER BY id LIMIT 40)",
        # students' answers change (the student trigger)
        "UPDATE students SET gender = NULL, races = ARRAY['asian', 'white'],"
        " hispanic_latino = false, home_tract = NULL, grade = 0"
        " WHERE id IN (SELECT id FROM students ORDER BY id LIMIT 60)",
        # a program changes category (the program trigger)
        "UPDATE programs SET category = CASE category WHEN 'early_childhood'"
        " THEN 'family_support' ELSE 'early_childhood' END WHERE id IN (SELECT program_id"
        " FROM referrals GROUP BY program_id ORDER BY count(*) DESC LIMIT 3)",
        # a referral goes away
        "DELETE FROM referrals WHERE id IN (SELECT id FROM referrals ORDER BY id LIMIT 5)",
    ]
    for change in changes:
        await session.execute(text(change))
        for dimensions in pairs:
            new, old = await _both(session, dimensions, scope, now)
            _assert_same(new, old, f"after {change[:40]}: {dimensions}")
    again, _ = await _both(session, pairs[0], scope, now)
    assert _by_key(again) != _by_key(first)


async def test_a_writing_transaction_reads_its_own_copy(session: AsyncSession) -> None:
    await _seed(session, referrals=200)
    loaded = await columns.current(session)
    assert loaded.how == "private" and loaded.columns.snapshot is None


@pytest.mark.parametrize(
    "dimensions",
    [
        [],
        [Dimension.gender],
        [Dimension.provider],
        [Dimension.race_ethnicity, Dimension.tract],
        [Dimension.school, Dimension.grade_band],
        [Dimension.month, Dimension.home_language],
    ],
)
async def test_sizes_only_counts_the_same_students(
    session: AsyncSession, dimensions: list[Dimension]
) -> None:
    """What releases tabulate (referrals and students, the students of student
    dimensions counted without a sort) equals the full tabulation."""
    await _seed(session, referrals=1500)
    loaded = await columns.current(session)
    scope = Scope(start=today() - timedelta(days=700), end=today())
    start, stop = _window(scope)
    both = [
        tabulate.tabulate(
            loaded.columns, dimensions, scope, now=utcnow(), start=start, stop=stop,
            tz=zone(), sizes_only=sizes_only,
        )
        for sizes_only in (False, True)
    ]  # fmt: skip
    full, sizes = (
        {
            tuple(r[f"g{i}"] for i in range(len(dimensions))): (r["students"], r["referrals"])
            for r in rows
        }
        for rows in both
    )
    assert sizes == full
