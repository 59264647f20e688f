"""Distances over the tantivy index: the radius filter, and nearest-site-first order.

Both start from grid cells (service/search/tantivy/geo.py), which tantivy's term index
answers quickly, and measure exactly only what the cells cannot decide: the programs in
the cells a circle's edge crosses, and the candidates of a nearest-first page. Their
sites' coordinates are read in bulk from fast fields and measured with numpy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import tantivy

from service.search.query import Point, SearchQuery
from service.search.tantivy import geo, names
from service.search.tantivy.query import all_of
from service.search.tantivy.schema import FAST_SITES, unpack_points

Q = tantivy.Query
Occur = tantivy.Occur
# A search by distance inside a radius measures every candidate in one pass up to DIRECT
# of them, and beyond counts them by cells (`_counted_within`). At a million programs,
# measured: 5,000-6,000 candidates (8 km, one category, free) 8-10 ms in one pass against
# 17-21 ms counted; 24,000-28,000 (5 km, no filter) 18-27 ms against 9-12 ms. The cells'
# document frequencies bound the candidates before any search: an unfiltered circle
# past DIRECT is counted at once, and a filtered one fetched in one search.
DIRECT = 12_000
FIRST = 4_000  # matches fetched by a ring's first search
TERM_LOOKUPS = 512
FEW = 1000  # up to this many matches (or the page's depth) are measured directly; else rings
RING_START_M = 1_000.0
RING_MAX_M = 2_000_000.0
Floats = npt.NDArray[np.float64]


def matches(
    searcher: tantivy.Searcher, query: tantivy.Query, expect: int = FIRST
) -> tuple[int, list[tantivy.DocAddress]]:
    """(how many match `query`, up to `expect` of them; all of them when no more match)."""
    found = searcher.search(query, expect, count=True)
    n = int(found.count or 0)  # type: ignore[attr-defined]
    return n, [a for _, a in found.hits]


def every(searcher: tantivy.Searcher, query: tantivy.Query, limit: int = FIRST) -> list[Any]:
    """Every document matching `query`, in one search when they are at most `limit`."""
    n, addresses = matches(searcher, query, limit)
    if n > len(addresses):
        addresses = [a for _, a in searcher.search(query, n, count=False).hits]
    return addresses


def any_of(schema: tantivy.Schema, field: str, values: Sequence[Any]) -> tantivy.Query:
    """Documents with any of `values` in `field`. tantivy's term set query walks the
    field's whole term dictionary (a millisecond for 100,000 program keys); a few hundred
    terms are cheaper looked up one by one."""
    if len(values) > TERM_LOOKUPS:
        return Q.term_set_query(schema, field, list(values))
    return Q.boolean_query([(Occur.Should, Q.term_query(schema, field, v)) for v in values])


def _column(searcher: tantivy.Searcher, field: str, addresses: list[tantivy.DocAddress]) -> Floats:
    """A float fast field's values (NaN where a document has none)."""
    return np.array(searcher.fast_field_values(field, addresses), dtype=np.float64)


def distances(
    searcher: tantivy.Searcher, near: Point, addresses: list[tantivy.DocAddress]
) -> Floats:
    """Each document's distance in metres to `near`: its nearest site (inf: no site)."""
    best = np.full(len(addresses), np.inf)
    if not addresses:
        return best
    sites = np.asarray(searcher.fast_field_values("sites", addresses), dtype=np.int64)
    for i in range(FAST_SITES):
        rows = np.flatnonzero(sites > i)
        if not len(rows):
            break
        subset = addresses if len(rows) == len(addresses) else [addresses[r] for r in rows]
        lats, lngs = _column(searcher, f"lat_{i}", subset), _column(searcher, f"lng_{i}", subset)
        best[rows] = np.minimum(best[rows], geo.metres(near.lat, near.lng, lats, lngs))
    for r in np.flatnonzero(sites > FAST_SITES):  # the rest of a program with many sites
        points = unpack_points(searcher.doc(addresses[r]).get_first("points"))  # type: ignore[arg-type]
        lats = np.asarray([p[0] for p in points])
        lngs = np.asarray([p[1] for p in points])
        best[r] = min(best[r], float(geo.metres(near.lat, near.lng, lats, lngs).min()))
    return best


def within(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    near: Point,
    radius_m: float,
    narrowing: Sequence[tantivy.Query],
) -> tantivy.Query:
    """Programs with a site within `radius_m` of `near`: those in the cells wholly inside
    the circle, and those in its edge cells that are, by measure. `narrowing` (filters
    every use of this query applies) keeps the edge's candidates few."""
    cover = geo.cover(near.lat, near.lng, float(radius_m))
    parts = []
    if cover.inside:
        parts.append(any_of(schema, "cells", cover.inside))
    if cover.edge:
        edge = all_of(any_of(schema, "cells", cover.edge), *narrowing)
        addresses = every(searcher, edge)
        keys = searcher.fast_field_values("key", addresses)
        inside = distances(searcher, near, addresses) <= radius_m
        close = [int(k) for k, ok in zip(keys, inside, strict=True) if ok and k is not None]
        if close:
            parts.append(any_of(schema, "key_term", close))
    if not parts:
        return Q.empty_query()
    return Q.boolean_query([(Occur.Should, p) for p in parts])


def nearest_within(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: names.Order,
    q: SearchQuery,
    free: tantivy.Query,
) -> tuple[int, list[tantivy.DocAddress]]:
    """(total, the page's documents) of a search by distance inside a radius. `free` is
    the query without its radius. The matches in the cells of one level that touch the
    circle are measured in one pass while they are at most DIRECT; more (a wide circle
    in a dense catalog) are counted by cells and the page found in rings."""
    assert q.near is not None
    radius = float(q.get("radius_m"))
    cells = geo.touching(q.near.lat, q.near.lng, radius)
    most = sum(searcher.doc_freq("cells", cell) for cell in cells)  # a program once a cell
    narrowed = q.text is not None or any(name != "radius_m" for name, _ in q.filters)
    if most > DIRECT and not narrowed:
        return _counted_within(searcher, schema, q, free, radius)
    candidates = all_of(free, any_of(schema, "cells", cells))
    n, addresses = matches(searcher, candidates, max(1, min(most, DIRECT + 1)))
    if n > DIRECT:
        return _counted_within(searcher, schema, q, free, radius)
    measured = distances(searcher, q.near, addresses)
    kept = np.flatnonzero(measured <= radius)
    needed = min(q.offset + q.per_page, len(kept))
    if not needed:
        return len(kept), []
    ranked = _nearest(measured[kept], [addresses[i] for i in kept], needed)
    return len(kept), _by_name_within_ties(searcher, ranked, q.offset, q.offset + q.per_page)


def _counted_within(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    q: SearchQuery,
    free: tantivy.Query,
    radius: float,
) -> tuple[int, list[tantivy.DocAddress]]:
    """The total without measuring most matches: those in cells wholly inside the circle
    are counted by tantivy, and only those in its edge cells (and in no inside cell)
    measured, unless the inside alone holds names.ENOUGH (the total shown is then that);
    the page comes from rings growing from where about four pages' worth lie."""
    assert q.near is not None
    cover = geo.cover(q.near.lat, q.near.lng, radius)
    inside = any_of(schema, "cells", cover.inside) if cover.inside else None
    known = names.count(searcher, all_of(free, inside)) if inside is not None else 0
    if cover.edge and known < names.ENOUGH:
        edge = [(Occur.Must, free), (Occur.Must, any_of(schema, "cells", cover.edge))]
        if inside is not None:
            edge.append((Occur.MustNot, inside))  # counted already
        addresses = every(searcher, Q.boolean_query(edge))
        known += int((distances(searcher, q.near, addresses) <= radius).sum())
    needed = min(q.offset + q.per_page, known)
    if not needed:
        return known, []
    start = radius * min(1.0, (4 * needed / known) ** 0.5)
    ranked = _in_rings(searcher, schema, q.near, free, needed, start, radius)
    return min(known, names.ENOUGH), _by_name_within_ties(
        searcher, ranked, q.offset, q.offset + q.per_page
    )


def nearest_first(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    order: names.Order,
    q: SearchQuery,
    main: tantivy.Query,
    free: tantivy.Query,
) -> tuple[int, list[tantivy.DocAddress]]:
    """(total, the page's documents): nearest site first, then by name; programs without
    a physical site last, by name. `main` is the whole query; `free` is `main` without
    its radius filter (the same query when there is none): rings of cells measure
    distances themselves, and a radius clause in every ring would be evaluated again."""
    assert q.near is not None
    radius: float | None = q.get("radius_m")
    bounded = radius is not None
    sited_query = main if bounded else all_of(main, Q.term_query(schema, "in_person", True))
    needed = q.offset + q.per_page
    at_hand = max(FEW, needed)  # measured directly when there are no more
    if bounded:
        sited, first = matches(searcher, sited_query, at_hand)
        total = sited
    else:  # the whole catalog may match: count no further than needed
        sited = names.count_up_to(searcher, schema, order, sited_query, at_hand + 1)
        first = every(searcher, sited_query, at_hand) if sited <= at_hand else []
        total = names.count_up_to(searcher, schema, order, main, names.ENOUGH)
    needed = min(needed, sited)
    page: list[tantivy.DocAddress] = []
    if needed:
        if sited <= len(first):  # every match is at hand: measure them all
            ranked = _nearest(distances(searcher, q.near, first), first, needed)
        else:
            # Start where about 4 x `needed` matches lie, if they spread evenly in the circle.
            start = radius * (4 * needed / sited) ** 0.5 if radius else RING_START_M
            in_person = all_of(free, Q.term_query(schema, "in_person", True))
            ranked = _in_rings(searcher, schema, q.near, in_person, needed, start, radius)
        page = _by_name_within_ties(searcher, ranked, q.offset, q.offset + q.per_page)
    if len(page) < q.per_page and q.offset + q.per_page > sited and total > sited:
        siteless = all_of(main, Q.term_query(schema, "in_person", False))
        skip = max(0, q.offset - sited)
        page += names.by_name(searcher, schema, order, siteless, skip, q.per_page - len(page))[1]
    return total, page


def _in_rings(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    near: Point,
    sited_query: tantivy.Query,
    needed: int,
    radius: float,
    limit: float | None,
) -> list[tuple[float, tantivy.DocAddress]]:
    """At least `needed` matches, nearest first, from rings of cells growing around the
    point (from `radius`) until enough matches lie within the ring's radius; none
    farther than `limit` (the query's radius) when there is one."""
    top = RING_MAX_M if limit is None else min(limit, RING_MAX_M)
    while True:
        radius = min(radius, top)
        ring = any_of(schema, "cells", geo.cover(near.lat, near.lng, radius).all)
        n, addresses = matches(searcher, all_of(sited_query, ring))
        if n >= needed or radius >= top:
            if n > len(addresses):
                addresses = every(searcher, all_of(sited_query, ring), n)
            measured = distances(searcher, near, addresses)
            inside = measured <= radius
            if int(inside.sum()) >= needed or radius >= top:
                kept = np.flatnonzero(inside)
                return _nearest(measured[kept], [addresses[i] for i in kept], needed)
        radius *= 2


def _nearest(
    measured: Floats, addresses: list[tantivy.DocAddress], needed: int
) -> list[tuple[float, tantivy.DocAddress]]:
    """The `needed` nearest (and any tied with the last of them), nearest first."""
    if needed < len(measured):
        cut = np.partition(measured, needed - 1)[needed - 1]
        keep = np.flatnonzero(measured <= cut)
    else:
        keep = np.arange(len(measured))
    keep = keep[np.argsort(measured[keep], kind="stable")]
    return [(float(measured[i]), addresses[i]) for i in keep]


def _by_name_within_ties(
    searcher: tantivy.Searcher,
    ranked: list[tuple[float, tantivy.DocAddress]],
    start: int,
    end: int,
) -> list[tantivy.DocAddress]:
    """ranked[start:end], with programs at the same distance (one site, several programs)
    ordered by name: name ranks are read only for the ties in the page and across its
    edges, and their keys only where ranks repeat too."""
    if start >= len(ranked):
        return []
    low, high = start, min(end, len(ranked))
    while low > 0 and ranked[low - 1][0] == ranked[start][0]:
        low -= 1
    while high < len(ranked) and ranked[high][0] == ranked[high - 1][0]:
        high += 1
    window = ranked[low:high]
    tied = [
        i
        for i in range(len(window))
        if (i > 0 and window[i - 1][0] == window[i][0])
        or (i + 1 < len(window) and window[i + 1][0] == window[i][0])
    ]
    if not tied:
        return [a for _, a in window][start - low : end - low]
    ranks = dict(zip(tied, names.ranks(searcher, [window[i][1] for i in tied]), strict=True))
    same = Counter((window[i][0], ranks[i]) for i in tied)  # one distance and one rank
    again = [i for i in tied if same[window[i][0], ranks[i]] > 1]
    keys = dict(zip(again, names.keys(searcher, [window[i][1] for i in again]), strict=True))
    ordered = sorted(
        range(len(window)), key=lambda i: (window[i][0], ranks.get(i, 0), keys.get(i, ""))
    )
    return [window[i][1] for i in ordered][start - low : end - low]
