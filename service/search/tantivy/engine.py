"""The embedded search engine: a tantivy index in this process's memory.

Each API process holds its own index and keeps it current from the change log
(service/search/follower.py); nothing else runs. Searching is CPU work of a millisecond
or so and runs on the event loop; a rebuild runs in a thread and swaps the new index in
whole, so readers always see one complete index.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
import tantivy

from service.search.document import WEEKDAYS, SearchDocument
from service.search.filters import FACET_FIELDS, Facet
from service.search.port import (
    MARK_END,
    MARK_START,
    FacetValue,
    Hit,
    IndexStats,
    SearchResult,
    facet_order,
    haversine_m,
    nearest_location,
    ordered_facets,
    render_highlight,
)
from service.search.query import MAX_HITS, SearchQuery, Sort
from service.search.tantivy import geo
from service.search.tantivy.query import Occur, Q, Translator, Vocabulary
from service.search.tantivy.schema import ANALYZERS, build_schema, to_tantivy, unpack_points
from service.search.text import Synonyms

INLINE_APPLY = 200  # documents applied on the event loop; more go to a thread
UPDATE_HEAP = 50_000_000
REBUILD_HEAP = 400_000_000
MAX_FACET_VALUES = 1000
RING_START_M = 1_000.0
RING_MAX_M = 2_000_000.0
NAME_CHARS = 500  # a name is highlighted whole
DESCRIPTION_CHARS = 160  # about 24 words, as Meilisearch crops


@dataclass
class _Live:
    """An index with its searcher and the vocabulary read from that searcher."""

    index: tantivy.Index
    searcher: tantivy.Searcher
    vocabulary: Vocabulary


def _and(parts: Sequence[tantivy.Query | None]) -> tantivy.Query:
    present = [p for p in parts if p is not None]
    if not present:
        return Q.all_query()
    if len(present) == 1:
        return present[0]
    return Q.boolean_query([(Occur.Must, p) for p in present])


def _filtered(words: tantivy.Query | None, filters: Sequence[tantivy.Query]) -> tantivy.Query:
    """Words rank; filters only narrow (they score nothing)."""
    return _and([words, *(Q.const_score_query(f, 0.0) for f in filters)])


def _count_of(found: tantivy.SearchResult) -> int:
    """How many documents matched (tantivy's type stub lacks SearchResult.count)."""
    return int(found.count or 0)  # type: ignore[attr-defined]


def _stored(doc: tantivy.Document, field: str) -> bytes:
    value = doc.get_first(field)
    assert isinstance(value, bytes), field
    return value


def _marked(snippet: tantivy.Snippet) -> str | None:
    text = snippet.fragment()
    ranges = snippet.highlighted()
    if not ranges:
        return None
    out, at = [], 0
    for r in ranges:
        out += [text[at : r.start], MARK_START, text[r.start : r.end], MARK_END]
        at = r.end
    out.append(text[at:])
    return render_highlight("".join(out))


class TantivyRebuild:
    """A new index filled batch by batch, then made live at once (or dropped)."""

    def __init__(self, engine: TantivyEngine) -> None:
        self.engine = engine
        self.index = engine.new_index()
        self.writer = self.index.writer(REBUILD_HEAP, 2)
        self.documents = 0

    def _add(self, documents: Sequence[SearchDocument]) -> None:
        for doc in documents:
            self.writer.add_document(to_tantivy(doc))
        self.documents += len(documents)

    def _finish(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()

    async def add(self, documents: Sequence[SearchDocument]) -> None:
        await anyio.to_thread.run_sync(self._add, documents)

    async def finish(self) -> None:
        await anyio.to_thread.run_sync(self._finish)
        self.engine.swap(self.index)

    async def abort(self) -> None:
        self.writer.rollback()


class TantivyEngine:
    name = "tantivy"

    def __init__(self, synonyms: Synonyms) -> None:
        self.schema = build_schema()
        self.synonyms = synonyms
        self.generation = 0  # changes whenever what searches see changes
        self._writer: tantivy.IndexWriter | None = None
        self._live = self._open(self.new_index())

    # ------------------------------------------------------------------ the index

    def new_index(self) -> tantivy.Index:
        index = tantivy.Index(self.schema)
        for name, analyzer in ANALYZERS.items():
            index.register_tokenizer(name, analyzer)
        return index

    def _open(self, index: tantivy.Index) -> _Live:
        index.reload()
        searcher = index.searcher()
        return _Live(index, searcher, Vocabulary(searcher))

    def swap(self, index: tantivy.Index) -> None:
        self._writer = None  # the old index's writer goes with it
        self._live = self._open(index)
        self.generation += 1

    async def rebuild(self) -> TantivyRebuild:
        return TantivyRebuild(self)

    async def apply(
        self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        """Replace the documents of these programs and drop the removed ones (a large batch
        in a thread, so that searches go on meanwhile)."""
        if len(documents) > INLINE_APPLY:
            await anyio.to_thread.run_sync(self._apply, documents, removed)
        else:
            self._apply(documents, removed)

    def _apply(self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]) -> None:
        if not documents and not removed:
            return
        live = self._live
        if self._writer is None:
            self._writer = live.index.writer(UPDATE_HEAP, 1)
        writer = self._writer
        for program_id in [*(d.program_id for d in documents), *removed]:
            writer.delete_documents_by_term("program_id", str(program_id))
        for doc in documents:
            writer.add_document(to_tantivy(doc))
        writer.commit()
        self._live = self._open(live.index)
        self.generation += 1

    async def stats(self) -> IndexStats:
        return IndexStats(backend=self.name, documents=self._live.searcher.num_docs)

    # ------------------------------------------------------------------ searching

    async def search(self, query: SearchQuery) -> SearchResult:
        """On the event loop: a search is a millisecond or so of CPU."""
        return self.search_now(query)

    def search_now(self, q: SearchQuery) -> SearchResult:
        live = self._live  # one searcher for the whole answer
        searcher = live.searcher
        t = Translator(self.schema, self.synonyms, live.vocabulary)
        words = t.words(q.text) if q.text else None
        radius = self._radius(searcher, t, q)
        main = _filtered(words, t.filters(q, radius))
        if q.effective_sort is Sort.distance and q.near is not None:
            total, addresses = self._by_distance(searcher, q, main)
        else:
            total, addresses = self._ranked(searcher, q, main)
        hits = self._hits(searcher, q, words, addresses)
        facets = self._facets(searcher, t, q, words, radius) if q.facets else {}
        return SearchResult(hits=hits, total=min(total, MAX_HITS), facets=facets)

    def _ranked(
        self, searcher: tantivy.Searcher, q: SearchQuery, main: tantivy.Query
    ) -> tuple[int, list[tantivy.DocAddress]]:
        sort = q.effective_sort
        options: dict[str, Any] = {}
        if sort is Sort.name or sort is Sort.distance:
            options = {"order_by_field": "sort_name", "order": tantivy.Order.Asc}
        elif sort is Sort.recently_verified:
            options = {"order_by_field": "sort_verified", "order": tantivy.Order.Asc}
        found = searcher.search(main, q.per_page, count=True, offset=q.offset, **options)
        return _count_of(found), [address for _, address in found.hits]

    def _count(self, searcher: tantivy.Searcher, query: tantivy.Query) -> int:
        return _count_of(searcher.search(query, 1, count=True))  # a limit of 0 panics

    def _nearest(
        self, searcher: tantivy.Searcher, q: SearchQuery, addresses: list[tantivy.DocAddress]
    ) -> list[float]:
        """Each document's distance to q.near: its nearest physical site."""
        assert q.near is not None
        lats = searcher.fast_field_values("lat", addresses)
        lngs = searcher.fast_field_values("lng", addresses)
        sites = searcher.fast_field_values("sites", addresses)
        out = []
        for address, lat, lng, count in zip(addresses, lats, lngs, sites, strict=True):
            if count == 1:
                out.append(haversine_m(q.near, float(lat or 0), float(lng or 0)))
            else:
                points = unpack_points(_stored(searcher.doc(address), "points"))
                out.append(min(haversine_m(q.near, a, b) for a, b in points))
        return out

    def _radius(
        self, searcher: tantivy.Searcher, t: Translator, q: SearchQuery
    ) -> tantivy.Query | None:
        """The sites within radius_m of q.near: cells inside the circle, and the programs
        in its edge cells that are, measured one by one."""
        radius = q.get("radius_m")
        if radius is None or q.near is None:
            return None
        cover = geo.cover(q.near.lat, q.near.lng, float(radius))
        parts = []
        if cover.inside:
            parts.append(t._terms("cells", cover.inside))
        if cover.edge:
            edge = t._terms("cells", cover.edge)
            found = searcher.search(edge, max(self._count(searcher, edge), 1), count=False)
            addresses = [a for _, a in found.hits]
            keys = searcher.fast_field_values("key", addresses)
            within = [
                key
                for key, distance in zip(keys, self._nearest(searcher, q, addresses), strict=True)
                if distance <= radius
            ]
            if within:
                parts.append(Q.term_set_query(self.schema, "key", within))
        if not parts:
            return Q.empty_query()
        return Q.boolean_query([(Occur.Should, p) for p in parts])

    def _by_distance(
        self, searcher: tantivy.Searcher, q: SearchQuery, main: tantivy.Query
    ) -> tuple[int, list[tantivy.DocAddress]]:
        """Nearest site first, then by name; programs without a physical site last.

        Rings of cells grow around the point until they hold enough programs measured
        within the ring's radius; only those programs are measured and sorted."""
        assert q.near is not None
        total = self._count(searcher, main)
        sited_query = _and([main, Q.term_query(self.schema, "in_person", True)])
        sited = self._count(searcher, sited_query)
        needed = min(q.offset + q.per_page, sited)
        ranked: list[tuple[float, str, tantivy.DocAddress]] = []
        radius = RING_START_M
        while needed:
            cover = geo.cover(q.near.lat, q.near.lng, radius)
            ring = Q.term_set_query(self.schema, "cells", list(cover.all))
            in_ring = _and([sited_query, ring])
            count = self._count(searcher, in_ring)
            if count >= needed or radius >= RING_MAX_M:
                found = searcher.search(in_ring, max(count, 1), count=False)
                addresses = [a for _, a in found.hits]
                distances = self._nearest(searcher, q, addresses)
                close = [(d, a) for d, a in zip(distances, addresses, strict=True) if d <= radius]
                if len(close) >= needed or radius >= RING_MAX_M:
                    names = [str(searcher.doc(a).get_first("sort_name")) for _, a in close]
                    ranked = sorted(
                        ((d, n, a) for (d, a), n in zip(close, names, strict=True)),
                        key=lambda row: (row[0], row[1]),
                    )
                    break
            radius *= 2
        page = [a for _, _, a in ranked[q.offset : q.offset + q.per_page]]
        if len(page) < q.per_page and q.offset + q.per_page > sited:
            siteless = _and([main, Q.term_query(self.schema, "in_person", False)])
            skip = max(0, q.offset - sited)
            found = searcher.search(
                siteless,
                q.per_page - len(page),
                count=False,
                offset=skip,
                order_by_field="sort_name",
                order=tantivy.Order.Asc,
            )
            page += [a for _, a in found.hits]
        return total, page

    def _hits(
        self,
        searcher: tantivy.Searcher,
        q: SearchQuery,
        words: tantivy.Query | None,
        addresses: list[tantivy.DocAddress],
    ) -> list[Hit]:
        docs = [searcher.doc(a) for a in addresses]
        spanish = q.language == "es"
        generators: dict[str, tantivy.SnippetGenerator] = {}

        def highlight(field: str, doc: tantivy.Document, chars: int) -> str | None:
            if words is None:
                return None
            if field not in generators:
                generators[field] = tantivy.SnippetGenerator.create(
                    searcher, words, self.schema, field
                )
                generators[field].set_max_num_chars(chars)
            return _marked(generators[field].snippet_from_doc(doc))

        hits = []
        for doc in docs:
            display = orjson.loads(_stored(doc, "display"))
            in_spanish = spanish and bool(doc.get_first("name_es"))
            suffix = "_es" if in_spanish else ""
            name = str(doc.get_first(f"name{suffix}"))
            description = str(doc.get_first(f"description{suffix}") or doc.get_first("description"))
            highlights = {}
            for key, chars in (("name", NAME_CHARS), ("description", DESCRIPTION_CHARS)):
                field = f"{key}{suffix}" if doc.get_first(f"{key}{suffix}") else key
                if (marked := highlight(field, doc, chars)) is not None:
                    highlights[key] = marked
            site = nearest_location(display, q.near)
            distance = (
                haversine_m(q.near, site["latitude"], site["longitude"])
                if q.near is not None and site is not None
                else None
            )
            hits.append(
                Hit(
                    program_id=uuid.UUID(doc.get_first("program_id")),
                    display=display,
                    name=name,
                    description=description,
                    language="es" if in_spanish else "en",
                    distance_m=distance,
                    highlights=highlights,
                )
            )
        return hits

    def _facets(
        self,
        searcher: tantivy.Searcher,
        t: Translator,
        q: SearchQuery,
        words: tantivy.Query | None,
        radius: tantivy.Query | None,
    ) -> dict[Facet, list[FacetValue]]:
        """Disjunctive counts: each facet over the query without its own group's filters.
        Facets whose group the query does not filter share one aggregation."""
        counts: dict[Facet, dict[str, int]] = {f: {} for f in q.facets}
        shared: list[Facet] = []
        for facet in q.facets:
            if facet is Facet.day and q.has_window:
                free = q.without(facet)
                base = t.filters(free, radius)
                for day in WEEKDAYS:
                    query = _filtered(words, [*base, t.window(q, [day.value])])
                    if n := self._count(searcher, query):
                        counts[facet][day.value] = n
            elif q.filters_facet(facet):
                query = _filtered(words, t.filters(q.without(facet), radius))
                counts[facet] = self._terms(searcher, query, [facet])[facet]
            else:
                shared.append(facet)
        if shared:
            query = _filtered(words, t.filters(q, radius))
            counts.update(self._terms(searcher, query, shared))
        return {f: ordered_facets(c, facet_order(f)) for f, c in counts.items()}

    def _terms(
        self, searcher: tantivy.Searcher, query: tantivy.Query, facets: list[Facet]
    ) -> dict[Facet, dict[str, int]]:
        spec = {
            f.value: {"terms": {"field": FACET_FIELDS[f], "size": MAX_FACET_VALUES}} for f in facets
        }
        result = searcher.aggregate(query, spec)
        return {
            f: {b["key"]: int(b["doc_count"]) for b in result[f.value]["buckets"]} for f in facets
        }
