"""Programs: who may change them, and how a program is written (organizations and
locations are in places.py).

Services take (session, principal, ...), flush, and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog import reads
from service.catalog import repository as repo
from service.catalog.common import delete_or_conflict, not_found, require_write
from service.catalog.models import CostOption, Program, Schedule
from service.catalog.schedules import Occurrence, ScheduleRule, expand
from service.catalog.schemas import (
    ProgramCreate,
    ProgramFields,
    ProgramUpdate,
)
from service.catalog.views import program_out
from service.concurrency import check_if_match
from service.db import utcnow
from service.errors import FieldError, Unprocessable
from service.geometry import (
    GeometryError,
    geojson_to_multipolygon,
    multipolygon_element,
    to_geojson,
)
from service.reader import Reader

MAX_OCCURRENCE_DAYS = 366


# ---------------------------------------------------------------- programs


def _invalid(field: str, message: str) -> Unprocessable:
    return Unprocessable(
        message, errors=[FieldError(loc=["body", field], msg=message, type="value_error")]
    )


_NESTED_FIELDS = {
    "taxonomy_terms",
    "cost_options",
    "schedules",
    "location_ids",
    "service_area",
    "min_grade",
    "max_grade",
    "translations",
}


async def apply_program_fields(
    session: AsyncSession, program: Program, data: ProgramFields
) -> None:
    with session.no_autoflush:  # the program may be pending and not yet complete
        terms = await repo.terms_by_code(session, data.taxonomy_terms)
        locations = await repo.locations_of(session, program.organization_id, data.location_ids)
    unknown = sorted(set(data.taxonomy_terms) - {t.code for t in terms})
    if unknown:
        raise _invalid("taxonomy_terms", f"Unknown taxonomy terms: {', '.join(unknown)}")
    missing = sorted(str(i) for i in set(data.location_ids) - {loc.id for loc in locations})
    if missing:
        raise _invalid(
            "location_ids",
            f"These locations do not belong to the program's organization: {', '.join(missing)}",
        )
    area = None
    if data.service_area is not None:
        try:
            area = multipolygon_element(geojson_to_multipolygon(data.service_area))
        except GeometryError as exc:
            raise _invalid("service_area", str(exc)) from exc

    scalars = data.model_dump(include=set(ProgramFields.model_fields) - _NESTED_FIELDS)
    for key, value in scalars.items():
        setattr(program, key, value)
    program.min_grade = data.min_grade.rank if data.min_grade else None
    program.max_grade = data.max_grade.rank if data.max_grade else None
    program.translations = {k: v.model_dump() for k, v in data.translations.items()}
    program.service_area = area
    program.taxonomy_terms = terms
    program.locations = locations
    program.cost_options = [
        CostOption(position=i, **c.model_dump()) for i, c in enumerate(data.cost_options)
    ]
    program.schedules = [
        Schedule(position=i, **s.model_dump()) for i, s in enumerate(data.schedules)
    ]


async def get_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Program:
    program = await repo.get_program(session, principal, program_id)
    if program is None:
        raise not_found("program", program_id)
    return program


@dataclass(frozen=True)
class Written:
    """A program as a write leaves it: its id, version and ProgramOut JSON."""

    id: uuid.UUID
    version: int
    body: bytes


async def _written(session: AsyncSession, principal: Principal, program: Program) -> Written:
    """The program as the write left it: the document its triggers wrote in this
    transaction, read by the statement a GET runs (reads.program), nothing else."""
    body, version = await reads.program(Reader(session=session), principal, program.id)
    return Written(program.id, version, body)


async def create_program(
    session: AsyncSession, principal: Principal, data: ProgramCreate
) -> Written:
    org_id = data.organization_id or principal.organization_id
    if org_id is None:
        raise _invalid("organization_id", "organization_id is required for administrators")
    org = await repo.get_organization(session, principal, org_id)
    if org is None or not scope.can_write_org(principal, org_id):
        raise not_found("organization", org_id)
    program = Program(
        organization_id=org_id, cost_options=[], schedules=[], locations=[], taxonomy_terms=[]
    )
    await apply_program_fields(session, program, data)
    session.add(program)
    await session.flush()
    await record(session, principal, "program.create", "program", program.id)
    return await _written(session, principal, program)


def current_fields(program: Program) -> dict[str, Any]:
    """The program as a ProgramFields dict, so a partial update can be validated whole."""
    current = program_out(program).model_dump(mode="json")
    current["taxonomy_terms"] = [t["code"] for t in current["taxonomy_terms"]]
    current["location_ids"] = [loc["id"] for loc in current["locations"]]
    current["service_area"] = to_geojson(program.service_area)
    return {k: v for k, v in current.items() if k in ProgramFields.model_fields}


async def update_program(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    patch: ProgramUpdate,
    if_match: str | None,
) -> Written:
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise not_found("program", program_id)
    require_write(principal, program.organization_id, "program", program_id)
    check_if_match(if_match, program.version)
    merged = current_fields(program) | patch.model_dump(mode="json", exclude_unset=True)
    try:
        data = ProgramFields.model_validate(merged)
    except ValidationError as exc:
        raise Unprocessable(
            "The program would not be valid after this change.",
            errors=[
                FieldError(loc=["body", *map(str, e["loc"])], msg=e["msg"], type=e["type"])
                for e in exc.errors()
            ],
        ) from exc
    await apply_program_fields(session, program, data)
    program.version += 1
    await session.flush()
    await record(session, principal, "program.update", "program", program.id)
    return await _written(session, principal, program)


async def delete_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, if_match: str | None
) -> None:
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise not_found("program", program_id)
    require_write(principal, program.organization_id, "program", program_id)
    check_if_match(if_match, program.version)
    await delete_or_conflict(session, program, "program")
    await record(session, principal, "program.delete", "program", program_id)


async def verify_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Written:
    """The provider confirms the listing is current: stamps last_verified_at."""
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise not_found("program", program_id)
    require_write(principal, program.organization_id, "program", program_id)
    program.last_verified_at = utcnow()
    program.version += 1
    await session.flush()
    await record(session, principal, "program.verify", "program", program.id)
    return await _written(session, principal, program)


async def occurrences(
    session: AsyncSession,
    principal: Principal,
    program_id: uuid.UUID,
    start: date,
    end: date,
    tz: ZoneInfo,
) -> list[Occurrence]:
    if end < start:
        raise Unprocessable("'to' must not be before 'from'", code="invalid_range")
    if (end - start).days > MAX_OCCURRENCE_DAYS:
        raise Unprocessable(
            f"Ask for at most {MAX_OCCURRENCE_DAYS} days at a time.", code="range_too_long"
        )
    program = await get_program(session, principal, program_id)
    rules = [
        ScheduleRule(
            freq=s.freq,
            interval=s.interval,
            byday=list(s.byday),
            opens_at=s.opens_at,
            closes_at=s.closes_at,
            valid_from=s.valid_from,
            valid_to=s.valid_to,
        )
        for s in program.schedules
    ]
    return expand(rules, start, end, tz)
