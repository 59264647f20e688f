"""Stored program documents: each program's ProgramOut JSON, written by PostgreSQL.

Migration 0011 defines `program_document(id)` (the JSON of one program) and triggers that
rewrite `program_documents` in the transaction of any change to what a program shows.
Reads (reads.py) send the stored text as it is. A bulk load of thousands of programs
defers the triggers for its transaction and writes every document in one statement at
its end instead of once per inserted row.
"""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_DEFER = "SELECT set_config('youthlink.program_documents', 'deferred', true)"
_RESUME = "SELECT set_config('youthlink.program_documents', 'immediate', true)"
_ANALYZE = (
    "ANALYZE programs, cost_options, schedules, program_locations, locations,"
    " program_taxonomy_terms, taxonomy_terms"
)
_WRITE_ALL = """
INSERT INTO program_documents (program_id, body)
SELECT id, program_document(id) FROM programs
ON CONFLICT (program_id) DO UPDATE SET body = EXCLUDED.body
"""

Connection: TypeAlias = AsyncSession | asyncpg.Connection


async def _run(conn: Connection, sql: str) -> None:
    if isinstance(conn, AsyncSession):
        await conn.execute(text(sql))
    else:
        await conn.execute(sql)


async def defer(conn: Connection) -> None:
    """Leave program documents alone until `write_all` in this transaction."""
    await _run(conn, _DEFER)


async def write_all(conn: Connection) -> None:
    """Rewrite every program's document (after a deferred bulk load) and resume the
    triggers for the rest of the transaction.

    The tables are analyzed first: right after a load the planner still counts the rows
    from before it (none, after a TRUNCATE), and program_document's lookups by program
    planned on those figures scan whole tables: 100,000 documents took over 13 minutes
    instead of seconds."""
    await _run(conn, _RESUME)
    await _run(conn, _ANALYZE)
    await _run(conn, _WRITE_ALL)
