"""Organizations and their locations: who may change them, and how.

Services take (session, principal, ...), flush, and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal
from service.catalog import documents
from service.catalog import repository as repo
from service.catalog.common import delete_or_conflict, not_found, require_write
from service.catalog.enums import OrganizationType
from service.catalog.models import Location, Organization
from service.catalog.schemas import LocationFields, OrganizationCreate, OrganizationUpdate
from service.concurrency import check_if_match
from service.errors import FieldError, Forbidden, Unprocessable
from service.geometry import point_element

SCHOOL_NAMESPACE = uuid.UUID("6f1c1a8e-3f4e-4d59-9a53-2f4b1c0d7e11")


@dataclass(frozen=True)
class AddressParts:
    address_1: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


# ---------------------------------------------------------------- organizations


async def get_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID
) -> Organization:
    org = await repo.get_organization(session, principal, org_id)
    if org is None:
        raise not_found("organization", org_id)
    return org


async def create_organization(
    session: AsyncSession, principal: Principal, data: OrganizationCreate
) -> Organization:
    org = Organization(**data.model_dump(mode="json"))
    session.add(org)
    await session.flush()
    await record(session, principal, "organization.create", "organization", org.id)
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
        raise not_found("organization", org_id)
    require_write(principal, org.id, "organization", org_id)
    check_if_match(if_match, org.version)
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "verified" in changes and not principal.is_admin:
        raise Forbidden("Only administrators verify organizations.", code="admin_only_field")
    cleared = [key for key in ("name", "verified") if key in changes and changes[key] is None]
    if cleared:  # both columns are NOT NULL: null means "leave out", not "remove"
        raise Unprocessable(
            f"{' and '.join(cleared)} cannot be removed",
            errors=[
                FieldError(loc=["body", key], msg="must not be null", type="missing")
                for key in cleared
            ],
        )
    for key, value in changes.items():
        setattr(org, key, value)
    org.version += 1
    await session.flush()
    await record(session, principal, "organization.update", "organization", org.id)
    return org


async def delete_organization(
    session: AsyncSession, principal: Principal, org_id: uuid.UUID, if_match: str | None
) -> None:
    org = await repo.get_organization(session, principal, org_id, for_update=True)
    if org is None:
        raise not_found("organization", org_id)
    check_if_match(if_match, org.version)
    await delete_or_conflict(session, org, "organization")
    await record(session, principal, "organization.delete", "organization", org_id)


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
    """Re-run the tract/ZCTA trigger on every located row after areas changed (and then
    rewrite the program documents, which show the labels, in one statement)."""
    await documents.defer(session)
    result = await session.execute(
        update(Location).where(Location.point.is_not(None)).values(point=Location.point)
    )
    await documents.write_all(session)
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
    require_write(principal, org.id, "organization", org_id)
    location = Location(organization_id=org.id)
    apply_location(location, data)
    session.add(location)
    await session.flush()
    await session.refresh(location)  # tract and ZCTA come from the database trigger
    await record(session, principal, "location.create", "location", location.id)
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
        raise not_found("location", location_id)
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
        raise not_found("location", location_id)
    require_write(principal, location.organization_id, "location", location_id)
    check_if_match(if_match, location.version)
    apply_location(location, data)
    location.version += 1
    await session.flush()
    await session.refresh(location)
    await record(session, principal, "location.replace", "location", location.id)
    return location


async def delete_location(
    session: AsyncSession, principal: Principal, location_id: uuid.UUID, if_match: str | None
) -> None:
    location = await repo.get_location(session, principal, location_id, for_update=True)
    if location is None:
        raise not_found("location", location_id)
    require_write(principal, location.organization_id, "location", location_id)
    check_if_match(if_match, location.version)
    await session.delete(location)
    await session.flush()
    await record(session, principal, "location.delete", "location", location_id)
