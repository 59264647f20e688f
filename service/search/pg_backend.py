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
    Table,
    case,
    delete,
    func,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.dialects.postgresql import Range, insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.search import pg_filters as f
from service.search.document import SearchDocument
from service.search.models import SearchDocumentRow, SearchLexicon
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
from service.search.query import Facet, SearchQuery, Sort
from service.search.text import (
    Synonyms,
    Unit,
    fold,
    lexicon_words,
    near_spellings,
    parse_query,
    typo_targets,
    with_spellings,
)

TABLE: Table = SearchDocumentRow.__table__  # type: ignore[assignment]
D = TABLE.c
LEXICON_BATCH = 5000

# One round trip per text query: which words are stop words (dropped, as a search engine
# would), which are in the lexicon, and the nearest lexicon words of those that are not.
_PREPARE = text(
    """
    SELECT w.word,
           numnode(websearch_to_tsquery('yl_en', w.word)) = 0
             OR numnode(websearch_to_tsquery('yl_es', w.word)) = 0 AS stop,
           k.known,
           CASE WHEN k.known OR NOT w.fuzzy THEN ARRAY[]::text[]
                ELSE ARRAY(SELECT l.word FROM search_lexicon l
                            ORDER BY l.word <-> w.word LIMIT 12) END AS near
      FROM unnest(CAST(:words AS text[]), CAST(:fuzzy AS boolean[])) AS w(word, fuzzy)
     CROSS JOIN LATERAL (
           SELECT EXISTS (SELECT 1 FROM search_lexicon l WHERE l.word = w.word) AS known) k
    """
)

_HEADLINE_NAME = f'StartSel="{MARK_START}", StopSel="{MARK_END}", HighlightAll=true'
_HEADLINE_TEXT = (
    f'StartSel="{MARK_START}", StopSel="{MARK_END}", MaxFragments=2, MaxWords=24, '
    'MinWords=8, FragmentDelimiter=" … "'
)


def document_row(doc: SearchDocument) -> dict[str, Any]:
    points = ",".join(f"({lng} {lat})" for lat, lng in doc.points)
    return {
        "program_id": doc.program_id,
        "organization_id": doc.organization_id,
        "organization_name": doc.organization_name,
        "name": doc.name,
        "name_sort": fold(doc.name),
        "description": doc.description,
        "name_es": doc.name_es,
        "description_es": doc.description_es,
        "terms": doc.terms,
        "terms_es": doc.terms_es,
        "term_codes": list(doc.term_codes),
        "category": doc.category,
        "ages": Range(doc.age_lo, doc.age_hi, bounds="[]"),
        "age_bands": list(doc.age_bands),
        "grades": (
            Range(doc.grade_lo, doc.grade_hi, bounds="[]")
            if doc.grade_lo <= doc.grade_hi
            else Range(empty=True)
        ),
        "monthly_cost": doc.monthly_cost,
        "cost_band": doc.cost_band,
        "languages": list(doc.languages),
        "days": list(doc.days),
        "slot_days": [s[0] for s in doc.slots],
        "slot_opens": [s[1] for s in doc.slots],
        "slot_closes": [s[2] for s in doc.slots],
        "season": doc.season,
        "runs": Range(
            None if doc.runs_from.year == 1 else doc.runs_from,
            None if doc.runs_to.year == 9999 else doc.runs_to,
            bounds="[]",
        ),
        "enrollment_status": doc.enrollment_status,
        "registration_deadline": doc.registration_deadline,
        "accepting_referrals": doc.accepting_referrals,
        "transportation": doc.transportation,
        "accessibility": list(doc.accessibility),
        "virtual": doc.virtual,
        "in_person": doc.in_person,
        "last_verified_at": doc.last_verified_at,
        "geog": f"SRID=4326;MULTIPOINT({points})" if doc.points else None,
        "zips": list(doc.zips),
        "tracts": list(doc.tracts),
        "in_city": doc.in_city,
        "display": doc.display,
    }


async def _add_words(session: AsyncSession, words: set[str]) -> None:
    ordered = sorted(words)  # one order for every writer: no deadlocks between workers
    for start in range(0, len(ordered), LEXICON_BATCH):
        chunk = ordered[start : start + LEXICON_BATCH]
        await session.execute(
            insert(SearchLexicon).values([{"word": w} for w in chunk]).on_conflict_do_nothing()
        )


async def upsert_documents(session: AsyncSession, documents: Sequence[SearchDocument]) -> None:
    if not documents:
        return
    stmt = insert(TABLE)
    updated: dict[str, Any] = {
        c.name: stmt.excluded[c.name]
        for c in TABLE.columns
        if c.name not in ("program_id", "tsv", "indexed_at")
    }
    updated["indexed_at"] = func.now()
    await session.execute(
        stmt.on_conflict_do_update(index_elements=[D.program_id], set_=updated),
        [document_row(d) for d in documents],
    )
    await _add_words(session, {w for d in documents for w in lexicon_words(d.texts)})


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
        self.synonyms = synonyms

    # ------------------------------------------------------------------ reading

    async def _units(self, session: AsyncSession, query_text: str) -> list[Unit]:
        units = parse_query(query_text, self.synonyms)
        singles = sorted({u.source[0] for u in units if len(u.source) == 1})
        if not singles:
            return units
        fuzzy = set(typo_targets(units))
        rows = (
            await session.execute(
                _PREPARE, {"words": singles, "fuzzy": [w in fuzzy for w in singles]}
            )
        ).all()
        stop = {r.word for r in rows if r.stop}
        spellings = {r.word: near_spellings(r.word, r.near) for r in rows if r.near}
        kept = [u for u in units if not (len(u.source) == 1 and u.source[0] in stop)]
        return with_spellings(kept, spellings, self.synonyms)

    def _order(self, q: SearchQuery, units: list[Unit]) -> list[SortKey]:
        sort = q.effective_sort
        by_name = [SortKey(D.name_sort), SortKey(D.program_id)]
        if sort is Sort.relevance and units:
            rank = func.ts_rank(D.tsv, f.tsquery(units)) + func.ts_rank(
                D.tsv, f.tsquery(units, as_typed=True)
            )
            return [SortKey(rank, descending=True), *by_name]
        if sort is Sort.distance and q.near is not None:
            # KNN (<->) walks the GiST index nearest first; sites without a point go last.
            return [SortKey(D.geog.op("<->")(f.point(q.near))), *by_name]
        if sort is Sort.recently_verified:
            return [SortKey(D.last_verified_at, descending=True), *by_name]
        return by_name

    async def search(self, session: AsyncSession, query: SearchQuery) -> SearchResult:
        units = await self._units(session, query.text) if query.text else []
        tsq = f.tsquery(units) if units else None
        groups = f.predicates(query, tsq)
        where = f.all_of(groups)
        total = await session.scalar(select(func.count()).select_from(TABLE).where(*where))
        hits = await self._page(session, query, units, where) if total else []
        facets = await self._facets(session, query, groups) if query.facets else {}
        return SearchResult(hits=hits, total=int(total or 0), facets=facets)

    async def _page(
        self,
        session: AsyncSession,
        q: SearchQuery,
        units: list[Unit],
        where: list[ColumnElement[bool]],
    ) -> list[Hit]:
        tsq = f.tsquery(units) if units else None
        order = self._order(q, units)
        inner = (
            select(
                D.program_id,
                D.display,
                D.name,
                D.description,
                D.name_es,
                D.description_es,
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
        spanish = q.language == "es"
        name = func.coalesce(p.name_es, p.name) if spanish else p.name
        description = func.coalesce(p.description_es, p.description) if spanish else p.description
        columns: list[Any] = [
            p.program_id,
            p.display,
            name.label("shown_name"),
            description.label("shown_description"),
            (p.name_es.is_not(None) if spanish else literal(False)).label("in_spanish"),
        ]
        if q.near is not None:
            columns.append(func.ST_Distance(p.geog, f.point(q.near), False).label("distance"))
        if tsq is not None:
            config = case((p.name_es.is_not(None), f.ES), else_=f.EN) if spanish else f.EN
            columns += [
                func.ts_headline(config, name, tsq, _HEADLINE_NAME).label("hl_name"),
                func.ts_headline(config, description, tsq, _HEADLINE_TEXT).label("hl_description"),
            ]
        outer_order = [k.clause(getattr(p, f"k{i}")) for i, k in enumerate(order)]
        rows = (await session.execute(select(*columns).order_by(*outer_order))).all()
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
