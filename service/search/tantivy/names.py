"""Name order as a number: each document's `name_rank`, a u64 fast field.

Sorting matches by a text column cost tantivy 0.4 to 0.6 ms more per search than by a
u64 column at 100,000 programs (measured), on every search without words or a point.
So every document carries a rank that follows the name order (`document.name_key`):

- A rebuild receives its documents in name order (the follower reads them so) and
  numbers them with gaps of 2**32. Every `FENCE_EVERY`th key is kept with its rank as a
  fence: a signpost of the order that stays valid while documents come and go.
- A document added later takes a rank between its neighbours. The fences around its key
  bound a block; the block's live documents (a range query on the rank) and their keys
  give the exact neighbours; new documents between the same two are spread evenly in the
  gap. A gap can run out after some 32 insertions at one spot: ranks then repeat.
- Searches order by rank; documents of equal rank (none after a rebuild) are put in
  key order by reading their stored keys, including every match that shares the last
  rank of a page, so a page is exactly the name order whatever the ranks.
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import tantivy

from service.search.document import SearchDocument, name_key
from service.search.query import MAX_HITS
from service.search.tantivy.schema import name_block

GAP = 1 << 32  # between two documents numbered by a rebuild
TOP = (1 << 64) - 1
FENCE_EVERY = 64
ENOUGH = MAX_HITS  # totals are exact below this, and this from there on
HEAD_FROM = 50_000  # a smaller index counts every match at once
FIRST_HEAD = 1 / 16  # the share of the name order a search by name looks at first
WHOLE = 1 / 2  # a head wider than this: the whole index instead
Q = tantivy.Query
Occur = tantivy.Occur
Ranked = list[tuple[int, tantivy.DocAddress]]


@dataclass
class Order:
    """What a live index knows of its name order: its rebuild's fences (every
    FENCE_EVERY-th key with its rank, sorted), and whether ranks may repeat."""

    keys: list[str] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)
    tied: bool = False

    def head(self, schema: tantivy.Schema, query: tantivy.Query, share: float) -> tantivy.Query:
        """`query` among the documents in about the first `share` of the name order, as a
        rebuild left it, rounded up to whole name blocks."""
        last = self.ranks[min(len(self.ranks) - 1, int(share * len(self.ranks)))]
        blocks = Q.range_query(
            schema, "name_block", tantivy.FieldType.Unsigned, 0, name_block(last)
        )
        return Q.boolean_query([(Occur.Must, query), (Occur.Must, blocks)])

    def block(self, key: str) -> tuple[int, int]:
        """The ranks of the fences around `key`: (0, TOP) when there are none."""
        at = bisect.bisect_right(self.keys, key)
        low = self.ranks[at - 1] if at else 0
        high = self.ranks[at] if at < len(self.keys) else TOP
        return low, high


class Numbering:
    """A rebuild's ranks, handed out in the order documents arrive (name order)."""

    def __init__(self) -> None:
        self.order = Order()
        self.count = 0
        self.last_key = ""

    def next(self, doc: SearchDocument) -> int:
        key = name_key(doc.name, doc.program_id)
        if key < self.last_key:
            raise ValueError("a rebuild's documents must come in name order")
        self.last_key = key
        rank = (self.count + 1) * GAP
        if self.count % FENCE_EVERY == 0:
            self.order.keys.append(key)
            self.order.ranks.append(rank)
        self.count += 1
        return rank


def assign(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: Order,
    documents: Sequence[SearchDocument],
) -> list[int]:
    """Ranks for documents added to a live index, in the order of `documents` (sets
    `order.tied` when a gap ran out)."""
    keyed = sorted((name_key(d.name, d.program_id), i) for i, d in enumerate(documents))
    ranks = [0] * len(documents)
    for (low, high), group in itertools.groupby(keyed, key=lambda k: order.block(k[0])):
        anchors = sorted([("", low), *_block(searcher, schema, low, high), (_LAST, high)])
        order.tied |= _spread(anchors, list(group), ranks)
    return ranks


_LAST = "\U0010ffff"  # after every key


def _block(
    searcher: tantivy.Searcher, schema: tantivy.Schema, low: int, high: int
) -> list[tuple[str, int]]:
    """(key, rank) of the live documents ranked within [low, high]."""
    within = Q.range_query(schema, "name_rank", tantivy.FieldType.Unsigned, low, high)
    n = count(searcher, within)
    if not n:
        return []
    found = searcher.search(within, n, order_by_field="name_rank", order=tantivy.Order.Asc)
    return [(str(searcher.doc(a).get_first("sort_name")), int(r)) for r, a in found.hits]


def _spread(anchors: list[tuple[str, int]], new: list[tuple[str, int]], ranks: list[int]) -> bool:
    """Rank the sorted `new` (key, position) among the sorted `anchors`: each run of new
    keys between two anchors evenly in their gap; a key equal to an anchor's (the same
    program, its name unchanged) takes its rank. True when some ranks had to repeat."""
    keys = [k for k, _ in anchors]
    runs: dict[int, list[int]] = {}  # by the anchor before them
    for key, position in new:
        at = bisect.bisect_left(keys, key)
        if keys[at] == key:
            ranks[position] = anchors[at][1]
        else:
            runs.setdefault(at - 1, []).append(position)
    tied = False
    for before, positions in runs.items():
        low, high = anchors[before][1], anchors[before + 1][1]
        if high == TOP:  # after the last document: steps of GAP, not halves of the rest
            high = min(TOP, low + GAP * (len(positions) + 1))
        tied |= high - low <= len(positions)
        for j, position in enumerate(positions):
            ranks[position] = low + (high - low) * (j + 1) // (len(positions) + 1)
    return tied


def count(searcher: tantivy.Searcher, query: tantivy.Query) -> int:
    """How many documents match (a limit of 0 would panic; tantivy's stub lacks .count)."""
    return int(searcher.search(query, 1, count=True).count or 0)  # type: ignore[attr-defined]


def by_name(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: Order,
    query: tantivy.Query,
    offset: int,
    limit: int,
) -> tuple[int, list[tantivy.DocAddress]]:
    """(how many match, up to ENOUGH; the matches offset..offset+limit in name order).

    In a large index, first in a head of the name order: a head holding ENOUGH matches
    (and the page) answers, since every match before the page's end lies in it. A head
    holding fewer tells how dense the matches are, and the next head is sized to hold
    enough with room to spare; past half the index, the whole index."""
    needed = offset + limit
    wanted = max(ENOUGH, needed)
    share = FIRST_HEAD
    while _in_heads(searcher, order, share):
        n, ranked = _first(searcher, order.head(schema, query, share), needed)
        if n >= wanted:
            return ENOUGH, _page(searcher, schema, order, query, ranked, n, offset, limit)
        share = _wider(share, n, wanted)
    total, ranked = _first(searcher, query, needed)
    return min(total, ENOUGH), _page(searcher, schema, order, query, ranked, total, offset, limit)


def count_up_to(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: Order,
    query: tantivy.Query,
    enough: int,
) -> int:
    """How many documents match `query`: exactly below `enough`, else `enough` (in a
    large index, counted in heads of the name order first, as `by_name` does)."""
    share = FIRST_HEAD
    while _in_heads(searcher, order, share):
        n = count(searcher, order.head(schema, query, share))
        if n >= enough:
            return enough
        share = _wider(share, n, enough)
    return min(count(searcher, query), enough)


def _in_heads(searcher: tantivy.Searcher, order: Order, share: float) -> bool:
    """Whether to search a head of this share, rather than the whole index."""
    return bool(order.ranks) and searcher.num_docs >= HEAD_FROM and share <= WHOLE


def _wider(share: float, found: int, wanted: int) -> float:
    """The next head's share, from how dense the matches were in the last one."""
    return share * 16 if not found else share * 1.5 * wanted / found


def _first(searcher: tantivy.Searcher, query: tantivy.Query, needed: int) -> tuple[int, Ranked]:
    """(how many match `query`, the first `needed` of them by rank)."""
    found = searcher.search(
        query, needed, count=True, order_by_field="name_rank", order=tantivy.Order.Asc
    )
    return int(found.count or 0), [(int(r), a) for r, a in found.hits]  # type: ignore[attr-defined]


def _page(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: Order,
    query: tantivy.Query,
    ranked: Ranked,
    total: int,
    offset: int,
    limit: int,
) -> list[tantivy.DocAddress]:
    if order.tied and ranked:
        ranked = _untie(searcher, schema, query, ranked, total)
    return [a for _, a in ranked[offset : offset + limit]]


def _untie(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    query: tantivy.Query,
    ranked: Ranked,
    total: int,
) -> Ranked:
    """`ranked` in exact name order: documents of one rank by key, with every match that
    shares the last rank when the search left some out."""
    last = ranked[-1][0]
    if total > len(ranked):
        same = Q.boolean_query(
            [(Occur.Must, query), (Occur.Must, Q.term_query(schema, "name_rank", last))]
        )
        ranked = [x for x in ranked if x[0] != last]
        ranked += [(last, a) for _, a in searcher.search(same, count(searcher, same)).hits]
    counts = Counter(r for r, _ in ranked)
    tied = [i for i, (r, _) in enumerate(ranked) if counts[r] > 1]
    key_of = dict(zip(tied, keys(searcher, [ranked[i][1] for i in tied]), strict=True))
    positions = sorted(range(len(ranked)), key=lambda i: (ranked[i][0], key_of.get(i, "")))
    return [ranked[i] for i in positions]


def keys(searcher: tantivy.Searcher, addresses: Sequence[tantivy.DocAddress]) -> list[str]:
    """The stored name keys of documents (one read each: for ties only)."""
    return [str(searcher.doc(a).get_first("sort_name")) for a in addresses]


def ranks(searcher: tantivy.Searcher, addresses: list[tantivy.DocAddress]) -> list[int]:
    """Documents' name ranks, read in bulk."""
    return [int(r or 0) for r in searcher.fast_field_values("name_rank", addresses)]
