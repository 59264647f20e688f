"""Catalog decisions: who may change what, and how a program is written.

Services take (session, principal, ...), flush, and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog import repository as repo
from service.catalog.enums import OrganizationType
from service.catalog.models import CostOption, Location, Organization, Program, Schedule
from service.catalog.schedules import Occurrence, ScheduleRule, expand
from service.catalog.schemas import (
    LocationFields,
    OrganizationCreate,
    OrganizationUpdate,
    ProgramCreate,
    ProgramFields,
    ProgramUpdate,
)
from service.catalog.views import program_out
from service.concurrency import check_if_match
from service.db import utcnow
from service.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from service.geo.convert import (
    GeometryError,
    geojson_to_multipolygon,
    multipolygon_element,
    point_element,
    to_geojson,
)

MAX_OCCURRENCE_DAYS = 366
SCHOOL_NAMESPACE = uuid.UUID("6f1c1a8e-3f4e-4d59-9a53-2f4b1c0d7e11")


@dataclass(frozen=True)
class AddressParts:
    address_1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


def _not_found(kind: str, ident: uuid.UUID) -> NotFound:
    return NotFound(f"No {kind} with id {ident} is visible to you.")


def _require_write(
    principal: Principal, organization_id: uuid.UUID, kind: str, ident: uuid.UUID
) -> None:
    if not scope.can_write_org(principal, organization_id):
        raise _not_found(kind, ident)


async def _delete(session: AsyncSession, row: Organization | Program, kind: str) -> None:
    """Delete `row`, or 409 when referrals, students or consents still point at it: their
    history must stay whole (close a program instead of deleting it)."""
    try:
        async with session.begin_nested():
            await session.delete(row)
            await session.flush()
    except IntegrityError as exc:
        if "violates foreign key constraint" not in str(exc.orig):
            raise
        raise Conflict(
            f"This {kind} has referrals, students or consents on record; "
            "set its status to closed instead of deleting it.",
            code="in_use",
        ) from None


# ---------------------------------------------------------------- organizations


async def get_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID
) -> Organization:
    org = await repo.get_organization(session, principal, org_id)
    if org is None:
        raise _not_found("organization", org_id)
    return org


async def create_organization(
    session: AsyncSession, principal: Principal, data: OrganizationCreate
) -> Organization:
    org = Organization(**data.model_dump(mode="json"))
    session.add(org)
    await session.flush()
    record(session, principal, "organization.create", "organization", org.id)
    return org


async def update_organization(
    session: AsyncSession,
    principal: Principal,
    org_id: uuid.UUID,
    data: OrganizationUpdate,
    if_match: str | None,
) -> Organization:
    org = await repo.get_organization(session, principal, org_id, for_update=True)
    if org is None:
        raise _not_found("organization", org_id)
    _require_write(principal, org.id, "organization", org_id)
    check_if_match(if_match, org.version)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "verified" in changes and not principal.is_admin:
        raise Forbidden("Only administrators verify organizations.", code="admin_only_field")
    if "name" in changes and changes["name"] is None:
        raise Unprocessable(
            "name cannot be removed",
            errors=[FieldError(loc=["body", "name"], msg="must not be null", type="missing")],
        )
    for key, value in changes.items():
        setattr(org, key, value)
    org.version += 1
    await session.flush()
    record(session, principal, "organization.update", "organization", org.id)
    return org


async def delete_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, if_match: str | None
) -> None:
    org = await repo.get_organization(session, principal, org_id, for_update=True)
    if org is None:
        raise _not_found("organization", org_id)
    check_if_match(if_match, org.version)
    await _delete(session, org, "organization")
    record(session, principal, "organization.delete", "organization", org_id)


async def upsert_school(
    session: AsyncSession,
    *,
    code: str,
    name: str,
    phone: str | None,
    address: AddressParts,
    latitude: float,
    longitude: float,
) -> Organization:
    """A school from geodata: an organization of type school with one location.

    Ids derive from the school's code, so loading the same layer twice changes nothing.
    """
    org_id = uuid.uuid5(SCHOOL_NAMESPACE, code)
    org = await session.get(Organization, org_id)
    if org is None:
        org = Organization(
            id=org_id,
            type=OrganizationType.school,
            name=name,
            external_id=f"school:{code}",
            verified=True,
        )
        session.add(org)
    org.name = name[:300]
    org.phone = phone[:40] if phone else None
    location_id = uuid.uuid5(SCHOOL_NAMESPACE, f"{code}/location")
    location = await session.get(Location, location_id)
    if location is None:
        location = Location(id=location_id, organization_id=org_id)
        session.add(location)
    location.name = name[:300]
    location.address_1 = address.address_1
    location.city = address.city
    location.state = address.state
    location.postal_code = address.postal_code
    location.is_virtual = False
    location.point = point_element(latitude, longitude)
    await session.flush()
    return org


async def relabel_locations(session: AsyncSession) -> int:
    """Re-run the tract/ZCTA trigger on every located row after areas changed."""
    result = await session.execute(
        update(Location).where(Location.point.is_not(None)).values(point=Location.point)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# ---------------------------------------------------------------- locations


def apply_location(location: Location, data: LocationFields) -> None:
    fields = data.model_dump(exclude={"latitude", "longitude"})
    for key, value in fields.items():
        setattr(location, key, value)
    location.point = (
        None
        if data.latitude is None or data.longitude is None
        else point_element(data.latitude, data.longitude)
    )


async def create_location(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, data: LocationFields
) -> Location:
    org = await get_organization(session, principal, org_id)
    _require_write(principal, org.id, "organization", org_id)
    location = Location(organization_id=org.id)
    apply_location(location, data)
    session.add(location)
    await session.flush()
    await session.refresh(location)  # tract and ZCTA come from the database trigger
    record(session, principal, "location.create", "location", location.id)
    return location


async def list_locations(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, params: Any
) -> tuple[Any, int]:
    await get_organization(session, principal, org_id)
    return await repo.list_locations(session, org_id, params)


async def get_location(
    session: AsyncSession, principal: Principal, location_id: uuid.UUID
) -> Location:
    location = await repo.get_location(session, principal, location_id)
    if location is None:
        raise _not_found("location", location_id)
    return location


async def replace_location(
    session: AsyncSession,
    principal: Principal,
    location_id: uuid.UUID,
    data: LocationFields,
    if_match: str | None,
) -> Location:
    location = await repo.get_location(session, principal, location_id, for_update=True)
    if location is None:
        raise _not_found("location", location_id)
    _require_write(principal, location.organization_id, "location", location_id)
    check_if_match(if_match, location.version)
    apply_location(location, data)
    location.version += 1
    await session.flush()
    await session.refresh(location)
    record(session, principal, "location.replace", "location", location.id)
    return location


async def delete_location(
    session: AsyncSession, principal: Principal, location_id: uuid.UUID, if_match: str | None
) -> None:
    location = await repo.get_location(session, principal, location_id, for_update=True)
    if location is None:
        raise _not_found("location", location_id)
    _require_write(principal, location.organization_id, "location", location_id)
    check_if_match(if_match, location.version)
    await session.delete(location)
    await session.flush()
    record(session, principal, "location.delete", "location", location_id)


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
        raise _not_found("program", program_id)
    return program


async def create_program(
    session: AsyncSession, principal: Principal, data: ProgramCreate
) -> Program:
    org_id = data.organization_id or principal.organization_id
    if org_id is None:
        raise _invalid("organization_id", "organization_id is required for administrators")
    org = await repo.get_organization(session, principal, org_id)
    if org is None or not scope.can_write_org(principal, org_id):
        raise _not_found("organization", org_id)
    program = Program(
        organization_id=org_id, cost_options=[], schedules=[], locations=[], taxonomy_terms=[]
    )
    await apply_program_fields(session, program, data)
    session.add(program)
    await session.flush()
    record(session, principal, "program.create", "program", program.id)
    return await _reload(session, principal, program.id)


async def _reload(session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> Program:
    session.expire_all()
    return await get_program(session, principal, program_id)


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
) -> Program:
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise _not_found("program", program_id)
    _require_write(principal, program.organization_id, "program", program_id)
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
    record(session, principal, "program.update", "program", program.id)
    return await _reload(session, principal, program.id)


async def delete_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID, if_match: str | None
) -> None:
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise _not_found("program", program_id)
    _require_write(principal, program.organization_id, "program", program_id)
    check_if_match(if_match, program.version)
    await _delete(session, program, "program")
    record(session, principal, "program.delete", "program", program_id)


async def verify_program(
    session: AsyncSession, principal: Principal, program_id: uuid.UUID
) -> Program:
    """The provider confirms the listing is current: stamps last_verified_at."""
    program = await repo.get_program(session, principal, program_id, for_update=True)
    if program is None:
        raise _not_found("program", program_id)
    _require_write(principal, program.organization_id, "program", program_id)
    program.last_verified_at = utcnow()
    program.version += 1
    await session.flush()
    record(session, principal, "program.verify", "program", program.id)
    return await _reload(session, principal, program.id)


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
