"""How many rows a catalog list has, without counting a big list on every page.

A page of 20 is read through an index in well under a millisecond; counting all
~95,000 active programs for its `total_items` takes PostgreSQL several milliseconds,
and would cap lists far below the page read itself. So:

- a page that is not full needs no count (its total is its offset plus its size);
- a count of at least `BIG` rows is kept for `ttl_s` seconds, per list shape and
  filter values, in this worker process; a write this process commits (the
  `after_write` hook, service/db.py) drops them all, so a caller always sees its own
  writes in the totals. Another worker's write shows in this worker's totals within
  `ttl_s` (`catalog_count_ttl_s`); the items of a page are never cached.
- smaller counts are cheap and always exact.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated

from fastapi import Depends, Request

BIG = 1_000
MAX_ENTRIES = 1_024


class Totals:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._kept: dict[Hashable, tuple[float, int]] = {}

    async def total(self, key: Hashable, count: Callable[[], Awaitable[int]]) -> int:
        kept = self._kept.get(key)
        now = time.monotonic()
        if kept is not None and kept[0] > now:
            return kept[1]
        total = await count()
        if total >= BIG and self.ttl_s > 0:
            if len(self._kept) >= MAX_ENTRIES:
                self._kept.clear()
            self._kept[key] = (now + self.ttl_s, total)
        return total

    def clear(self) -> None:
        self._kept.clear()


async def get_totals(request: Request) -> Totals:
    totals: Totals = request.app.state.totals
    return totals


TotalsDep = Annotated[Totals, Depends(get_totals)]
