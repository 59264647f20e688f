"""Compiled statements run on a session's connection belong to its transaction
(service/reader.py `_on`): SQLAlchemy's asyncpg adapter begins lazily, with its own
first statement, so without care a statement run first on the driver ran outside any
transaction. The referral writes (referrals/writes.py) and the row lock before a move
depend on this."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service.reader import Compiled, Reader, open_pool
from service.settings import Settings


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


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    opened = await open_pool(settings)
    yield opened
    await opened.close()


async def test_a_json_parameter_is_json_text_on_the_pool_as_on_a_session(
    engine: AsyncEngine, pool: asyncpg.Pool
) -> None:
    """One compiled statement runs on either (a move on the pool, or in a transaction):
    a JSON parameter given as JSON text must be stored as that JSON, not as a string of
    it (webhook payloads, an Idempotency-Key's stored headers)."""
    typed = Compiled("SELECT jsonb_typeof($1::jsonb) AS kind, ($1::jsonb)->>'a' AS a", ("v",), {})
    text_ = orjson.dumps({"a": "1"}).decode()
    async with AsyncSession(engine) as session:
        on_session = await Reader(session=session).fetchrow(typed, v=text_)
    on_pool = await Reader(pool=pool).fetchrow(typed, v=text_)
    for row in (on_session, on_pool):
        assert row is not None and (row["kind"], row["a"]) == ("object", "1")
    encoded = await Reader(pool=pool).fetchrow(typed, v={"a": "1"})
    assert encoded is not None and encoded["kind"] == "object"  # a value is encoded
