"""The result cache: same query, same answer for ttl_s seconds; writes through it forget."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from service.search.backends import serving_backend
from service.search.cache import CachedBackend
from service.search.document import SearchDocument
from service.search.port import IndexStats, SearchResult
from service.search.query import SearchQuery
from service.settings import Settings


class Counting:
    """A backend that answers every query with a new result and counts the calls."""

    name = "counting"

    def __init__(self) -> None:
        self.searches = 0

    async def search(self, session: Any, query: SearchQuery) -> SearchResult:
        self.searches += 1
        return SearchResult(hits=[], total=self.searches)

    async def apply(
        self, session: Any, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        pass

    async def begin_rebuild(self, session: Any) -> Any:
        return None

    async def apply_rebuild(
        self, session: Any, handle: Any, documents: Sequence[SearchDocument]
    ) -> None:
        pass

    async def finish_rebuild(self, session: Any, handle: Any) -> None:
        pass

    async def stats(self, session: Any) -> IndexStats:
        return IndexStats(backend=self.name, documents=0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_repeated_query_is_answered_from_memory_until_it_expires() -> None:
    inner, clock = Counting(), Clock()
    cache = CachedBackend(inner, ttl_s=5, size=10, timer=clock)
    first = await cache.search(None, SearchQuery(text="soccer"))  # type: ignore[arg-type]
    again = await cache.search(None, SearchQuery(text="soccer"))  # type: ignore[arg-type]
    assert again is first and inner.searches == 1
    clock.now = 5.1
    assert (await cache.search(None, SearchQuery(text="soccer"))).total == 2  # type: ignore[arg-type]
    assert (cache.hits, cache.misses) == (1, 2)


async def test_any_difference_in_the_query_is_a_different_entry() -> None:
    inner = Counting()
    cache = CachedBackend(inner, ttl_s=5, size=10)
    for query in (
        SearchQuery(text="soccer"),
        SearchQuery(text="soccer", page=2),
        SearchQuery(text="soccer", language="es"),
        SearchQuery(text="soccer", languages=("es",)),
    ):
        await cache.search(None, query)  # type: ignore[arg-type]
    assert inner.searches == 4


async def test_writes_and_rebuilds_through_the_cache_forget_it() -> None:
    inner = Counting()
    cache = CachedBackend(inner, ttl_s=60, size=10)
    await cache.search(None, SearchQuery(text="soccer"))  # type: ignore[arg-type]
    await cache.apply(None, [], [])  # type: ignore[arg-type]
    await cache.search(None, SearchQuery(text="soccer"))  # type: ignore[arg-type]
    await cache.finish_rebuild(None, None)  # type: ignore[arg-type]
    await cache.search(None, SearchQuery(text="soccer"))  # type: ignore[arg-type]
    assert inner.searches == 3


async def test_the_cache_holds_at_most_size_results() -> None:
    inner = Counting()
    cache = CachedBackend(inner, ttl_s=60, size=2)
    for page in (1, 2, 3, 1):
        await cache.search(None, SearchQuery(text="soccer", page=page))  # type: ignore[arg-type]
    assert inner.searches == 4  # page 1 was evicted by page 3


def test_the_api_caches_unless_the_ttl_is_zero() -> None:
    on = serving_backend(Settings(search_cache_ttl_s=5, meili_url=None))
    off = serving_backend(Settings(search_cache_ttl_s=0, meili_url=None))
    assert isinstance(on, CachedBackend) and on.inner.name == "postgres"
    assert not isinstance(off, CachedBackend) and off.name == "postgres"
