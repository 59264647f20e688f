"""Organizations and their locations: thin handlers over catalog.places."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from service.auth.principal import OPTIONAL_AUTH, Principal, PrincipalDep, require_roles
from service.auth.roles import Role
from service.catalog import places, reads
from service.catalog.enums import OrganizationType
from service.catalog.schemas import (
    LocationFields,
    LocationOut,
    OrganizationCreate,
    OrganizationOut,
    OrganizationUpdate,
)
from service.catalog.totals import TotalsDep
from service.catalog.views import location_out
from service.concurrency import IfMatch, etag_header, set_etag
from service.db import ReaderDep, SessionDep
from service.errors import problem_responses
from service.pagination import Page, PageParams, page_params

router = APIRouter(tags=["organizations"])
Pages = Annotated[PageParams, Depends(page_params)]
Admin = Annotated[Principal, require_roles(Role.admin)]
OrgStaff = Annotated[Principal, require_roles(Role.admin, Role.provider, Role.school)]
LocationWriter = Annotated[Principal, require_roles(Role.admin, Role.provider, Role.school)]


@router.get(
    "/organizations",
    operation_id="organizations_list",
    openapi_extra=OPTIONAL_AUTH,
    summary="List organizations",
    description="Anonymous callers see organizations with at least one active program.",
    responses=problem_responses(401, 422),
    response_model=Page[OrganizationOut],
)
async def organizations_list(
    reader: ReaderDep,
    totals: TotalsDep,
    principal: PrincipalDep,
    pages: Pages,
    type: OrganizationType | None = None,
) -> Response:
    body = await reads.organizations_page(reader, totals, principal, pages, type)
    return Response(body, media_type="application/json")


@router.post(
    "/organizations",
    operation_id="organizations_create",
    status_code=status.HTTP_201_CREATED,
    summary="Create an organization (admin)",
    responses=problem_responses(401, 403, 422),
)
async def organizations_create(
    session: SessionDep, principal: Admin, body: OrganizationCreate, response: Response
) -> OrganizationOut:
    """Creates an organization and returns it with its ETag and a `Location` header. Admin keys
    only; `verified` defaults to false.
    """
    org = await places.create_organization(session, principal, body)
    set_etag(response, org.version)
    response.headers["Location"] = f"/organizations/{org.id}"
    return OrganizationOut.model_validate(org)


@router.get(
    "/organizations/{organization_id}",
    operation_id="organizations_get",
    openapi_extra=OPTIONAL_AUTH,
    summary="Read an organization",
    responses=problem_responses(401, 404),
    response_model=OrganizationOut,
)
async def organizations_get(
    reader: ReaderDep, principal: PrincipalDep, organization_id: uuid.UUID
) -> Response:
    """Returns one organization with its ETag. Anyone may call it: anonymous callers only find
    organizations that have at least one active program, while any API key finds every organization;
    one you cannot see answers 404.
    """
    body, version = await reads.organization(reader, principal, organization_id)
    return Response(body, media_type="application/json", headers=etag_header(version))


@router.patch(
    "/organizations/{organization_id}",
    operation_id="organizations_update",
    summary="Change an organization (admin, or its own staff)",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def organizations_update(
    session: SessionDep,
    principal: OrgStaff,
    organization_id: uuid.UUID,
    body: OrganizationUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> OrganizationOut:
    """Changes only the fields present in the body and returns the organization with its new ETag.
    Admins may change any organization, provider and school keys only their own (another
    organization answers 404, not 403). Only admins may set `verified` (403 otherwise), `name` and
    `verified` cannot be set to null (422), and an If-Match that no longer matches answers 412.
    """
    org = await places.update_organization(session, principal, organization_id, body, if_match)
    set_etag(response, org.version)
    return OrganizationOut.model_validate(org)


@router.delete(
    "/organizations/{organization_id}",
    operation_id="organizations_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an organization with its programs, locations and keys (admin)",
    responses=problem_responses(401, 403, 404, 409, 412),
)
async def organizations_delete(
    session: SessionDep, principal: Admin, organization_id: uuid.UUID, if_match: IfMatch = None
) -> Response:
    """Deletes the organization together with its programs, locations, API keys and webhook
    endpoints. Admin keys only. Answers 409 (`in_use`) while students, consents or referrals of the
    organization are on record; send If-Match to get 412 if it changed since you read it.
    """
    await places.delete_organization(session, principal, organization_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/organizations/{organization_id}/locations",
    operation_id="locations_list",
    openapi_extra=OPTIONAL_AUTH,
    tags=["locations"],
    summary="List an organization's locations",
    responses=problem_responses(401, 404, 422),
    response_model=Page[LocationOut],
)
async def locations_list(
    reader: ReaderDep,
    totals: TotalsDep,
    principal: PrincipalDep,
    organization_id: uuid.UUID,
    pages: Pages,
) -> Response:
    """Returns a page of the organization's locations, ordered by name. Anyone may call it, but the
    organization must be visible to you (for anonymous callers: it has an active program), otherwise
    the answer is 404.
    """
    body = await reads.locations_page(reader, totals, principal, organization_id, pages)
    return Response(body, media_type="application/json")


@router.post(
    "/organizations/{organization_id}/locations",
    operation_id="locations_create",
    tags=["locations"],
    status_code=status.HTTP_201_CREATED,
    summary="Add a location to an organization",
    description="The census tract and ZCTA of the point are filled in from loaded geodata.",
    responses=problem_responses(401, 403, 404, 422),
)
async def locations_create(
    session: SessionDep,
    principal: LocationWriter,
    organization_id: uuid.UUID,
    body: LocationFields,
    response: Response,
) -> LocationOut:
    location = await places.create_location(session, principal, organization_id, body)
    set_etag(response, location.version)
    response.headers["Location"] = f"/locations/{location.id}"
    return location_out(location)


@router.get(
    "/locations/{location_id}",
    operation_id="locations_get",
    openapi_extra=OPTIONAL_AUTH,
    tags=["locations"],
    summary="Read a location",
    responses=problem_responses(401, 404),
    response_model=LocationOut,
)
async def locations_get(
    reader: ReaderDep, principal: PrincipalDep, location_id: uuid.UUID
) -> Response:
    """Returns one location with its ETag, including the census tract and ZCTA derived from its
    point. A location is visible whenever its organization is: anonymous callers only see locations
    of organizations with an active program, and any other location answers 404.
    """
    body, version = await reads.location(reader, principal, location_id)
    return Response(body, media_type="application/json", headers=etag_header(version))


@router.put(
    "/locations/{location_id}",
    operation_id="locations_replace",
    tags=["locations"],
    summary="Replace a location",
    responses=problem_responses(401, 403, 404, 412, 422),
)
async def locations_replace(
    session: SessionDep,
    principal: LocationWriter,
    location_id: uuid.UUID,
    body: LocationFields,
    response: Response,
    if_match: IfMatch = None,
) -> LocationOut:
    """Replaces every field of the location (fields left out go back to their defaults) and returns
    it with its new ETag; the census tract and ZCTA are recomputed from the new point. Admins may
    replace any location, provider and school keys only their own organization's (others answer 404,
    not 403). Send If-Match to get 412 when it changed since you read it.
    """
    location = await places.replace_location(session, principal, location_id, body, if_match)
    set_etag(response, location.version)
    return location_out(location)


@router.delete(
    "/locations/{location_id}",
    operation_id="locations_delete",
    tags=["locations"],
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a location (programs stop listing it)",
    responses=problem_responses(401, 403, 404, 412),
)
async def locations_delete(
    session: SessionDep,
    principal: LocationWriter,
    location_id: uuid.UUID,
    if_match: IfMatch = None,
) -> Response:
    """Deletes the location; programs that listed it simply stop listing it. Admins may delete any
    location, provider and school keys only their own organization's (others answer 404, not 403).
    Send If-Match to get 412 when it changed since you read it.
    """
    await places.delete_location(session, principal, location_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
