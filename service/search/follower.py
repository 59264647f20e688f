"""Keeping an index in step with the catalog: build it, then follow the change log.

A follower owns one index's cursor (service/search/changelog.py). Its first step builds
the whole index from one consistent snapshot of the catalog and takes that snapshot as
its cursor; every later step reads the changes new to the cursor, rebuilds those
programs' documents from the catalog as it is now, applies them, and moves the cursor.
A rebuild request in the log, a cursor older than the log's trimmed horizon, or more
changes than a rebuild would cost, make the step a rebuild.

Each API process's embedded index has a follower with its cursor in memory; the worker's
Meilisearch follower keeps its cursor in `search_cursors`, so a restarted worker goes on
from where it was (and two workers never apply at once: the row is locked).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from service import collecting
from service.reader import Reader
from service.search import changelog
from service.search.document import build
from service.search.port import SearchEngine
from service.search.sources import in_name_order, load_sources

log = logging.getLogger("youthlink.search")

Sessions = Callable[[], AbstractAsyncContextManager[AsyncSession]]
MAX_BACKOFF_S = 60.0


class CursorStore(Protocol):
    """Where a follower keeps its cursor between steps (None: in memory only)."""

    async def load(self, session: AsyncSession) -> str | bool | None:
        """The stored cursor (None: none yet), or False when another process holds it."""

    async def save(self, session: AsyncSession, cursor: str) -> None: ...

    async def failed(self, session: AsyncSession, error: str) -> None: ...


@dataclass
class Step:
    programs: int = 0  # documents refreshed or removed
    rebuilt: int | None = None  # documents of a rebuild
    seconds: float = 0.0
    skipped: bool = False  # another process holds the cursor


@dataclass
class State:
    cursor: str | None = None
    built_at: datetime | None = None
    applied_at: datetime | None = None  # last step that found the index current or made it so
    last_rebuild_s: float | None = None
    last_error: str | None = None
    steps: int = 0
    changed_programs: int = 0


class Follower:
    def __init__(
        self,
        sessions: Sessions,
        engine: SearchEngine,
        *,
        name: str,
        store: CursorStore | None = None,
        poll_s: float = 0.25,
        batch: int = 1000,
        rebuild_above: int = 20_000,
        reader: Reader | None = None,
    ) -> None:
        self.sessions = sessions
        self.reader = reader
        self.engine = engine
        self.name = name
        self.store = store
        self.poll_s = poll_s
        self.batch = batch
        self.rebuild_above = rebuild_above
        self.state = State()
        self._lock = asyncio.Lock()
        self._writes = 0  # writes this process committed
        self._covered = -1  # of those, the ones the last completed step saw (-1: never ran)
        # Told which programs each step changed (None: a rebuild), after it applied them:
        # what keeps copies of programs next to the index (catalog/program_cache.py).
        self.observers: list[Callable[[Sequence[uuid.UUID] | None], None]] = []

    # ------------------------------------------------------------------ stepping

    def mark_stale(self) -> None:
        """This process committed a write: its next search first catches up (read your
        own writes)."""
        self._writes += 1

    async def fresh(self) -> None:
        """Catch up now when a write of this process (or the first build) is not in the
        index yet. A step that began after the write and ends meanwhile is enough."""
        wanted = self._writes
        if self._covered >= wanted:
            return
        async with self._lock:
            if self._covered < wanted:
                await self._locked_step()

    async def caught_up(self) -> bool:
        """Catch up with this process's own writes, as `fresh` does, once the index has
        been built; False (at once) before that: the first build is not waited for."""
        if self._covered < 0:
            return False
        await self.fresh()
        return True

    async def step(self) -> Step:
        """One step: build, or apply what changed. Steps never overlap."""
        async with self._lock:
            return await self._locked_step()

    async def _locked_step(self) -> Step:
        # Every write counted so far committed before this step reads the log, so the
        # step's snapshot sees it.
        covers = self._writes
        started = time.perf_counter()
        try:
            done = await self._step()
        except BaseException as exc:
            self.state.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            raise
        done.seconds = time.perf_counter() - started
        if not done.skipped:
            self._covered = covers
            self.state.steps += 1
            self.state.applied_at = datetime.now(UTC)
            self.state.last_error = None
        return done

    async def _step(self) -> Step:
        read: changelog.Changes | None = None
        if self.reader is not None and self.store is None and self.state.cursor is not None:
            # The usual step finds nothing new (a search after a write of this process):
            # one statement on the reads pool says so, and what it finds is applied in a
            # session opened only then.
            read = await changelog.since_on(self.reader, self.state.cursor, self.rebuild_above)
            if not read.rebuild and not read.program_ids:
                self.state.cursor = read.cursor
                return Step(programs=0)
        async with self.sessions() as session:
            cursor = self.state.cursor
            if self.store is not None:
                stored = await self.store.load(session)
                if stored is False:
                    return Step(skipped=True)
                cursor = stored or None  # type: ignore[assignment]
            if cursor is None:
                return await self._rebuild(session)
            changes = read or await changelog.since(session, cursor, self.rebuild_above)
            if changes.rebuild:
                return await self._rebuild(session)
            if changes.program_ids:
                await self._refresh(session, changes.program_ids)
            await self._advance(session, changes.cursor)
            return Step(programs=len(changes.program_ids))

    async def _refresh(self, session: AsyncSession, program_ids: Sequence[uuid.UUID]) -> None:
        for start in range(0, len(program_ids), self.batch):
            ids = program_ids[start : start + self.batch]
            sources = await load_sources(session, ids)
            removed = [pid for pid in ids if pid not in sources]
            await self.engine.apply([build(s) for s in sources.values()], removed)
        self.state.changed_programs += len(program_ids)
        for observer in self.observers:
            observer(program_ids)

    async def _advance(self, session: AsyncSession, cursor: str) -> None:
        if self.store is not None:
            await self.store.save(session, cursor)
            await session.commit()
        self.state.cursor = cursor

    async def _rebuild(self, session: AsyncSession) -> Step:
        """The whole index from one snapshot, taken as the cursor."""
        started = time.perf_counter()
        cursor = await _consistent_snapshot(session)
        with collecting.bulk():
            documents = await self._fill(session)
        self.state.built_at = datetime.now(UTC)
        self.state.last_rebuild_s = round(time.perf_counter() - started, 3)
        for observer in self.observers:
            observer(None)
        log.info(
            "search index %s rebuilt: %d documents in %.1f s",
            self.name,
            documents,
            self.state.last_rebuild_s,
        )
        await self._advance(session, cursor)
        return Step(rebuilt=documents)

    async def _fill(self, session: AsyncSession) -> int:
        """Every searchable program into a new index, made live at the end."""
        rebuild = await self.engine.rebuild()
        documents = 0
        adding: asyncio.Future[None] | None = None  # the previous batch, going in meanwhile
        try:
            order = await in_name_order(session)
            for start in range(0, len(order), self.batch):
                ids = order[start : start + self.batch]
                sources = await load_sources(session, ids)  # the snapshot has them all
                batch = [build(sources[i]) for i in ids]
                if adding is not None:
                    await adding
                adding = asyncio.ensure_future(rebuild.add(batch))
                documents += len(batch)
            if adding is not None:
                await adding
            await rebuild.finish()
        except BaseException:
            if adding is not None:
                await asyncio.gather(adding, return_exceptions=True)
            await rebuild.abort()
            raise
        return documents

    # ------------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> None:
        """Step every poll_s until `stop`; keeps going through database and engine outages
        (with a growing pause), so the index catches up when they are back."""
        pause = self.poll_s
        while not stop.is_set():
            try:
                done = await self.step()
                pause = self.poll_s
                if done.programs or done.rebuilt is not None:
                    log.info("search index %s: %d programs", self.name, done.programs)
            except Exception as exc:
                log.warning("search index %s: %s", self.name, exc)
                if self.store is not None:
                    with contextlib.suppress(Exception):
                        async with self.sessions() as session:
                            await self.store.failed(session, f"{type(exc).__name__}: {exc}")
                            await session.commit()
                pause = min(max(pause * 2, self.poll_s), MAX_BACKOFF_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)


async def _consistent_snapshot(session: AsyncSession) -> str:
    """Make the session's transaction read one snapshot throughout (REPEATABLE READ, when
    it has not begun; a test's open transaction reads as it is) and return it."""
    if isinstance(session.bind, AsyncEngine) and not session.in_transaction():
        await session.connection(
            execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        )
    return await changelog.snapshot(session)


class TableCursor:
    """A cursor kept in `search_cursors` under `name`, locked for the step that uses it."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def load(self, session: AsyncSession) -> str | bool | None:
        await session.execute(
            text(
                "INSERT INTO search_cursors (name, snapshot) VALUES (:name, '') "
                "ON CONFLICT (name) DO NOTHING"
            ),
            {"name": self.name},
        )
        await session.commit()
        row = (
            await session.execute(
                text(
                    "SELECT snapshot FROM search_cursors WHERE name = :name FOR UPDATE SKIP LOCKED"
                ),
                {"name": self.name},
            )
        ).first()
        if row is None:
            return False
        return row.snapshot or None

    async def save(self, session: AsyncSession, cursor: str) -> None:
        await session.execute(
            text(
                "UPDATE search_cursors SET snapshot = :cursor, updated_at = now(), "
                "attempts = 0, last_error = NULL WHERE name = :name"
            ),
            {"name": self.name, "cursor": cursor},
        )

    async def failed(self, session: AsyncSession, error: str) -> None:
        await session.execute(
            text(
                "UPDATE search_cursors SET attempts = attempts + 1, last_error = :error "
                "WHERE name = :name"
            ),
            {"name": self.name, "error": error[:2000]},
        )
