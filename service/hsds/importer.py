"""Importing HSDS 3.0 services: upsert by id, each record whole or not at all.

Every record runs in its own savepoint: it is written completely, or rejected with its
errors and nothing of it stays. A record equal to what is stored writes nothing (no new
version, no outbox row), so importing the same file twice changes nothing. Catalog
triggers put every imported program on the search outbox.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, Literal

import anyio
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.bulk_load import after_bulk_load
from service.catalog.enums import Category
from service.catalog.models import (
    Location,
    Organization,
    Program,
    Taxonomy,
    TaxonomyTerm,
    program_locations,
)
from service.catalog.places import apply_location
from service.catalog.repository import PROGRAM_LOADS
from service.catalog.schemas import LocationFields, ProgramFields
from service.catalog.service import apply_program_fields, current_fields
from service.catalog.views import location_out
from service.errors import AppError
from service.hsds.inbound import Parsed, RecordError, Site, parse, services_in
from service.hsds.shapes import TermIn

Outcome = Literal["created", "updated", "unchanged"]
_END = object()


@dataclass
class Rejected:
    record: int = field(metadata={"description": "Position in the file, from 1"})
    id: str | None
    errors: list[str]


@dataclass
class Summary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    file_error: str | None = None


# From this many written services on, an import is a bulk load (service/bulk_load.py).
BULK = 1000


class SourceError(Exception):
    """The file itself is unreadable from here on (truncated, not JSON, missing table)."""


async def import_records(
    session: AsyncSession,
    records: Iterator[Any],
    default_category: Category = Category.family_support,
) -> Summary:
    """Import every record `records` yields; the caller commits."""
    summary = Summary()
    position = 0
    while True:
        try:
            # Reading and parsing the file blocks: off the event loop, a record at a time.
            record = await anyio.to_thread.run_sync(next, records, _END)
        except SourceError as exc:
            summary.file_error = str(exc)
            break
        if record is _END:
            break
        if isinstance(record, RecordError):  # the reader could not read this one
            position += 1
            summary.rejected.append(Rejected(position, None, record.errors))
            continue
        for one in services_in(record):
            position += 1
            await _one(session, one, position, default_category, summary)
    written = summary.created + summary.updated
    if written >= BULK:  # statistics, and one search rebuild rather than a change each
        await after_bulk_load(session, rebuild=True)
    return summary


async def _one(
    session: AsyncSession, record: Any, position: int, category: Category, summary: Summary
) -> None:
    ident = str(record.get("id")) if isinstance(record, dict) and record.get("id") else None
    try:
        parsed = parse(record, category)
        async with session.begin_nested():
            outcome = await _upsert(session, parsed)
    except RecordError as exc:
        summary.rejected.append(Rejected(position, ident, exc.errors))
        return
    except AppError as exc:
        errors = [exc.detail] + [f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in exc.errors or []]
        summary.rejected.append(Rejected(position, ident, errors))
        return
    except IntegrityError as exc:
        summary.rejected.append(
            Rejected(position, ident, [f"conflicts with stored data: {exc.orig}"])
        )
        return
    setattr(summary, outcome, getattr(summary, outcome) + 1)
    summary.warnings += [f"record {position} ({ident}): {w}" for w in parsed.warnings]


# ---------------------------------------------------------------- one record


async def _upsert(session: AsyncSession, p: Parsed) -> Outcome:
    changed = await _organization(session, p)
    await _taxonomies(session, p)
    codes = await _term_codes(session, p)
    linked = []
    for site in p.sites:
        if site.organization_id != p.organization_id:
            p.warnings.append(f"location {site.id} belongs to another organization: not linked")
            continue
        changed |= await _location(session, site)
        linked.append(site)
    fields = p.program.model_copy(
        update={"taxonomy_terms": codes, "location_ids": [s.id for s in linked]}
    )
    program = await session.scalar(
        select(Program).where(Program.id == p.program_id).options(*PROGRAM_LOADS)
    )
    created = program is None
    if program is None:
        program = Program(
            id=p.program_id,
            organization_id=p.organization_id,
            cost_options=[],
            schedules=[],
            locations=[],
            taxonomy_terms=[],
        )
        session.add(program)
    elif _same_program(program, p, fields):
        return "updated" if changed else "unchanged"
    else:
        program.organization_id = p.organization_id
        program.cost_options, program.schedules = [], []
        await session.flush()  # old children go before new ones take their ids
        program.version += 1
    await apply_program_fields(session, program, fields)
    program.last_verified_at = _verified_at(p)
    for schedule, ident in zip(program.schedules, p.schedule_ids, strict=True):
        schedule.id = ident
    for cost, ident in zip(program.cost_options, p.cost_ids, strict=True):
        cost.id = ident
    await session.flush()
    for site in linked:
        await session.execute(
            update(program_locations)
            .where(
                program_locations.c.program_id == program.id,
                program_locations.c.location_id == site.id,
            )
            .values(id=site.link_id)
        )
    return "created" if created else "updated"


def _verified_at(p: Parsed) -> datetime | None:
    """HSDS assured_date is a date; we keep noon UTC of it, which prints as that date."""
    return None if p.verified_on is None else datetime.combine(p.verified_on, time(12), UTC)


def _same_program(program: Program, p: Parsed, fields: Any) -> bool:
    # Both through the same schema, so equal values print the same (10:00 and 10:00:00).
    stored = ProgramFields.model_validate(current_fields(program)).model_dump(mode="json")
    incoming = fields.model_dump(mode="json")
    stored["location_ids"] = sorted(stored["location_ids"])
    incoming["location_ids"] = sorted(incoming["location_ids"])
    stored["taxonomy_terms"] = sorted(stored["taxonomy_terms"])
    incoming["taxonomy_terms"] = sorted(incoming["taxonomy_terms"])
    return (
        program.organization_id == p.organization_id
        and stored == incoming
        and (program.last_verified_at.date() if program.last_verified_at else None) == p.verified_on
        and [s.id for s in sorted(program.schedules, key=lambda s: s.position)] == p.schedule_ids
        and [c.id for c in sorted(program.cost_options, key=lambda c: c.position)] == p.cost_ids
    )


async def _organization(session: AsyncSession, p: Parsed) -> bool:
    """Create or update the nested organization; True when something was written."""
    org = await session.get(Organization, p.organization_id)
    if p.organization is None:
        if org is None:
            raise RecordError([f"organization {p.organization_id} is not stored and not nested"])
        return False
    values = p.organization.model_dump(mode="json")
    if org is None:
        session.add(Organization(id=p.organization_id, **values))
        await session.flush()
        return True
    if all(getattr(org, k) == v for k, v in values.items()):
        return False
    for key, value in values.items():
        setattr(org, key, value)
    org.version += 1
    await session.flush()
    return True


async def _location(session: AsyncSession, site: Site) -> bool:
    if await session.get(Organization, site.organization_id) is None:
        raise RecordError([f"location {site.id}: organization {site.organization_id} is unknown"])
    location = await session.get(Location, site.id)
    if location is None:
        location = Location(id=site.id, organization_id=site.organization_id)
        apply_location(location, site.fields)
        session.add(location)
        await session.flush()
        return True
    stored = location_out(location).model_dump(include=set(LocationFields.model_fields))
    if stored == site.fields.model_dump():
        return False
    apply_location(location, site.fields)
    location.version += 1
    await session.flush()
    return True


async def _taxonomies(session: AsyncSession, p: Parsed) -> None:
    for t in p.taxonomies:
        if await session.get(Taxonomy, t.id) is None:
            same_name = await session.scalar(select(Taxonomy.id).where(Taxonomy.name == t.name))
            if same_name is not None:
                raise RecordError(
                    [f"taxonomy {t.id}: the name '{t.name}' belongs to taxonomy {same_name}"]
                )
            session.add(
                Taxonomy(
                    id=t.id,
                    name=t.name,
                    description=t.description or "",
                    uri=t.uri,
                    version=t.version,
                )
            )
    await session.flush()


def _code(term: TermIn) -> str:
    code = (term.code or term.name).strip().lower()
    return re.sub(r"[^a-z0-9_.-]+", "-", code).strip("-")[:100] or str(term.id)


async def _taxonomy_of(session: AsyncSession, term: TermIn) -> uuid.UUID:
    for candidate in (term.taxonomy_detail.id if term.taxonomy_detail else None, term.taxonomy_id):
        if candidate is not None and await session.get(Taxonomy, candidate) is not None:
            return candidate
    if term.taxonomy:
        found = await session.scalar(select(Taxonomy.id).where(Taxonomy.name == term.taxonomy))
        if found is not None:
            return found
    raise RecordError(
        [
            f"taxonomy term {term.id}: unknown taxonomy "
            "(give taxonomy_detail, or a known taxonomy_id)"
        ]
    )


async def _term_codes(session: AsyncSession, p: Parsed) -> list[str]:
    """The codes of the service's terms, creating nested terms we do not have yet."""
    nested = {t.id: t for t in p.terms}
    codes = []
    for term_id in p.term_ids:
        stored = await session.get(TaxonomyTerm, term_id)
        if stored is None:
            term = nested.get(term_id)
            if term is None:
                raise RecordError([f"attribute: unknown taxonomy term {term_id} (and not nested)"])
            code = _code(term)
            clash = await session.scalar(select(TaxonomyTerm.id).where(TaxonomyTerm.code == code))
            if clash is not None:
                raise RecordError(
                    [f"taxonomy term {term_id}: code '{code}' belongs to term {clash}"]
                )
            parent: uuid.UUID | None = None
            if term.parent_id is not None:
                known_parent = await session.get(TaxonomyTerm, term.parent_id)
                parent = None if known_parent is None else term.parent_id
            if term.parent_id and parent is None:
                p.warnings.append(
                    f"taxonomy term {term_id}: parent {term.parent_id} unknown, left out"
                )
            ext = (term.model_extra or {}).get("youthlink") or {}
            stored = TaxonomyTerm(
                id=term_id,
                taxonomy_id=await _taxonomy_of(session, term),
                code=code,
                name=term.name,
                name_es=ext.get("name_es") if isinstance(ext, dict) else None,
                description=term.description or "",
                parent_id=parent,
            )
            session.add(stored)
            await session.flush()
        codes.append(stored.code)
    return codes
