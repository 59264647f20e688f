"""Which engine serves searches, with the follower and the result cache around it.

By default each API process searches its own embedded tantivy index and runs that
index's follower of the change log: a process reads its own writes (a write it committed
makes its next search catch up first), and sees other processes' writes within the poll
interval. With YOUTHLINK_MEILI_URL, Meilisearch serves: the worker's follower keeps it
current, and API processes only query it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.program_cache import ProgramCache
from service.reader import Reader
from service.search import changelog
from service.search.cache import ResultCache
from service.search.follower import Follower, Sessions, TableCursor
from service.search.port import SearchEngine, SearchResult
from service.search.query import SearchQuery
from service.search.schemas import FollowerStatus, SearchStatus
from service.search.text import load_synonyms
from service.settings import Settings

MEILI_CURSOR = "meilisearch"
# Meilisearch is followed by the worker, not by this process, which cannot see its index
# change: results are reused at most this long.
MEILI_CACHE_TTL_S = 1.0


def make_engine(settings: Settings) -> SearchEngine:
    synonyms = load_synonyms(settings.search_synonyms_file)
    if settings.meili_url:
        from service.search.meili.engine import MeiliEngine

        return MeiliEngine.from_settings(settings, synonyms)
    from service.search.tantivy.engine import TantivyEngine

    return TantivyEngine(synonyms)


def meili_follower(settings: Settings, sessions: Sessions, engine: SearchEngine) -> Follower:
    """The worker's follower of the Meilisearch index (its cursor in search_cursors)."""
    return Follower(
        sessions,
        engine,
        name=MEILI_CURSOR,
        store=TableCursor(MEILI_CURSOR),
        poll_s=settings.search_poll_s,
    )


@dataclass
class Searching:
    """What the API searches: an engine, its follower when this process runs one, and the
    result cache."""

    engine: SearchEngine
    follower: Follower | None
    cache: ResultCache | None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def generation(self) -> int:
        return int(getattr(self.engine, "generation", 0))

    async def search(self, query: SearchQuery) -> SearchResult:
        if self.follower is not None:
            await self.follower.fresh()  # builds the index on first use
        if self.cache is None:
            return await self.engine.search(query)
        generation = self.generation
        found = self.cache.get(generation, query)
        if found is None:
            found = await self.engine.search(query)
            self.cache.put(generation, query, found)
        return found

    def program_cache(self, size: int) -> ProgramCache | None:
        """A cache of public program documents that follows this process's index
        (catalog/program_cache.py); None without an embedded index, or with `size` 0."""
        if self.follower is None or size == 0:
            return None
        kept = ProgramCache(size, self.follower.caught_up)
        self.follower.observers.append(kept.forget)
        return kept

    def wrote(self) -> None:
        """This process committed a write: its next search reads it."""
        if self.follower is not None:
            self.follower.mark_stale()

    async def follow(self) -> None:
        """The follower's loop, until `stop()`."""
        if self.follower is not None:
            await self.follower.run(self._stop)

    def stop(self) -> None:
        self._stop.set()

    async def status(self, session: AsyncSession) -> SearchStatus:
        stats = await self.engine.stats()
        if self.follower is not None:
            followed = self.follower.state
            cursor, where = followed.cursor, "this API process (in memory)"
            extra = {
                "built_at": followed.built_at,
                "applied_at": followed.applied_at,
                "last_rebuild_seconds": followed.last_rebuild_s,
                "last_error": followed.last_error,
            }
        else:
            row = (
                await session.execute(
                    changelog.CURSOR_ROW,
                    {"name": MEILI_CURSOR},  # the worker's cursor
                )
            ).first()
            cursor, where = (row.snapshot or None) if row else None, "the worker"
            extra = {
                "applied_at": row.updated_at if row else None,
                "last_error": row.last_error if row else None,
            }
        lag = await changelog.lag(session, cursor)
        return SearchStatus(
            engine=stats.backend,
            documents=stats.documents,
            follower=FollowerStatus(
                followed_by=where,
                pending_changes=lag.pending,
                oldest_pending_seconds=lag.oldest_age_seconds,
                **extra,
            ),
        )


def serving(settings: Settings, sessions: Sessions, reader: Reader | None = None) -> Searching:
    """The API process's search: its embedded index and follower (checking the log on
    `reader`, the reads pool, when given), or Meilisearch; and the result cache."""
    engine = make_engine(settings)
    embedded = not settings.meili_url
    follower = (
        Follower(sessions, engine, name="embedded", poll_s=settings.search_poll_s, reader=reader)
        if embedded
        else None
    )
    ttl = (
        settings.search_cache_ttl_s
        if embedded
        else min(settings.search_cache_ttl_s, MEILI_CACHE_TTL_S)
    )
    cache = ResultCache(ttl, settings.search_cache_size) if ttl > 0 else None
    return Searching(engine, follower, cache)
