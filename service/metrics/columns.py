"""The referral metrics' columns in memory, kept up to date by the rows that changed.

The process holds every referral_facts and metrics_students row as numpy arrays, as of a
PostgreSQL snapshot S. Every row records the transaction that last wrote it, so each
request asks, in its own transaction, for the rows whose writer S does not see: nothing
(the usual case: the arrays are current), a few rows (applied to a copy of the arrays, so
requests computing from the old ones are undisturbed), or a logged deletion (everything
is read again). No answer is computed from data older than what the request's own
transaction sees.

Reads happen in order: the new snapshot first, then the rows; a row committed in between
is taken now and again next time (applying a row twice is harmless). A transaction that
wrote metrics rows itself (tests do, inside a transaction they roll back) gets its own
full copy, never shared: rows that may still roll back never enter the shared arrays.
"""

from __future__ import annotations

import asyncio
import logging
import re
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
DAY_US = 86_400 * 1_000_000
DURATIONS = ("first_response", "contact", "enrollment")

Array = npt.NDArray[Any]

# name, PostgreSQL type: the columns of the COPY queries, in order.
FACT_FIELDS = [
    ("key", "int4"),
    ("student_key", "int4"),
    ("provider", "int4"),
    ("school", "int4"),
    ("category", "int4"),
    ("status", "int4"),
    ("sent_at", "int8"),  # timestamptz: microseconds since 2000-01-01 UTC
    ("closed_at", "int8"),  # 'infinity' when open: the int64 maximum
    ("response_due_at", "int8"),
    ("contact_due_at", "int8"),
    *[(f"days_to_{name}", "float8") for name in DURATIONS],
]
STUDENT_FIELDS = [
    ("key", "int4"),
    ("grade", "int2"),
    ("gender", "int4"),
    ("hispanic_latino", "int2"),
    ("race_count", "int2"),
    ("first_race", "int4"),
    ("home_language", "int4"),
    ("english_learner", "int2"),
    ("home_tract", "int4"),
]
_NATIVE = {"int2": np.int32, "int4": np.int32, "int8": np.int64, "float8": np.float64}
_WIRE = {"int2": ">i2", "int4": ">i4", "int8": ">i8", "float8": ">f8"}
_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_SNAPSHOT = re.compile(r"^(\d+):(\d+):([\d,]*)$")


def microseconds(moment: datetime) -> int:
    """A timestamptz as binary COPY carries it."""
    return (moment - PG_EPOCH) // MICROSECOND


def moment(microseconds_: int) -> datetime:
    """The inverse of microseconds()."""
    return PG_EPOCH + microseconds_ * MICROSECOND


def parse_binary_copy(data: bytes, fields: Sequence[tuple[str, str]]) -> dict[str, Array]:
    """The columns of a binary COPY whose columns are all fixed-width and NOT NULL."""
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a binary COPY")
    header = len(_SIGNATURE) + 8 + int.from_bytes(data[15:19], "big")
    layout: list[tuple[str, str]] = [("_fields", ">i2")]
    for name, pgtype in fields:
        layout += [(f"_{name}_length", ">i4"), (name, _WIRE[pgtype])]
    dtype = np.dtype(layout)
    body = len(data) - header - 2  # the trailer is a field count of -1
    if body % dtype.itemsize:
        raise ValueError("a row is not the expected width (a NULL or another type?)")
    rows = np.frombuffer(data, dtype=dtype, count=body // dtype.itemsize, offset=header)
    for name, _ in fields:
        if rows.size and (rows[f"_{name}_length"] != dtype[name].itemsize).any():
            raise ValueError(f"{name}: unexpected width")
    return {name: rows[name].astype(_NATIVE[pgtype]) for name, pgtype in fields}


@dataclass
class Columns:
    """Every referral and every student, as arrays (one position per row)."""

    source: tuple[Any, ...]  # which database
    snapshot: str | None  # every row committed as of it is here; None: a private copy
    facts: dict[str, Array]  # FACT_FIELDS, plus "student": position in `students`
    fact_position: Array  # fact key -> position, or -1
    by_days: dict[str, Array]  # positions with that duration, in ascending order of it
    students: dict[str, Array]  # STUDENT_FIELDS
    student_position: Array  # student key -> position, or -1
    kinds: dict[str, dict[int, str]]  # kind -> code -> text
    codes: dict[tuple[str, str], int]  # (kind, text) -> code
    cache: dict[Any, Any] = field(default_factory=dict)  # derived per-student arrays
    # What depends on every row (metrics/release.py): new with every change applied.
    releases: dict[Any, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return int(self.facts["key"].size)

    @property
    def code_limit(self) -> int:
        """Every code is below."""
        return max(self.codes.values(), default=0) + 1

    def code(self, kind: str, value: str) -> int | None:
        return self.codes.get((kind, value))

    def days(self, name: str) -> Array:
        return self.facts[f"days_to_{name}"]


def _positions(keys: Array) -> Array:
    """Key -> position in the arrays (-1: no such row)."""
    position = np.full(int(keys.max(initial=0)) + 1, -1, dtype=np.int32)
    position[keys] = np.arange(keys.size, dtype=np.int32)
    return position


def _student_of(facts: dict[str, Array], student_position: Array) -> Array:
    keys = facts["student_key"]
    if keys.size and (keys.max() >= student_position.size or (student_position[keys] < 0).any()):
        raise RuntimeError("a referral's student is missing from metrics_students")
    return student_position[keys]


def _order(values: Array) -> Array:
    present = np.flatnonzero(~np.isnan(values)).astype(np.int32)
    return present[np.argsort(values[present], kind="stable")]


def _codes(rows: Sequence[tuple[int, str, str]]) -> dict[str, Any]:
    kinds: dict[str, dict[int, str]] = {}
    for code, kind, value in rows:
        kinds.setdefault(kind, {})[code] = value
    return {"kinds": kinds, "codes": {(kind, value): code for code, kind, value in rows}}


def build(
    source: tuple[Any, ...],
    snapshot: str | None,
    facts: bytes,
    students: bytes,
    codes: Sequence[tuple[int, str, str]],
) -> Columns:
    """Columns from a full read."""
    f = parse_binary_copy(facts, FACT_FIELDS)
    s = parse_binary_copy(students, STUDENT_FIELDS)
    student_position = _positions(s["key"])
    f["student"] = _student_of(f, student_position)
    return Columns(
        source=source,
        snapshot=snapshot,
        facts=f,
        fact_position=_positions(f["key"]),
        by_days={name: _order(f[f"days_to_{name}"]) for name in DURATIONS},
        students=s,
        student_position=student_position,
        **_codes(codes),
    )


def _upsert(
    old: dict[str, Array], position: Array, new: dict[str, Array]
) -> tuple[dict[str, Array], Array, Array, Array]:
    """Copies of `old` with the rows of `new` replaced (same key) or appended; the new
    key -> position table, and the positions replaced and appended."""
    keys = new["key"]
    known = np.zeros(keys.size, dtype=bool)
    inside = keys < position.size
    known[inside] = position[keys[inside]] >= 0
    replaced = position[keys[known]].astype(np.int64)
    size = old["key"].size
    appended = np.arange(size, size + int((~known).sum()), dtype=np.int64)
    out = {}
    for name, column in old.items():
        if name not in new:
            continue
        if not appended.size and np.array_equal(
            column[replaced], new[name][known], equal_nan=column.dtype.kind == "f"
        ):
            out[name] = column  # unchanged: shared with the old columns, never written
            continue
        merged = np.concatenate([column, new[name][~known]])
        merged[replaced] = new[name][known]
        out[name] = merged
    grown = np.full(max(position.size, int(keys.max(initial=0)) + 1), -1, dtype=np.int32)
    grown[: position.size] = position
    grown[keys[~known]] = appended
    return out, grown, replaced, appended


# What places a referral in a cell of some table: a release (its suppression pattern)
# holds while none of it changes, as when a referral only moves on in its loop.
_PLACING = ("student_key", "provider", "school", "category", "sent_at")


def _same_cells(old: Columns, facts: dict[str, Array], students: dict[str, Array]) -> bool:
    """Every referral still in the same cell of every table: no student changed, no
    referral added, none with another student, provider, school, category or sent date
    (_upsert shares an unchanged column with the old columns)."""
    return not students["key"].size and all(facts[n] is old.facts[n] for n in _PLACING)


def apply(
    old: Columns,
    snapshot: str,
    facts: bytes,
    students: bytes,
    codes: Sequence[tuple[int, str, str]],
) -> Columns:
    """The columns with the rows that changed since `old.snapshot` (no deletion)."""
    f = parse_binary_copy(facts, FACT_FIELDS)
    s = parse_binary_copy(students, STUDENT_FIELDS)
    student_arrays, student_position = old.students, old.student_position
    if s["key"].size:
        student_arrays, student_position, _, _ = _upsert(old.students, old.student_position, s)
    f["student"] = _student_of(f, student_position)
    fact_arrays, fact_position, replaced, appended = _upsert(old.facts, old.fact_position, f)
    by_days = {}
    touched = np.concatenate([replaced, appended])
    for name in DURATIONS:
        values = fact_arrays[f"days_to_{name}"]
        if values is old.facts[f"days_to_{name}"]:
            by_days[name] = old.by_days[name]
            continue
        gone = np.zeros(values.size, dtype=bool)
        gone[replaced] = True
        previous = old.by_days[name]
        kept = previous[~gone[previous]]
        fresh = touched[~np.isnan(values[touched])]
        fresh = fresh[np.argsort(values[fresh], kind="stable")]
        at = np.searchsorted(values[kept], values[fresh], side="right")
        by_days[name] = np.insert(kept, at, fresh.astype(np.int32))
    return replace(
        old,
        snapshot=snapshot,
        facts=fact_arrays,
        fact_position=fact_position,
        by_days=by_days,
        students=student_arrays,
        student_position=student_position,
        cache={} if s["key"].size else old.cache,
        releases=old.releases if _same_cells(old, fact_arrays, s) else {},
        **_codes(codes),
    )


_FACTS = f"SELECT {', '.join(n for n, _ in FACT_FIELDS)} FROM referral_facts"  # noqa: S608
_STUDENTS = f"SELECT {', '.join(n for n, _ in STUDENT_FIELDS)} FROM metrics_students"  # noqa: S608
# Rows whose last writer the snapshot does not see (written_by below its xmin: it does).
_UNSEEN = (
    " WHERE written_by >= {xmin}"
    " AND NOT pg_visible_in_snapshot(written_by::text::xid8, '{snapshot}')"
)
_ABOUT = (
    "SELECT current_database(), 'referral_facts'::regclass::oid, "
    "pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text"
)
_OWN = (
    "SELECT EXISTS (SELECT FROM referral_facts WHERE written_by = $1)"
    " OR EXISTS (SELECT FROM metrics_students WHERE written_by = $1)"
    " OR EXISTS (SELECT FROM metrics_deletions WHERE written_by = $1)"
)
_CODES = "SELECT code, kind, value FROM metrics_codes"


def _unseen(snapshot: str) -> str:
    match = _SNAPSHOT.match(snapshot)
    if match is None:  # pragma: no cover - PostgreSQL's own format
        raise ValueError(f"not a snapshot: {snapshot!r}")
    return _UNSEEN.format(xmin=int(match.group(1)), snapshot=snapshot)


def _changes(snapshot: str) -> str:
    unseen = _unseen(snapshot)
    return (
        f"SELECT EXISTS (SELECT FROM metrics_deletions{unseen}),"  # noqa: S608 - see _unseen
        f" EXISTS (SELECT FROM referral_facts{unseen})"
        f" OR EXISTS (SELECT FROM metrics_students{unseen})"
    )


async def _copy(conn: Any, query: str) -> bytes:
    chunks: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        chunks.append(chunk)

    await conn.copy_from_query(query, output=sink, format="binary")
    return b"".join(chunks)


async def _codes_rows(conn: Any) -> list[tuple[int, str, str]]:
    return [(r["code"], r["kind"], r["value"]) for r in await conn.fetch(_CODES)]


async def _full(conn: Any, source: tuple[Any, ...], shared: bool) -> Columns:
    snapshot = await conn.fetchval("SELECT pg_current_snapshot()::text")
    facts = await _copy(conn, _FACTS)
    students = await _copy(conn, _STUDENTS)
    codes = await _codes_rows(conn)
    return await asyncio.to_thread(
        build, source, snapshot if shared else None, facts, students, codes
    )


How = Literal["current", "changes", "full", "private"]


@dataclass(frozen=True)
class Load:
    columns: Columns
    how: How  # current: as held; changes: changed rows applied; full: read whole


_held: Columns | None = None
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def current(session: AsyncSession) -> Load:
    """The columns with everything this session's transaction sees (or newer)."""
    global _held
    connection = await session.connection()
    conn = (await connection.get_raw_connection()).driver_connection
    assert conn is not None
    database, table, _, own = await conn.fetchrow(_ABOUT)
    source = (database, table)
    if own is not None and await conn.fetchval(_OWN, int(own)):
        return Load(await _full(conn, source, shared=False), "private")
    held = _held
    if held is not None and held.source == source and held.snapshot is not None:
        deleted, changed = await conn.fetchrow(_changes(held.snapshot))
        if not deleted and not changed:
            return Load(held, "current")
    async with _lock():
        held = _held
        if held is None or held.source != source or held.snapshot is None:
            _held = await _full(conn, source, shared=True)
            return Load(_held, "full")
        snapshot = await conn.fetchval("SELECT pg_current_snapshot()::text")
        deleted, changed = await conn.fetchrow(_changes(held.snapshot))
        if deleted:
            _held = await _full(conn, source, shared=True)
            return Load(_held, "full")
        if not changed:
            return Load(held, "current")
        unseen = _unseen(held.snapshot)
        facts = await _copy(conn, _FACTS + unseen)
        students = await _copy(conn, _STUDENTS + unseen)
        codes = await _codes_rows(conn)
        _held = await asyncio.to_thread(apply, held, snapshot, facts, students, codes)
        return Load(_held, "changes")


async def preload(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Read the columns once at startup, so the first metrics request finds them held."""
    try:
        async with sessions() as session, session.begin():
            loaded = await current(session)
        log.info("metrics columns preloaded (%d referrals)", len(loaded.columns.facts["key"]))
    except Exception:
        log.warning("metrics columns not preloaded", exc_info=True)


def forget() -> None:
    """Drop the held columns (tests)."""
    global _held
    _held = None
