"""GET /hsds/...: the catalog in the Open Referral HSDS 3.0 API shape (anonymous, CORS open)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.catalog.enums import Weekday
from service.db import SessionDep
from service.errors import NotFound, problem_responses
from service.hsds import mapping, queries
from service.hsds.queries import Place, ServiceFilter, TermFilter
from service.pagination import PageParams, envelope, page_params
from service.schema_types import NO_NUL, ClockTime, QueryInstant

router = APIRouter(prefix="/hsds", tags=["hsds"])

HSDS_VERSION = "3.0"
PROFILE = "https://docs.openreferral.org/en/3.0/"
NDJSON = "application/x-ndjson"

Pages = Annotated[PageParams, Depends(page_params)]
# Lists answer JSON pages, or with format=ndjson one JSON record per line.
LIST_RESPONSES: dict[int | str, dict[str, Any]] = {
    **problem_responses(),
    200: {
        "description": "A page of records, or every record as ndjson",
        "content": {
            "application/json": {},
            NDJSON: {"schema": {"type": "string", "description": "One JSON record per line"}},
        },
    },
}
Record = dict[str, Any]


class Format(StrEnum):
    json = "json"
    ndjson = "ndjson"


FormatParam = Annotated[
    Format, Query(description="ndjson streams every result, one per line, without paging")
]
Search = Annotated[
    str | None, Query(max_length=200, pattern=NO_NUL, description="Text in the name or description")
]
Full = Annotated[bool, Query(description="Fully nested records")]


def _page(items: list[Record], total: int, pages: PageParams) -> Record:
    return envelope(total, pages.page, pages.per_page, items)


def _all_when_streaming(format: Format, pages: PageParams) -> PageParams:
    """ndjson has no pages: the whole set (these lists are small: organizations, terms)."""
    return PageParams(page=1, per_page=1_000_000) if format is Format.ndjson else pages


def _listing(format: Format, items: list[Record], total: int, pages: PageParams) -> Any:
    if format is Format.ndjson:
        return StreamingResponse(iter(list(mapping.ndjson_lines(items))), media_type=NDJSON)
    return _page(items, total, pages)


async def service_filter(
    taxonomy_term_id: Annotated[uuid.UUID | None, Query()] = None,
    taxonomy_id: Annotated[uuid.UUID | None, Query()] = None,
    organization_id: Annotated[uuid.UUID | None, Query()] = None,
    modified_after: Annotated[
        QueryInstant | None, Query(description="Modified on or after (RFC 3339)")
    ] = None,
    minimum_age: Annotated[
        float | None,
        Query(ge=0, le=120, description="UK profile: serves someone this old or older"),
    ] = None,
    maximum_age: Annotated[
        float | None,
        Query(ge=0, le=120, description="UK profile: serves someone this young or younger"),
    ] = None,
    day: Annotated[Weekday | None, Query(description="UK profile: meets on this weekday")] = None,
    start_time: Annotated[
        ClockTime | None,
        Query(description="UK profile: a session starts at or after (HH:MM, local)"),
    ] = None,
    end_time: Annotated[
        ClockTime | None,
        Query(description="UK profile: a session ends at or before (HH:MM, local)"),
    ] = None,
    search: Search = None,
) -> ServiceFilter:
    return ServiceFilter(
        search=search,
        taxonomy_term_id=taxonomy_term_id,
        taxonomy_id=taxonomy_id,
        organization_id=organization_id,
        modified_after=modified_after,
        minimum_age=minimum_age,
        maximum_age=maximum_age,
        day=day,
        start_time=start_time,
        end_time=end_time,
    )


Filters = Annotated[ServiceFilter, Depends(service_filter)]


def _not_found(kind: str, ident: uuid.UUID) -> NotFound:
    return NotFound(f"No active {kind} with id {ident}.")


@router.get("/", operation_id="hsds_root", summary="HSDS API information")
async def hsds_root(request: Request) -> Record:
    """Returns the HSDS version this API implements (3.0), the Open Referral profile it follows and
    the address of this OpenAPI document. No API key needed; CORS is open to every origin under
    /hsds.
    """
    return {
        "version": HSDS_VERSION,
        "profile": PROFILE,
        "openapi_url": str(request.url_for("openapi")),
    }


# ---------------------------------------------------------------- services


async def _stream(
    sessions: async_sessionmaker[AsyncSession], f: ServiceFilter, full: bool
) -> AsyncIterator[str]:
    async with sessions() as session:
        async for batch in queries.stream_services(session, f):
            if full:
                taxonomies, links = await queries.context_of(session, batch)
                records = [mapping.service_full(p, taxonomies, links[p.id]) for p in batch]
            else:
                records = [mapping.service(p) for p in batch]
            for line in mapping.ndjson_lines(records):
                yield line


@router.get(
    "/services",
    operation_id="hsds_services_list",
    summary="Services (our active programs)",
    responses=LIST_RESPONSES,
)
async def hsds_services_list(
    request: Request,
    session: SessionDep,
    filters: Filters,
    pages: Pages,
    full: Full = False,
    minimal: Annotated[bool, Query(description="Only id, name, status, last_modified")] = False,
    format: FormatParam = Format.json,
) -> Any:
    """Returns a page of active programs as HSDS services, ordered by name; all filters combine with
    AND. `full=true` nests every related record and `minimal=true` keeps only id, name, status and
    last_modified. With `format=ndjson` every matching service is streamed, one per line, without
    paging. No API key needed; CORS is open to every origin.
    """
    if format is Format.ndjson:
        sessions = request.app.state.sessionmaker
        return StreamingResponse(_stream(sessions, filters, full), media_type=NDJSON)
    programs, total = await queries.services_page(session, filters, pages)
    if minimal:
        items = [
            {
                k: v
                for k, v in mapping.service(p).items()
                if k in ("id", "name", "status", "last_modified")
            }
            for p in programs
        ]
    elif full:
        taxonomies, links = await queries.context_of(session, programs)
        items = [mapping.service_full(p, taxonomies, links[p.id]) for p in programs]
    else:
        items = [mapping.service(p) for p in programs]
    return _page(items, total, pages)


@router.get(
    "/services/{service_id}",
    operation_id="hsds_services_get",
    summary="A service, fully nested",
    responses=problem_responses(404),
)
async def hsds_services_get(session: SessionDep, service_id: uuid.UUID) -> Record:
    """Returns one active program as a fully nested HSDS service: organization, languages,
    schedules, cost options, service areas, taxonomy attributes and service_at_locations. A program
    that does not exist or is not active answers 404. No API key needed.
    """
    program = await queries.service(session, service_id)
    if program is None:
        raise _not_found("service", service_id)
    taxonomies, links = await queries.context_of(session, [program])
    return mapping.service_full(program, taxonomies, links[program.id])


# ---------------------------------------------------------------- service_at_locations


@router.get(
    "/service_at_locations",
    operation_id="hsds_service_at_locations_list",
    summary="Services at their locations",
    responses=LIST_RESPONSES,
)
async def hsds_service_at_locations_list(
    session: SessionDep,
    filters: Filters,
    pages: Pages,
    full: Full = False,
    postcode: Annotated[
        str | None,
        Query(max_length=10, pattern=r"^[0-9]{5}(-[0-9]{4})?$", description="A ZIP code"),
    ] = None,
    proximity: Annotated[
        int | None, Query(ge=1, le=200_000, description="Meters from the ZIP area's centroid")
    ] = None,
    format: FormatParam = Format.json,
) -> Any:
    """Returns a page of active programs at each of their locations, ordered by service name, with
    the same service filters as /hsds/services. `postcode` keeps locations in that ZIP area and
    programs whose service area reaches into it; with `proximity`, locations within that many meters
    of the ZIP area's centroid instead (an unknown postcode, or proximity alone, answers 422).
    `full=true` nests the full service and `format=ndjson` returns every match, one per line; no API
    key needed.
    """
    place = Place(postcode=postcode, proximity=proximity)
    pages = _all_when_streaming(format, pages)
    rows, total = await queries.service_at_locations_page(session, filters, place, pages)
    items = [mapping.service_at_location(p, loc, link) for link, p, loc in rows]
    if full:
        taxonomies, links = await queries.context_of(session, [p for _, p, _ in rows])
        for item, (_, p, _) in zip(items, rows, strict=True):
            item["service"] = mapping.service_full(p, taxonomies, links[p.id])
    return _listing(format, items, total, pages)


@router.get(
    "/service_at_locations/{service_at_location_id}",
    operation_id="hsds_service_at_locations_get",
    summary="A service at a location, fully nested",
    responses=problem_responses(404),
)
async def hsds_service_at_locations_get(
    session: SessionDep, service_at_location_id: uuid.UUID
) -> Record:
    """Returns one service_at_location record with its location and the fully nested service.
    Answers 404 when it does not exist or its program is not active. No API key needed.
    """
    found = await queries.service_at_location(session, service_at_location_id)
    if found is None:
        raise _not_found("service_at_location", service_at_location_id)
    link, program, location = found
    out = mapping.service_at_location(program, location, link)
    taxonomies, links = await queries.context_of(session, [program])
    out["service"] = mapping.service_full(program, taxonomies, links[program.id])
    return out


# ---------------------------------------------------------------- organizations


@router.get(
    "/organizations",
    operation_id="hsds_organizations_list",
    summary="Organizations with an active service",
    responses=LIST_RESPONSES,
)
async def hsds_organizations_list(
    session: SessionDep,
    pages: Pages,
    search: Search = None,
    full: Full = False,
    full_service: Annotated[bool, Query(description="With full services (when full)")] = False,
    format: FormatParam = Format.json,
) -> Any:
    """Returns a page of the organizations with at least one active program, ordered by name,
    optionally filtered by `search` on name or description. `full=true` adds each organization's
    active services and all its locations (`full_service=true` nests those services fully);
    `format=ndjson` returns every match, one per line. No API key needed.
    """
    pages = _all_when_streaming(format, pages)
    orgs, total = await queries.organizations_page(session, search, pages)
    items = [
        await _organization(session, org.id, full_service) if full else mapping.organization(org)
        for org in orgs
    ]
    return _listing(format, items, total, pages)


async def _organization(session: AsyncSession, org_id: uuid.UUID, full_service: bool) -> Record:
    org = await queries.organization(session, org_id)
    if org is None:
        raise _not_found("organization", org_id)
    programs, locations = await queries.organization_parts(session, org_id)
    if full_service:
        taxonomies, links = await queries.context_of(session, programs)
        services = [mapping.service_full(p, taxonomies, links[p.id]) for p in programs]
    else:
        services = [mapping.service(p) for p in programs]
    return mapping.organization_full(org, services, locations)


@router.get(
    "/organizations/{organization_id}",
    operation_id="hsds_organizations_get",
    summary="An organization with its services and locations",
    responses=problem_responses(404),
)
async def hsds_organizations_get(
    session: SessionDep,
    organization_id: uuid.UUID,
    full_service: Annotated[bool, Query(description="Fully nested services")] = False,
) -> Record:
    """Returns one organization with its active services and all its locations; `full_service=true`
    nests each service fully. An organization without an active program answers 404. No API key
    needed.
    """
    return await _organization(session, organization_id, full_service)


# ---------------------------------------------------------------- taxonomy


@router.get(
    "/taxonomies",
    operation_id="hsds_taxonomies_list",
    summary="Taxonomies",
    responses=LIST_RESPONSES,
)
async def hsds_taxonomies_list(
    session: SessionDep, pages: Pages, search: Search = None, format: FormatParam = Format.json
) -> Any:
    """Returns a page of the taxonomies that taxonomy terms belong to, ordered by name, optionally
    filtered by `search` on the name; `format=ndjson` returns them all, one per line. No API key
    needed.
    """
    pages = _all_when_streaming(format, pages)
    rows, total = await queries.taxonomies_page(session, search, pages)
    items = [mapping.taxonomy(t) for t in rows]
    return _listing(format, items, total, pages)


@router.get(
    "/taxonomies/{taxonomy_id}",
    operation_id="hsds_taxonomies_get",
    summary="A taxonomy",
    responses=problem_responses(404),
)
async def hsds_taxonomies_get(session: SessionDep, taxonomy_id: uuid.UUID) -> Record:
    """Returns one taxonomy (name, description, URI, version), or 404 when there is none with this
    id. No API key needed.
    """
    found = await queries.taxonomy(session, taxonomy_id)
    if found is None:
        raise _not_found("taxonomy", taxonomy_id)
    return mapping.taxonomy(found)


@router.get(
    "/taxonomy_terms",
    operation_id="hsds_taxonomy_terms_list",
    summary="Taxonomy terms",
    responses=LIST_RESPONSES,
)
async def hsds_taxonomy_terms_list(
    session: SessionDep,
    pages: Pages,
    search: Search = None,
    taxonomy_id: Annotated[uuid.UUID | None, Query()] = None,
    top_only: Annotated[bool | None, Query(description="Only terms without a parent")] = None,
    parent_id: Annotated[uuid.UUID | None, Query()] = None,
    format: FormatParam = Format.json,
) -> Any:
    """Returns a page of taxonomy terms ordered by code, each with its taxonomy; filter by `search`
    (name or code), `taxonomy_id`, `parent_id`, or `top_only=true` for terms without a parent.
    `format=ndjson` returns every match, one per line. No API key needed.
    """
    pages = _all_when_streaming(format, pages)
    f = TermFilter(search=search, taxonomy_id=taxonomy_id, top_only=top_only, parent_id=parent_id)
    rows, total = await queries.terms_page(session, f, pages)
    taxonomies = await queries.taxonomies_by_id(session)
    items = [mapping.taxonomy_term(t, taxonomies[t.taxonomy_id]) for t in rows]
    return _listing(format, items, total, pages)


@router.get(
    "/taxonomy_terms/{taxonomy_term_id}",
    operation_id="hsds_taxonomy_terms_get",
    summary="A taxonomy term",
    responses=problem_responses(404),
)
async def hsds_taxonomy_terms_get(session: SessionDep, taxonomy_term_id: uuid.UUID) -> Record:
    """Returns one taxonomy term with its taxonomy, and its Spanish name under the `youthlink`
    extension; 404 when there is none with this id. No API key needed.
    """
    term = await queries.term(session, taxonomy_term_id)
    if term is None:
        raise _not_found("taxonomy_term", taxonomy_term_id)
    taxonomies = await queries.taxonomies_by_id(session)
    return mapping.taxonomy_term(term, taxonomies[term.taxonomy_id])
