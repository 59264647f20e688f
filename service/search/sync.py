"""Keeping the search index in step with the catalog: the outbox worker and reindexing.

Catalog triggers write an outbox row per changed program in the writer's transaction.
The worker claims due rows (FOR UPDATE SKIP LOCKED, so several workers share the work),
rebuilds those programs' documents from the catalog as it is now, applies them to the
backend, and deletes the rows in the same transaction. If the backend fails, the rows
stay, with a growing delay before the next try: nothing is lost while a server is down.

A reindex holds an advisory lock that pauses the worker, parks the rows already due,
rebuilds every document, makes the new index live, and then drops the parked rows; rows
written meanwhile are applied by the worker afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.search.document import build
from service.search.port import SearchBackend
from service.search.schemas import OutboxLag
from service.search.sources import active_program_ids, load_sources

log = logging.getLogger("youthlink.search")

LOCK_KEY = 7_166_515_801  # pg advisory lock: reindex exclusive, worker batches shared
MAX_BACKOFF_S = 300
# A reindex parks the rows it covers at available_at = infinity until it is done.
_PARK = text("UPDATE search_outbox SET available_at = 'infinity' WHERE available_at <= now()")
_DROP_PARKED = text("DELETE FROM search_outbox WHERE available_at = 'infinity'")
_UNPARK = text("UPDATE search_outbox SET available_at = now() WHERE available_at = 'infinity'")

_CLAIM = text(
    "SELECT id, program_id FROM search_outbox WHERE available_at <= now() "
    "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_DONE = text("DELETE FROM search_outbox WHERE id = ANY(:ids)")
_RETRY = text(
    "UPDATE search_outbox SET attempts = attempts + 1, last_error = :error, "
    "available_at = now() + make_interval(secs => least(:cap, power(2, attempts + 1))) "
    "WHERE id = ANY(:ids)"
)


@dataclass
class Drained:
    rows: int = 0
    upserted: int = 0
    removed: int = 0
    failed: bool = False


async def refresh(
    session: AsyncSession, backend: SearchBackend, program_ids: Sequence[uuid.UUID]
) -> tuple[int, int]:
    """Rebuild the documents of `program_ids` from the catalog and apply them."""
    sources = await load_sources(session, program_ids)
    removed = [pid for pid in program_ids if pid not in sources]
    await backend.apply(session, [build(s) for s in sources.values()], removed)
    return len(sources), len(removed)


async def drain_once(
    sessions: async_sessionmaker[AsyncSession], backend: SearchBackend, batch_size: int = 500
) -> Drained:
    """Apply one batch of due outbox rows; returns what happened (rows=0: nothing due)."""
    async with sessions() as session, session.begin():
        locked = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock_shared(:key)"), {"key": LOCK_KEY}
        )
        if not locked:  # a reindex is running; its end makes these rows current again
            return Drained()
        rows = (await session.execute(_CLAIM, {"limit": batch_size})).all()
        if not rows:
            return Drained()
        ids = [r.id for r in rows]
        programs = list(dict.fromkeys(r.program_id for r in rows))
        try:
            async with session.begin_nested():
                upserted, removed = await refresh(session, backend, programs)
        except Exception as exc:  # the backend or the catalog read failed: retry later
            log.warning("search sync of %d programs failed: %s", len(programs), exc)
            await session.execute(
                _RETRY,
                {"ids": ids, "error": f"{type(exc).__name__}: {exc}"[:2000], "cap": MAX_BACKOFF_S},
            )
            return Drained(rows=len(ids), failed=True)
        await session.execute(_DONE, {"ids": ids})
        return Drained(rows=len(ids), upserted=upserted, removed=removed)


async def drain(
    sessions: async_sessionmaker[AsyncSession], backend: SearchBackend, batch_size: int = 500
) -> Drained:
    """Apply every due row (tests, `reindex`, one-shot use); stops at the first failure."""
    total = Drained()
    while True:
        step = await drain_once(sessions, backend, batch_size)
        total.rows += step.rows
        total.upserted += step.upserted
        total.removed += step.removed
        if step.failed:
            total.failed = True
            return total
        if not step.rows:
            return total


async def run_worker(
    sessions: async_sessionmaker[AsyncSession],
    backend: SearchBackend,
    *,
    poll_s: float = 0.5,
    batch_size: int = 500,
    stop: asyncio.Event | None = None,
) -> None:
    """Drain the outbox until `stop` is set; survives database and search outages."""
    stop = stop or asyncio.Event()
    pause = poll_s
    while not stop.is_set():
        try:
            step = await drain_once(sessions, backend, batch_size)
            pause = poll_s if step.rows and not step.failed else poll_s * (4 if step.failed else 1)
            if step.rows and not step.failed:
                log.info(
                    "search sync: %d rows, %d upserted, %d removed",
                    step.rows,
                    step.upserted,
                    step.removed,
                )
                continue
        except Exception as exc:  # the database itself is unreachable: wait and retry
            log.warning("search worker: %s", exc)
            pause = min(pause * 2, MAX_BACKOFF_S)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)


@dataclass
class Reindexed:
    documents: int
    parked_rows: int
    started_at: datetime
    seconds: float


async def reindex(
    sessions: async_sessionmaker[AsyncSession], backend: SearchBackend, batch_size: int = 1000
) -> Reindexed:
    """Rebuild the whole index from the catalog and make it live (see module docstring)."""
    async with sessions() as lock_session:
        lock = await lock_session.connection()
        await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": LOCK_KEY})
        await lock.commit()
        try:
            return await _rebuild(sessions, backend, batch_size)
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
            await lock.commit()


async def _rebuild(
    sessions: async_sessionmaker[AsyncSession], backend: SearchBackend, batch_size: int
) -> Reindexed:
    clock = time.perf_counter()
    async with sessions() as session, session.begin():
        started = await session.scalar(text("SELECT clock_timestamp()"))
        parked = await session.execute(_PARK)
        handle = await backend.begin_rebuild(session)
    documents, after = 0, None
    try:
        while True:
            async with sessions() as session, session.begin():
                ids = await active_program_ids(session, after, batch_size)
                if not ids:
                    break
                sources = await load_sources(session, ids)
                await backend.apply_rebuild(session, handle, [build(s) for s in sources.values()])
            documents += len(sources)
            after = ids[-1]
            log.info("reindex: %d documents", documents)
        async with sessions() as session, session.begin():
            await backend.finish_rebuild(session, handle)
            await session.execute(_DROP_PARKED)
    except BaseException:
        async with sessions() as session, session.begin():
            await session.execute(_UNPARK)
        raise
    assert started is not None
    return Reindexed(
        documents=documents,
        parked_rows=int(getattr(parked, "rowcount", 0) or 0),
        started_at=started,
        seconds=time.perf_counter() - clock,
    )


async def lag(session: AsyncSession) -> OutboxLag:
    row = (
        await session.execute(
            text(
                "SELECT count(*) AS pending, "
                "extract(epoch FROM now() - min(enqueued_at)) AS oldest, "
                "count(*) FILTER (WHERE attempts > 0) AS retrying, "
                "(SELECT last_error FROM search_outbox WHERE last_error IS NOT NULL "
                " ORDER BY id DESC LIMIT 1) AS last_error "
                "FROM search_outbox"
            )
        )
    ).one()
    return OutboxLag(
        pending=row.pending,
        oldest_age_seconds=None if row.oldest is None else round(float(row.oldest), 3),
        retrying=row.retrying,
        last_error=row.last_error,
    )
