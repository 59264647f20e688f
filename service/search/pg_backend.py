"""The postgres search backend: full text, typo tolerance, facets and distance in PostgreSQL.

Documents live in `search_documents` (see models.py); the worker writes them in the same
transaction that consumes the outbox rows, so the index can never miss a change.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from service.search import pg_filters as f
from service.search.document import SearchDocument
from service.search.pg_index import DOCUMENTS as TABLE
from service.search.pg_index import TEXTS, upsert_documents
from service.search.pg_text import Compiled, QueryCompiler
from service.search.port import (
    MARK_END,
    MARK_START,
    FacetValue,
    Hit,
    IndexStats,
    SearchResult,
    facet_order,
    ordered_facets,
    render_highlight,
)
from service.search.query import MAX_HITS, Facet, SearchQuery, Sort
from service.search.text import (
    Synonyms,
    lexicon_words,
)

D = TABLE.c

_HEADLINE_NAME = f'StartSel="{MARK_START}", StopSel="{MARK_END}", HighlightAll=true'
_HEADLINE_TEXT = (
    f'StartSel="{MARK_START}", StopSel="{MARK_END}", MaxFragments=2, MaxWords=24, '
    'MinWords=8, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class SortKey:
    expression: ColumnElement[Any]
    descending: bool = False

    def clause(self, column: ColumnElement[Any]) -> Any:
        return column.desc().nulls_last() if self.descending else column.asc().nulls_last()


@dataclass
class Rebuild:
    started_at: datetime
    words: set[str] = field(default_factory=set)


class PostgresBackend:
    name = "postgres"

    def __init__(self, synonyms: Synonyms) -> None:
        self.compiler = QueryCompiler(synonyms)

    # ------------------------------------------------------------------ reading

    def _order(self, q: SearchQuery, words: Compiled | None) -> list[SortKey]:
        sort = q.effective_sort
        by_name = [SortKey(D.name_sort), SortKey(D.program_id)]
        if sort is Sort.relevance and words is not None:
            rank: ColumnElement[Any] = func.ts_rank(D.tsv, f.tsquery(words.full))
            if words.typed != words.full:  # literal matches outrank synonyms and spellings
                rank = rank + func.ts_rank(D.tsv, f.tsquery(words.typed))
            return [SortKey(rank, descending=True), *by_name]
        if sort is Sort.distance and q.near is not None:
            # KNN (<->) walks the GiST index nearest first; sites without a point go last.
            return [SortKey(D.geog.op("<->")(f.point(q.near))), *by_name]
        if sort is Sort.recently_verified:
            return [SortKey(D.last_verified_at, descending=True), *by_name]
        return by_name

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        words = await self.compiler.compile(session, query.text) if query.text else None
        tsq = f.tsquery(words.full) if words else None
        groups = f.predicates(query, tsq)
        where = f.all_of(groups)
        capped = select(D.program_id).where(*where).limit(MAX_HITS).subquery()
        total = await session.scalar(select(func.count()).select_from(capped))
        hits = await self._page(session, query, words, where) if total else []
        facets = await self._facets(session, query, groups) if query.facets else {}
        return SearchResult(hits=hits, total=int(total or 0), facets=facets)

    async def _page(
        self,
        session: AsyncSession,
        q: SearchQuery,
        words: Compiled | None,
        where: list[ColumnElement[bool]],
    ) -> list[Hit]:
        tsq = f.tsquery(words.full) if words else None
        order = self._order(q, words)
        inner = (
            select(
                D.program_id,
                D.geog,
                *[k.expression.label(f"k{i}") for i, k in enumerate(order)],
            )
            .where(*where)
            .order_by(*[k.clause(k.expression) for k in order])
            .limit(q.per_page)
            .offset(q.offset)
            .subquery("page")
        )
        p = inner.c
        t = TEXTS.c
        spanish = q.language == "es"
        name = func.coalesce(t.name_es, t.name) if spanish else t.name
        description = func.coalesce(t.description_es, t.description) if spanish else t.description
        columns: list[Any] = [
            p.program_id,
            t.display,
            name.label("shown_name"),
            description.label("shown_description"),
            (t.name_es.is_not(None) if spanish else literal(False)).label("in_spanish"),
        ]
        if q.near is not None:
            columns.append(func.ST_Distance(p.geog, f.point(q.near), False).label("distance"))
        if tsq is not None:
            config = case((t.name_es.is_not(None), f.ES), else_=f.EN) if spanish else f.EN
            columns += [
                func.ts_headline(config, name, tsq, _HEADLINE_NAME).label("hl_name"),
                func.ts_headline(config, description, tsq, _HEADLINE_TEXT).label("hl_description"),
            ]
        outer_order = [k.clause(getattr(p, f"k{i}")) for i, k in enumerate(order)]
        joined = inner.join(TEXTS, TEXTS.c.program_id == p.program_id)
        rows = (
            await session.execute(select(*columns).select_from(joined).order_by(*outer_order))
        ).all()
        hits = []
        for row in rows:
            highlights = {}
            if tsq is not None:
                for key, marked in (("name", row.hl_name), ("description", row.hl_description)):
                    if (rendered := render_highlight(marked)) is not None:
                        highlights[key] = rendered
            hits.append(
                Hit(
                    program_id=row.program_id,
                    display=row.display,
                    name=row.shown_name,
                    description=row.shown_description,
                    language="es" if row.in_spanish else "en",
                    distance_m=None
                    if q.near is None or row.distance is None
                    else float(row.distance),
                    highlights=highlights,
                )
            )
        return hits

    async def _facets(
        self,
        session: AsyncSession,
        q: SearchQuery,
        groups: dict[Facet | None, list[ColumnElement[bool]]],
    ) -> dict[Facet, list[FacetValue]]:
        if groups[None]:
            parts = self._facets_over_matches(q, groups)
        else:
            parts = []
            for facet in q.facets:
                preds = [p for g, ps in groups.items() if g is not facet for p in ps]
                values = (
                    select(f.facet_values(facet, q).label("value"))
                    .select_from(TABLE)
                    .where(*preds)
                    .subquery()
                )
                parts.append(
                    select(literal(facet.value).label("facet"), values.c.value, func.count())
                    .where(values.c.value.is_not(None))
                    .group_by(values.c.value)
                )
        counts: dict[Facet, dict[str, int]] = {facet: {} for facet in q.facets}
        for facet, value, count in (await session.execute(union_all(*parts))).all():
            counts[Facet(facet)][value] = count
        return {facet: ordered_facets(c, facet_order(facet)) for facet, c in counts.items()}

    def _facets_over_matches(
        self, q: SearchQuery, groups: dict[Facet | None, list[ColumnElement[bool]]]
    ) -> list[Any]:
        """Facets in one pass: the rows matching the shared filters (words, place, ...)
        once, with a flag per facet group; each facet counts the rows whose other flags hold.
        """
        flagged = [g for g in groups if g is not None and groups[g]]
        matched = (
            select(
                *[getattr(D, name) for name in (*f.FACET_COLUMNS, *f.SLOT_COLUMNS)],
                *[and_(*groups[g]).label(f"in_{g.value}") for g in flagged],
            )
            .where(*groups[None])
            .cte("matched")
            .prefix_with("MATERIALIZED")
        )
        parts = []
        for facet in q.facets:
            others = [getattr(matched.c, f"in_{g.value}") for g in flagged if g is not facet]
            values = (
                select(f.facet_values(facet, q, matched.c).label("value"))
                .select_from(matched)
                .where(*others)
                .subquery()
            )
            parts.append(
                select(literal(facet.value).label("facet"), values.c.value, func.count())
                .where(values.c.value.is_not(None))
                .group_by(values.c.value)
            )
        return parts

    # ------------------------------------------------------------------ writing

    async def apply(
        self,
        session: AsyncSession,
        documents: Sequence[SearchDocument],
        removed: Sequence[uuid.UUID],
    ) -> None:
        await upsert_documents(session, documents)
        if removed:
            await session.execute(delete(TABLE).where(D.program_id == func.any(list(removed))))

    async def begin_rebuild(self, session: AsyncSession) -> Rebuild:
        started = await session.scalar(select(func.clock_timestamp()))
        assert started is not None
        return Rebuild(started_at=started)

    async def apply_rebuild(
        self, session: AsyncSession, handle: Any, documents: Sequence[SearchDocument]
    ) -> None:
        # Rows are replaced in place, batch by batch: readers keep seeing a whole index.
        await upsert_documents(session, documents)
        handle.words.update(w for d in documents for w in lexicon_words(d.texts))

    async def finish_rebuild(self, session: AsyncSession, handle: Any) -> None:
        await session.execute(delete(TABLE).where(D.indexed_at < handle.started_at))
        await session.execute(
            text("DELETE FROM search_lexicon WHERE NOT (word = ANY(CAST(:words AS text[])))"),
            {"words": sorted(handle.words)},
        )

    async def stats(self, session: AsyncSession) -> IndexStats:
        count = await session.scalar(select(func.count()).select_from(TABLE))
        return IndexStats(backend=self.name, documents=int(count or 0))
