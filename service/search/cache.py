"""A short-lived cache of search results in front of any backend.

Search traffic repeats itself: partner sites ask for the same first page of "soccer" or
"tutoring near 06851" over and over. A result computed in the last few seconds is as good
as a new one, because the index itself trails the catalog by the worker's poll interval.
So each API process keeps up to `size` results for `ttl_s` seconds, keyed by the whole
SearchQuery (every filter, page, facet and language). Writes are not affected: they go
through the outbox, and a change shows in search at most `ttl_s` later than it would
without the cache.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from cachetools import TTLCache
from sqlalchemy.ext.asyncio import AsyncSession

from service.search.document import SearchDocument
from service.search.port import IndexStats, SearchBackend, SearchResult
from service.search.query import SearchQuery


class CachedBackend:
    """A SearchBackend that answers repeated queries from memory for `ttl_s` seconds."""

    def __init__(
        self,
        inner: SearchBackend,
        ttl_s: float,
        size: int,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.ttl_s = ttl_s
        self._results: TTLCache[SearchQuery, SearchResult] = TTLCache(
            maxsize=size, ttl=ttl_s, timer=timer
        )
        self.hits = 0
        self.misses = 0

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        # Results are shared between requests: callers read them and never mutate them.
        cached = self._results.get(query)
        if cached is not None:
            self.hits += 1
            return cached
        self.misses += 1
        result = await self.inner.search(session, query)
        self._results[query] = result
        return result

    def clear(self) -> None:
        self._results.clear()

    # Writes go straight through; a process that writes forgets what it has cached.

    async def apply(
        self,
        session: AsyncSession,
        documents: Sequence[SearchDocument],
        removed: Sequence[uuid.UUID],
    ) -> None:
        await self.inner.apply(session, documents, removed)
        self.clear()

    async def begin_rebuild(self, session: AsyncSession) -> Any:
        return await self.inner.begin_rebuild(session)

    async def apply_rebuild(
        self, session: AsyncSession, handle: Any, documents: Sequence[SearchDocument]
    ) -> None:
        await self.inner.apply_rebuild(session, handle, documents)

    async def finish_rebuild(self, session: AsyncSession, handle: Any) -> None:
        await self.inner.finish_rebuild(session, handle)
        self.clear()

    async def stats(self, session: AsyncSession) -> IndexStats:
        return await self.inner.stats(session)
