"""The search change log: what changed since a cursor, and trimming by age.

A cursor is a PostgreSQL snapshot (`pg_current_snapshot()` as text): an index that
follows the log from cursor C has applied exactly the changes of the transactions C
sees. The changes new to C are the rows whose writer C does not see; reading them in one
statement also yields that statement's own snapshot, the next cursor. Commit order is
what counts, not row ids, so a transaction that commits late is never skipped.

Rows are trimmed by age. `search_log_horizon` keeps the newest writer trimmed; a cursor
that does not see that writer may have missed a trimmed change and must rebuild.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.reader import Reader, compile_statement

_CHANGES = text(
    """
    WITH cursor AS (SELECT CAST(CAST(:cursor AS text) AS pg_snapshot) AS seen),
    fresh AS (
        SELECT program_id FROM search_changes, cursor
         WHERE (tx >= pg_snapshot_xmin(seen)::text::bigint
                AND NOT pg_visible_in_snapshot(tx::text::xid8, seen))
            -- a transaction's own changes are always new to it (tests read in one)
            OR tx = pg_current_xact_id_if_assigned()::text::bigint
    )
    SELECT pg_current_snapshot()::text AS snapshot,
           (SELECT trimmed_through FROM search_log_horizon)
               >= (SELECT pg_snapshot_xmin(seen)::text::bigint FROM cursor) AS trimmed,
           (SELECT count(*) FROM fresh) AS rows,
           COALESCE((SELECT bool_or(program_id IS NULL) FROM fresh), false) AS everything,
           ARRAY(SELECT DISTINCT program_id FROM fresh WHERE program_id IS NOT NULL
                 LIMIT :limit) AS program_ids
    """
)
_LAG = text(
    """
    SELECT count(*) AS pending, extract(epoch FROM now() - min(changed_at)) AS oldest
      FROM search_changes
     WHERE tx >= pg_snapshot_xmin(CAST(CAST(:cursor AS text) AS pg_snapshot))::text::bigint
       AND NOT pg_visible_in_snapshot(tx::text::xid8, CAST(CAST(:cursor AS text) AS pg_snapshot))
    """
)
CURSOR_ROW = text(
    "SELECT snapshot, updated_at, attempts, last_error FROM search_cursors WHERE name = :name"
)
_TRIM = text(
    """
    WITH gone AS (
        DELETE FROM search_changes WHERE changed_at < now() - CAST(:age AS interval) RETURNING tx
    )
    UPDATE search_log_horizon
       SET trimmed_through = greatest(trimmed_through, (SELECT max(tx) FROM gone)),
           trimmed_at = now()
     WHERE EXISTS (SELECT 1 FROM gone)
    RETURNING (SELECT count(*) FROM gone) AS removed
    """
)


@dataclass(frozen=True)
class Changes:
    cursor: str  # the snapshot the changes were read at: the next cursor once applied
    program_ids: list[uuid.UUID]  # programs to refresh (at most `limit`)
    rows: int  # log rows new to the old cursor
    rebuild: bool  # rebuild instead: asked for, trimmed past the cursor, or too many


async def snapshot(session: AsyncSession) -> str:
    """The snapshot of the session's transaction (the cursor of what it reads next)."""
    return str(await session.scalar(text("SELECT pg_current_snapshot()::text")))


async def since(session: AsyncSession, cursor: str, limit: int) -> Changes:
    """The changes new to `cursor`; more than `limit` programs means: rebuild."""
    row = (await session.execute(_CHANGES, {"cursor": cursor, "limit": limit + 1})).one()
    return _changes(dict(row._mapping), limit)


_CHANGES_COMPILED = compile_statement(_CHANGES)


async def since_on(reader: Reader, cursor: str, limit: int) -> Changes:
    """`since`, in one statement on the reads pool: no session, no transaction. The
    follower checks this way after each write of its process, before the next search."""
    row = await reader.fetchrow(_CHANGES_COMPILED, cursor=cursor, limit=limit + 1)
    assert row is not None  # the statement always returns one row
    return _changes(row, limit)


def _changes(row: Mapping[str, Any], limit: int) -> Changes:
    ids = list(row["program_ids"])
    rebuild = bool(row["trimmed"] or row["everything"] or len(ids) > limit)
    return Changes(cursor=row["snapshot"], program_ids=ids, rows=int(row["rows"]), rebuild=rebuild)


async def request_rebuild(session: AsyncSession) -> None:
    """Every index rebuilds from the catalog (after a bulk load: cheaper than one change
    per program)."""
    await session.execute(text("INSERT INTO search_changes (program_id) VALUES (NULL)"))


@dataclass(frozen=True)
class Lag:
    pending: int  # log rows the cursor has not applied
    oldest_age_seconds: float | None  # how long the oldest of them has waited


async def lag(session: AsyncSession, cursor: str | None) -> Lag:
    if cursor is None:
        count = await session.scalar(text("SELECT count(*) FROM search_changes"))
        return Lag(pending=int(count or 0), oldest_age_seconds=None)
    row = (await session.execute(_LAG, {"cursor": cursor})).one()
    oldest = None if row.oldest is None else round(float(row.oldest), 3)
    return Lag(pending=int(row.pending), oldest_age_seconds=oldest)


async def trim(session: AsyncSession, older_than: timedelta) -> int:
    """Drop log rows older than `older_than`; returns how many went."""
    removed = await session.scalar(_TRIM, {"age": older_than})
    return int(removed or 0)
