"""The result cache: same query and index generation, same answer for ttl_s seconds; an
index that applied a change answers anew at once (an edit is never hidden)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

from service.search.cache import ResultCache
from service.search.document import SearchDocument
from service.search.engines import Searching, serving
from service.search.filters import Facet
from service.search.port import IndexStats, Rebuild, SearchResult
from service.search.query import SearchQuery, filters
from service.settings import Settings


class Counting:
    """An engine that answers every query with a new result and counts the calls."""

    name = "counting"

    def __init__(self) -> None:
        self.searches = 0
        self.generation = 0

    async def search(self, query: SearchQuery) -> SearchResult:
        self.searches += 1
        return SearchResult(hits=[], total=self.searches)

    async def apply(
        self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        self.generation += 1

    async def rebuild(self) -> Rebuild:
        raise NotImplementedError

    async def stats(self) -> IndexStats:
        return IndexStats(backend=self.name, documents=0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _searching(engine: Counting, ttl_s: float = 60, size: int = 10, **kw: Any) -> Searching:
    return Searching(engine, None, ResultCache(ttl_s, size, **kw))


async def test_a_repeated_query_is_answered_from_memory_until_it_expires() -> None:
    engine, clock = Counting(), Clock()
    searching = _searching(engine, ttl_s=5, timer=clock)
    first = await searching.search(SearchQuery(text="soccer"))
    again = await searching.search(SearchQuery(text="soccer"))
    assert again is first and engine.searches == 1
    clock.now = 5.1
    assert (await searching.search(SearchQuery(text="soccer"))).total == 2
    assert searching.cache is not None and (searching.cache.hits, searching.cache.misses) == (1, 2)


async def test_any_difference_in_the_query_is_a_different_entry() -> None:
    engine = Counting()
    searching = _searching(engine)
    for query in (
        SearchQuery(text="soccer"),
        SearchQuery(text="soccer", page=2),
        SearchQuery(text="soccer", language="es"),
        SearchQuery(text="soccer", filters=filters(language=("es",))),
        SearchQuery(text="soccer", facets=(Facet.day,)),
    ):
        await searching.search(query)
    assert engine.searches == 5


async def test_a_change_applied_to_the_index_is_seen_at_once() -> None:
    engine = Counting()
    searching = _searching(engine, ttl_s=300)
    await searching.search(SearchQuery(text="soccer"))
    await engine.apply([], [])  # the follower applied an edit
    await searching.search(SearchQuery(text="soccer"))
    assert engine.searches == 2


async def test_the_cache_holds_at_most_size_results() -> None:
    engine = Counting()
    searching = _searching(engine, size=2)
    for page in (1, 2, 3, 1):
        await searching.search(SearchQuery(text="soccer", page=page))
    assert engine.searches == 4  # page 1 was evicted by page 3


def test_the_api_caches_unless_the_ttl_is_zero() -> None:
    @asynccontextmanager
    async def no_sessions() -> Any:
        yield None

    on = serving(Settings(search_cache_ttl_s=5, meili_url=None), no_sessions)
    off = serving(Settings(search_cache_ttl_s=0, meili_url=None), no_sessions)
    assert on.cache is not None and on.engine.name == "tantivy" and on.follower is not None
    assert off.cache is None
    meili = serving(Settings(search_cache_ttl_s=30, meili_url="http://127.0.0.1:1"), no_sessions)
    assert meili.follower is None and meili.cache is not None and meili.cache.ttl_s == 1.0
