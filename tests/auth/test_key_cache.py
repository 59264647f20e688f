"""API processes keep the keys they looked up (service/auth/key_cache.py) only while
PostgreSQL can tell them of changes: a revoked key stops working in the process that
revoked it at once, and in every other process as soon as the notification arrives."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.pool import NullPool

from service.auth.key_cache import KeyCache
from service.auth.keys import split_token
from service.auth.roles import Role
from service.catalog.enums import OrganizationType
from tests.conftest import Caller, make_caller, make_org, make_test_database
from tests.perf.harness import api_processes

NOTIFIED_WITHIN_S = 1.0  # on loopback it is milliseconds; this bounds a busy CI machine


def _row() -> dict[str, object]:
    return {"id": uuid.uuid4(), "secret_hash": "h", "role": "admin", "last_used_at": None}


async def _until(condition: object, bound_s: float = NOTIFIED_WITHIN_S) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > bound_s:
            pytest.fail(f"not within {bound_s} s")
        await asyncio.sleep(0.002)
    return time.monotonic() - started


def test_nothing_is_served_unless_listening_and_a_raced_lookup_is_not_kept() -> None:
    cache = KeyCache()
    cache.store("p", _row(), cache.generation)
    assert cache.lookup("p") is None  # not listening: every request looks its key up
    cache._listens(True)
    before = cache.generation
    cache.forget("other")  # a change heard while "p" was being looked up
    cache.store("p", _row(), before)
    assert cache.lookup("p") is None
    cache.store("p", _row(), cache.generation)
    assert cache.lookup("p") is not None
    at = datetime.now(UTC)
    cache.used("p", at)  # its last_used_at was written: no notification comes for that
    assert cache.lookup("p")["last_used_at"] == at  # type: ignore[index]
    cache.forget("*")
    assert cache.lookup("p") is None


@pytest.fixture
async def key_row(engine: AsyncEngine) -> AsyncIterator[str]:
    """A committed admin key row (no organization); its prefix."""
    prefix = uuid.uuid4().hex[:12]
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO api_keys (id, prefix, secret_hash, name, role) "
                "VALUES (:id, :prefix, 'h', 'cache probe', 'admin')"
            ),
            {"id": uuid.uuid4(), "prefix": prefix},
        )
    yield prefix
    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM api_keys WHERE prefix = :p"), {"p": prefix})


async def _change(engine: AsyncEngine, sql: str, prefix: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(sql), {"p": prefix})


async def test_a_change_to_a_key_is_heard_and_last_used_is_not(
    engine: AsyncEngine, key_row: str, database_url: str
) -> None:
    dsn = database_url.replace("postgresql+asyncpg", "postgresql")
    cache = KeyCache()
    name = f"keys-{uuid.uuid4().hex[:8]}"
    listening = asyncio.create_task(
        cache.listen(
            lambda: asyncpg.connect(dsn, server_settings={"application_name": name}),
            check_s=0.1,
            retry_s=0.05,
        )
    )
    try:
        await _until(lambda: cache.listening)
        cache.store(key_row, _row(), cache.generation)
        await _change(engine, "UPDATE api_keys SET last_used_at = now() WHERE prefix = :p", key_row)
        await asyncio.sleep(0.2)
        assert cache.lookup(key_row) is not None
        await _change(engine, "UPDATE api_keys SET revoked_at = now() WHERE prefix = :p", key_row)
        lag = await _until(lambda: cache.lookup(key_row) is None)
        print(f"\nrevocation heard {lag * 1000:.1f} ms after it committed")
        cache.store(key_row, _row(), cache.generation)
        await _change(engine, "DELETE FROM api_keys WHERE prefix = :p", key_row)
        await _until(lambda: cache.lookup(key_row) is None)
        # The listening connection lost: nothing served until it listens again, then empty.
        cache.store(key_row, _row(), cache.generation)
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :n"
                ),
                {"n": name},
            )
        await _until(lambda: not cache.listening)
        assert cache.lookup(key_row) is None
        await _until(lambda: cache.listening)
        assert cache.lookup(key_row) is None
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


@pytest.fixture(scope="module")
def two_apis(worker_id_safe: str) -> Iterator[tuple[str, str, Caller, Caller, str]]:
    url = make_test_database(f"{worker_id_safe}_keys")

    async def callers() -> tuple[Caller, Caller]:
        engine = create_async_engine(url, poolclass=NullPool)
        async with AsyncSession(engine) as session, session.begin():
            org = await make_org(session, OrganizationType.provider, "Key Street Youth")
            provider = await make_caller(session, Role.provider, org)
            admin = await make_caller(session, Role.admin)
        await engine.dispose()
        return provider, admin

    provider, admin = asyncio.run(callers())
    with api_processes(url) as (first, second):
        yield first, second, provider, admin, url


def _status(base: str, caller: Caller) -> int:
    return httpx.get(f"{base}/referrals/inbox", headers=caller.headers, timeout=10).status_code


async def _on_key(url: str, prefix: str, change: str | None = None, quietly: bool = False) -> Any:
    """The key's id, after `change` (an UPDATE of its row, `$1` its prefix) if given;
    `quietly` makes the change without the triggers, so no process hears of it."""
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    try:
        if quietly:
            await connection.execute("SET session_replication_role = replica")
        if change is not None:
            await connection.execute(change, prefix)
        return await connection.fetchval("SELECT id FROM api_keys WHERE prefix = $1", prefix)
    finally:
        await connection.close()


def test_a_key_revoked_through_one_process_stops_working_in_both(
    two_apis: tuple[str, str, Caller, Caller, str],
) -> None:
    first, second, provider, admin, url = two_apis
    for base in (first, second, first, second):  # each process looks it up, then keeps it
        assert _status(base, provider) == 200
    parsed = split_token(provider.headers["Authorization"].removeprefix("Bearer "))
    assert parsed is not None
    prefix = parsed[0]
    # Both really serve the key from their cache: a change nobody is told of (triggers
    # off) goes unseen; the same change made as usual is seen by both.
    demote = "UPDATE api_keys SET role = 'analyst' WHERE prefix = $1"
    asyncio.run(_on_key(url, prefix, demote, quietly=True))
    assert [_status(base, provider) for base in (first, second)] == [200, 200]
    asyncio.run(_on_key(url, prefix, "UPDATE api_keys SET role = 'provider' WHERE prefix = $1"))
    asyncio.run(_on_key(url, prefix, demote))
    _within(lambda: [_status(base, provider) for base in (first, second)] == [403, 403])
    key_id = asyncio.run(
        _on_key(url, prefix, "UPDATE api_keys SET role = 'provider' WHERE prefix = $1")
    )
    _within(lambda: [_status(base, provider) for base in (first, second)] == [200, 200])
    revoked = httpx.delete(f"{first}/api-keys/{key_id}", headers=admin.headers, timeout=10)
    assert revoked.status_code == 200, revoked.text
    assert _status(first, provider) == 401  # the revoking process: at once
    _within(lambda: _status(second, provider) == 401)


def _within(condition: Callable[[], bool]) -> None:
    """`condition` holds within NOTIFIED_WITHIN_S (the notification's way)."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < NOTIFIED_WITHIN_S, "not heard in time"
        time.sleep(0.001)
