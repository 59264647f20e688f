"""Compiled statements run on a session's connection belong to its transaction
(service/reader.py `_on`): SQLAlchemy's asyncpg adapter begins lazily, with its own
first statement, so without care a statement run first on the driver ran outside any
transaction. The referral writes (referrals/writes.py) and the row lock before a move
depend on this."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.reader import Compiled, Reader


def _sql(sql: str) -> Compiled:
    return Compiled(sql, (), {})


@pytest.fixture
async def probe(engine: AsyncEngine) -> AsyncIterator[str]:
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE IF NOT EXISTS reader_probe (id int PRIMARY KEY)")
        )
        await connection.execute(text("TRUNCATE reader_probe"))
        await connection.execute(text("INSERT INTO reader_probe VALUES (1)"))
    yield "reader_probe"
    async with engine.begin() as connection:
        await connection.execute(text("DROP TABLE reader_probe"))


async def _count(engine: AsyncEngine) -> int:
    async with AsyncSession(engine) as session:
        return int(await session.scalar(text("SELECT count(*) FROM reader_probe")) or 0)


@pytest.mark.parametrize(("end", "rows"), [("rollback", 1), ("commit", 2)])
async def test_a_write_first_on_the_driver_ends_with_the_session(
    engine: AsyncEngine, probe: str, end: str, rows: int
) -> None:
    async with AsyncSession(engine) as session:
        await Reader(session=session).fetch(_sql("INSERT INTO reader_probe VALUES (2)"))
        await getattr(session, end)()
    assert await _count(engine) == rows


async def test_a_row_lock_first_on_the_driver_holds_until_the_session_ends(
    engine: AsyncEngine, probe: str
) -> None:
    async with AsyncSession(engine) as holder, AsyncSession(engine) as other:
        locked = await Reader(session=holder).fetch(
            _sql("SELECT id FROM reader_probe WHERE id = 1 FOR UPDATE")
        )
        assert [r["id"] for r in locked] == [1]
        with pytest.raises(asyncpg.LockNotAvailableError):
            await Reader(session=other).fetch(
                _sql("SELECT id FROM reader_probe WHERE id = 1 FOR UPDATE NOWAIT")
            )
        await other.rollback()
        await holder.rollback()
        async with AsyncSession(engine) as after:
            free = await Reader(session=after).fetch(
                _sql("SELECT id FROM reader_probe WHERE id = 1 FOR UPDATE NOWAIT")
            )
            assert len(free) == 1
