"""Writing the postgres index: documents, their texts, their tsvector and the lexicon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, bindparam, delete, func, literal_column
from sqlalchemy.dialects.postgresql import Range, insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.search.document import SearchDocument
from service.search.models import (
    SearchDocumentRow,
    SearchLexicon,
    SearchSiteRow,
    SearchTextRow,
)
from service.search.pg_filters import EN, ES, SIMPLE, chain
from service.search.text import fold, lexicon_words

DOCUMENTS: Table = SearchDocumentRow.__table__  # type: ignore[assignment]
TEXTS: Table = SearchTextRow.__table__  # type: ignore[assignment]
SITES: Table = SearchSiteRow.__table__  # type: ignore[assignment]
LEXICON_BATCH = 5000

# The weighted tsvector over English and Spanish: names (A), taxonomy terms (B),
# organization name (C), descriptions (D). Spanish names fall back to the English name.
TSV_PARTS: tuple[tuple[ColumnElement[Any], str, str], ...] = (
    (EN, "t_name", "A"),
    (ES, "t_name_es", "A"),
    (EN, "t_terms", "B"),
    (ES, "t_terms_es", "B"),
    (SIMPLE, "t_organization", "C"),
    (EN, "t_description", "D"),
    (ES, "t_description_es", "D"),
)


def _tsvector() -> ColumnElement[Any]:
    return chain(
        "||",
        [
            func.setweight(
                func.to_tsvector(config, bindparam(key, type_=Text)),
                literal_column(f"'{weight}'"),
            )
            for config, key, weight in TSV_PARTS
        ],
    )


def document_row(doc: SearchDocument) -> dict[str, Any]:
    points = ",".join(f"({lng} {lat})" for lat, lng in doc.points)
    return {
        "program_id": doc.program_id,
        "organization_id": doc.organization_id,
        "name_sort": fold(doc.name),
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
        "t_name": doc.name,
        "t_name_es": doc.name_es or doc.name,
        "t_terms": doc.terms,
        "t_terms_es": doc.terms_es,
        "t_organization": doc.organization_name,
        "t_description": doc.description,
        "t_description_es": doc.description_es or "",
    }


def text_row(doc: SearchDocument) -> dict[str, Any]:
    return {
        "program_id": doc.program_id,
        "name": doc.name,
        "description": doc.description,
        "name_es": doc.name_es,
        "description_es": doc.description_es,
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
    columns = [c.name for c in DOCUMENTS.columns if c.name not in ("tsv", "indexed_at")]
    stmt = insert(DOCUMENTS).values(
        {**{name: bindparam(name) for name in columns}, "tsv": _tsvector()}
    )
    changed: dict[str, Any] = {
        name: stmt.excluded[name] for name in columns if name != "program_id"
    }
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["program_id"],
            set_={**changed, "tsv": stmt.excluded.tsv, "indexed_at": func.now()},
        ),
        [document_row(d) for d in documents],
    )
    await session.execute(
        delete(SITES).where(SITES.c.program_id == func.any([d.program_id for d in documents]))
    )
    sites = [
        {"program_id": d.program_id, "site": i, "point": f"SRID=4326;POINT({lng} {lat})"}
        for d in documents
        for i, (lat, lng) in enumerate(d.points)
    ]
    if sites:
        await session.execute(insert(SITES), sites)
    texts = insert(TEXTS)
    await session.execute(
        texts.on_conflict_do_update(
            index_elements=["program_id"],
            set_={c.name: texts.excluded[c.name] for c in TEXTS.columns if c.name != "program_id"},
        ),
        [text_row(d) for d in documents],
    )
    await _add_words(session, {w for d in documents for w in lexicon_words(d.texts)})
