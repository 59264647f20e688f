"""Read programs from the catalog as `ProgramSource`s, a batch per query."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.scope import public_program_sql
from service.catalog.enums import CostPeriod, Season
from service.reader import Reader, compile_statement
from service.search.document import (
    Contact,
    CostSource,
    LocationSource,
    ProgramSource,
    ScheduleSource,
    TermSource,
    name_key,
)

# Only public programs (auth.scope) are searchable; any other status removes the document.
_SELECT = """
    SELECT p.id, p.organization_id, o.name AS organization_name, p.name, p.description,
           p.translations::text AS translations, p.category, p.min_age, p.max_age,
           p.min_grade, p.max_grade,
           p.languages, p.season, p.starts_on, p.ends_on, p.enrollment_status,
           p.seats_available, p.registration_deadline, p.transportation_provided,
           p.accessibility, p.accepting_referrals, p.last_verified_at,
           p.url, p.email, o.website AS organization_website, o.phone AS organization_phone,
           o.email AS organization_email,
           (SELECT array_agg(pt.taxonomy_term_id) FROM program_taxonomy_terms pt
             WHERE pt.program_id = p.id) AS term_ids,
           (SELECT json_agg(json_build_object(
                     'free', c.free, 'amount', c.amount, 'period', c.period,
                     'sliding_scale', c.sliding_scale, 'scholarships', c.scholarships)
                   ORDER BY c.position)
              FROM cost_options c WHERE c.program_id = p.id)::text AS costs,
           (SELECT json_agg(json_build_object(
                     'byday', s.byday,
                     'opens', extract(hour FROM s.opens_at) * 60 + extract(minute FROM s.opens_at),
                     'closes', extract(hour FROM s.closes_at) * 60
                               + extract(minute FROM s.closes_at))
                   ORDER BY s.position)
              FROM schedules s WHERE s.program_id = p.id)::text AS schedules,
           (SELECT json_agg(json_build_object(
                     'id', l.id, 'name', l.name, 'address_1', l.address_1, 'city', l.city,
                     'state', l.state, 'postal_code', l.postal_code, 'virtual', l.is_virtual,
                     'lat', ST_Y(l.point::geometry), 'lng', ST_X(l.point::geometry),
                     'zcta', l.zcta, 'tract', l.tract_geoid,
                     'in_city', l.point IS NOT NULL AND EXISTS (
                         SELECT 1 FROM areas a
                          WHERE a.kind = 'city' AND ST_Intersects(a.geom, l.point::geometry)))
                   ORDER BY l.name, l.id)
              FROM program_locations pl JOIN locations l ON l.id = pl.location_id
             WHERE pl.program_id = p.id)::text AS locations
      FROM programs p JOIN organizations o ON o.id = p.organization_id
     WHERE {public} AND {which}
    """.replace("{public}", public_program_sql("p"))
# json columns come as text, parsed by orjson in _json: the driver's JSON codec
# (SQLAlchemy's, in Python) cost a tenth of a rebuild.
_PROGRAMS = text(_SELECT.replace("{which}", "p.id = ANY(:ids)"))

_TERMS = text("SELECT id, code, name, name_es, parent_id FROM taxonomy_terms")
# Run on the driver (service/reader.py): a rebuild reads every program, and SQLAlchemy's
# row processing took as long as PostgreSQL's own work.
_PROGRAMS_SQL = compile_statement(_PROGRAMS)
_NAMES = compile_statement(
    text("SELECT id, name FROM programs p WHERE " + public_program_sql("p"))  # noqa: S608
)
# Enum members by value: a dict lookup is a tenth of an enum call, once per program.
_SEASONS = {s.value: s for s in Season}
_PERIODS: dict[str | None, CostPeriod | None] = {p.value: p for p in CostPeriod} | {None: None}


def _json(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    return orjson.loads(value) if isinstance(value, str) else list(value)


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    return orjson.loads(value) if isinstance(value, str) else dict(value)


def _dec(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


class TermIndex:
    """Taxonomy terms by id, with each term's ancestors (a child matches its parents);
    both worked out once per index step, not once per program."""

    def __init__(self, rows: Sequence[Any]) -> None:
        self.terms = {r.id: r for r in rows}
        self._sources = {
            r.id: TermSource(code=r.code, name=r.name, name_es=r.name_es) for r in rows
        }
        self._ancestors = {r.id: tuple(self._walk(r.id)) for r in rows}

    def source(self, term_id: uuid.UUID) -> TermSource:
        return self._sources[term_id]

    def ancestors(self, term_id: uuid.UUID) -> tuple[str, ...]:
        return self._ancestors[term_id]

    def _walk(self, term_id: uuid.UUID) -> list[str]:
        codes, seen = [], {term_id}
        parent = self.terms[term_id].parent_id
        while parent is not None and parent not in seen and parent in self.terms:
            seen.add(parent)
            codes.append(self.terms[parent].code)
            parent = self.terms[parent].parent_id
        return codes


def _source(row: Any, terms: TermIndex) -> ProgramSource:
    """A row of _PROGRAMS (an asyncpg Record) as a ProgramSource."""
    term_ids = [t for t in (row["term_ids"] or ()) if t in terms.terms]
    return ProgramSource(
        id=row["id"],
        organization_id=row["organization_id"],
        organization_name=row["organization_name"],
        name=row["name"],
        description=row["description"],
        translations=_object(row["translations"]),
        category=row["category"],
        min_age=row["min_age"],
        max_age=row["max_age"],
        min_grade=row["min_grade"],
        max_grade=row["max_grade"],
        languages=tuple(row["languages"] or ()),
        season=_SEASONS[row["season"]],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        enrollment_status=row["enrollment_status"],
        seats_available=row["seats_available"],
        registration_deadline=row["registration_deadline"],
        transportation_provided=row["transportation_provided"],
        accessibility=tuple(row["accessibility"] or ()),
        accepting_referrals=row["accepting_referrals"],
        last_verified_at=row["last_verified_at"],
        contact=Contact(
            phone=row["organization_phone"],
            website=row["url"] or row["organization_website"],
            email=row["email"] or row["organization_email"],
        ),
        terms=tuple(sorted((terms.source(t) for t in term_ids), key=lambda t: t.code)),
        ancestor_codes=tuple(c for t in term_ids for c in terms.ancestors(t)),
        costs=tuple(
            CostSource(
                free=c["free"],
                amount=_dec(c["amount"]),
                period=_PERIODS[c["period"]],
                sliding_scale=c["sliding_scale"],
                scholarships=c["scholarships"],
            )
            for c in _json(row["costs"])
        ),
        schedules=tuple(
            ScheduleSource(tuple(s["byday"] or ()), int(s["opens"]), int(s["closes"]))
            for s in _json(row["schedules"])
        ),
        locations=tuple(
            LocationSource(
                id=uuid.UUID(str(loc["id"])),
                name=loc["name"],
                address_1=loc["address_1"],
                city=loc["city"],
                state=loc["state"],
                postal_code=loc["postal_code"],
                virtual=loc["virtual"],
                lat=loc["lat"],
                lng=loc["lng"],
                zcta=loc["zcta"],
                tract=loc["tract"],
                in_city=bool(loc["in_city"]),
            )
            for loc in _json(row["locations"])
        ),
    )


async def load_sources(
    session: AsyncSession, program_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, ProgramSource]:
    """The searchable (active) programs among `program_ids`, by id."""
    if not program_ids:
        return {}
    terms = TermIndex((await session.execute(_TERMS)).all())
    rows = await Reader(session=session).fetch(_PROGRAMS_SQL, ids=list(program_ids))
    return {row["id"]: _source(row, terms) for row in rows}


async def in_name_order(session: AsyncSession) -> list[uuid.UUID]:
    """Every searchable program's id, in the search's name order (document.name_key):
    the order a rebuild adds documents in, so that an engine can number them."""
    rows = await Reader(session=session).fetch(_NAMES)
    return [r["id"] for r in sorted(rows, key=lambda r: name_key(r["name"], r["id"]))]


async def active_program_ids(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Active program ids in id order, a page at a time (for reindexing)."""
    rows = await session.scalars(
        text(
            "SELECT id FROM programs WHERE "  # noqa: S608 - the predicate is ours
            + public_program_sql()
            + " AND (CAST(:after AS uuid) IS NULL OR id > :after) ORDER BY id LIMIT :limit"
        ),
        {"after": after, "limit": limit},
    )
    return list(rows)
