"""A short-lived cache of search results in front of an engine.

Search traffic repeats itself: partner sites ask for the same first page of "soccer" or
"tutoring near 06851" over and over. Each API process keeps up to `size` results for
`ttl_s` seconds, keyed by the whole SearchQuery (every filter, page, facet and language)
and by the index generation it was computed from: when the process's index applies a
change, every older entry stops matching, so an edit is never hidden by the cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from cachetools import TTLCache

from service.search.port import SearchResult
from service.search.query import SearchQuery


class ResultCache:
    def __init__(
        self, ttl_s: float, size: int, timer: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self._results: TTLCache[tuple[int, SearchQuery], SearchResult] = TTLCache(
            maxsize=size, ttl=ttl_s, timer=timer
        )
        self.hits = 0
        self.misses = 0

    def get(self, generation: int, query: SearchQuery) -> SearchResult | None:
        # Results are shared between requests: callers read them and never mutate them.
        found = self._results.get((generation, query))
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, generation: int, query: SearchQuery, result: SearchResult) -> None:
        self._results[(generation, query)] = result

    def clear(self) -> None:
        self._results.clear()
