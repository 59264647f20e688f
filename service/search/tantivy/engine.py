"""The embedded search engine: a tantivy index in this process's memory.

Each API process holds its own index and keeps it current from the change log
(service/search/follower.py); nothing else runs. Searching is CPU work of a millisecond
or so and runs on the event loop; a rebuild runs in a thread and swaps the new index in
whole, so readers always see one complete index.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import orjson
import tantivy

from service.search.document import SearchDocument
from service.search.hits import nearest
from service.search.port import (
    MARK_END,
    MARK_START,
    Hit,
    IndexStats,
    SearchResult,
    render_highlight,
)
from service.search.query import SearchQuery, Sort
from service.search.tantivy import names, nearby
from service.search.tantivy.facets import facet_counts
from service.search.tantivy.geo import site_cells
from service.search.tantivy.query import Translator, Vocabulary, filtered
from service.search.tantivy.schema import (
    ANALYZERS,
    build_schema,
    to_tantivy,
)
from service.search.text import Synonyms

INLINE_APPLY = 200  # documents applied on the event loop; more go to a thread
UPDATE_HEAP = 50_000_000
REBUILD_HEAP = 400_000_000
NAME_CHARS = 500  # a name is highlighted whole
DESCRIPTION_CHARS = 160  # about 24 words, as Meilisearch crops


DOCUMENTS_KEPT = 4096  # stored documents a searcher keeps read (a few KB each)


@dataclass
class _Live:
    """An index with its searcher, the vocabulary read from that searcher, what the index
    knows of its name order, and the stored documents read through this searcher."""

    index: tantivy.Index
    searcher: tantivy.Searcher
    vocabulary: Vocabulary
    order: names.Order
    documents: dict[tuple[int, int], tantivy.Document] = dataclasses.field(default_factory=dict)

    def document(self, address: tantivy.DocAddress) -> tantivy.Document:
        """A stored document. Reading one decompresses its block of the doc store, the
        largest part of a page's cost after the query itself; the documents of popular
        pages are read again and again, so each searcher keeps the last DOCUMENTS_KEPT
        it read (a new searcher, after any change, starts empty: addresses change)."""
        key = (address.segment_ord, address.doc)
        found = self.documents.get(key)
        if found is None:
            if len(self.documents) >= DOCUMENTS_KEPT:
                self.documents.clear()
            found = self.documents[key] = self.searcher.doc(address)
        return found


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
    """A new index filled batch by batch, then made live at once (or dropped). Its
    documents come in name order (the port's promise), numbered as they come."""

    def __init__(self, engine: TantivyEngine) -> None:
        self.engine = engine
        self.index = engine.new_index()
        self.writer = self.index.writer(REBUILD_HEAP, 2)
        self.numbering = names.Numbering()
        self.documents = 0

    def _add(self, documents: Sequence[SearchDocument]) -> None:
        for doc in documents:
            self.writer.add_document(to_tantivy(doc, self.numbering.next(doc)))
        self.documents += len(documents)

    def _finish(self) -> None:
        self.writer.commit()
        self.writer.wait_merging_threads()
        site_cells.cache_clear()  # it served the rebuild; later changes are few

    async def add(self, documents: Sequence[SearchDocument]) -> None:
        await anyio.to_thread.run_sync(self._add, documents)

    async def finish(self) -> None:
        await anyio.to_thread.run_sync(self._finish)
        self.engine.swap(self.index, self.numbering.order)

    async def abort(self) -> None:
        self.writer.rollback()


class TantivyEngine:
    name = "tantivy"

    def __init__(self, synonyms: Synonyms) -> None:
        self.schema = build_schema()
        self.synonyms = synonyms
        self.generation = 0  # changes whenever what searches see changes
        self._writer: tantivy.IndexWriter | None = None
        self._live = self._open(self.new_index(), names.Order())

    # ------------------------------------------------------------------ the index

    def new_index(self) -> tantivy.Index:
        index = tantivy.Index(self.schema)
        for name, analyzer in ANALYZERS.items():
            index.register_tokenizer(name, analyzer)
        return index

    def _open(self, index: tantivy.Index, order: names.Order) -> _Live:
        index.reload()
        searcher = index.searcher()
        return _Live(index, searcher, Vocabulary(searcher), order)

    def swap(self, index: tantivy.Index, order: names.Order) -> None:
        self._writer = None  # the old index's writer goes with it
        self._live = self._open(index, order)
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
        ranks = names.assign(live.searcher, self.schema, live.order, documents)
        for program_id in [*(d.program_id for d in documents), *removed]:
            writer.delete_documents_by_term("program_id", str(program_id))
        for doc, rank in zip(documents, ranks, strict=True):
            writer.add_document(to_tantivy(doc, rank))
        writer.commit()
        self._live = self._open(live.index, live.order)
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
        by_distance = q.effective_sort is Sort.distance and q.near is not None
        # By distance, candidates are measured, so they are searched without the radius.
        free = filtered(words, t.filters(q, None)) if by_distance else None
        if free is not None and q.get("radius_m") is not None and not q.facets:
            total, addresses = nearby.nearest_within(searcher, self.schema, live.order, q, free)
            hits = self._hits(live, q, words, addresses)
            return SearchResult(hits=hits, total=min(total, names.ENOUGH))
        radius = self._radius(searcher, t, q, words)
        main = filtered(words, t.filters(q, radius))
        if free is not None:
            total, addresses = nearby.nearest_first(
                searcher, self.schema, live.order, q, main, free
            )
        else:
            total, addresses = self._ranked(live, q, main)
        hits = self._hits(live, q, words, addresses)
        facets = facet_counts(searcher, t, q, words, radius) if q.facets else {}
        return SearchResult(hits=hits, total=min(total, names.ENOUGH), facets=facets)

    def _ranked(
        self, live: _Live, q: SearchQuery, main: tantivy.Query
    ) -> tuple[int, list[tantivy.DocAddress]]:
        sort, searcher = q.effective_sort, live.searcher
        if sort is Sort.name or sort is Sort.distance:
            return names.by_name(searcher, self.schema, live.order, main, q.offset, q.per_page)
        options: dict[str, Any] = {}
        if sort is Sort.recently_verified:
            options = {"order_by_field": "sort_verified", "order": tantivy.Order.Asc}
        found = searcher.search(main, q.per_page, count=True, offset=q.offset, **options)
        return _count_of(found), [address for _, address in found.hits]

    def _radius(
        self,
        searcher: tantivy.Searcher,
        t: Translator,
        q: SearchQuery,
        words: tantivy.Query | None,
    ) -> tantivy.Query | None:
        """The radius filter. Its edge is measured among the programs every variant of this
        search keeps: matching the words and the filters of no requested facet's group."""
        radius = q.get("radius_m")
        if radius is None or q.near is None:
            return None
        kept = q
        for facet in q.facets:
            kept = kept.without(facet)
        narrowing = [*([words] if words is not None else []), *t.filters(kept, None)]
        return nearby.within(searcher, self.schema, q.near, radius, narrowing)

    def _hits(
        self,
        live: _Live,
        q: SearchQuery,
        words: tantivy.Query | None,
        addresses: list[tantivy.DocAddress],
    ) -> list[Hit]:
        searcher = live.searcher
        docs = [live.document(a) for a in addresses]
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
            in_spanish = spanish and bool(doc.get_first("name_es"))
            suffix = "_es" if in_spanish else ""
            name = str(doc.get_first(f"name{suffix}"))
            # An empty text is not stored: an empty description reads back as None.
            described = doc.get_first(f"description{suffix}") or doc.get_first("description")
            description = str(described or "")
            highlights = {}
            for key, chars in (("name", NAME_CHARS), ("description", DESCRIPTION_CHARS)):
                field = f"{key}{suffix}" if doc.get_first(f"{key}{suffix}") else key
                if (marked := highlight(field, doc, chars)) is not None:
                    highlights[key] = marked
            site, distance = nearest(orjson.loads(_stored(doc, "placed")), q.near)
            hits.append(
                Hit(
                    program_id=uuid.UUID(doc.get_first("program_id")),
                    fixed=_stored(doc, "hit"),
                    name=name,
                    description=description,
                    language="es" if in_spanish else "en",
                    site=site,
                    distance_m=distance,
                    highlights=highlights,
                )
            )
        return hits
