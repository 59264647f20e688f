"""Programs and taxonomy terms: thin handlers over catalog.service."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response, status

from service import direct
from service.auth.principal import OPTIONAL_AUTH, Principal, PrincipalDep, require_roles
from service.auth.roles import Role
from service.catalog import reads, service
from service.catalog import repository as repo
from service.catalog.enums import Category, ProgramStatus
from service.catalog.program_cache import ProgramCache
from service.catalog.schemas import (
    OccurrenceOut,
    ProgramCreate,
    ProgramOut,
    ProgramUpdate,
    TaxonomyTermOut,
)
from service.catalog.totals import TotalsDep
from service.concurrency import IfMatch, etag_header
from service.db import ReaderDep, SessionDep, get_reader
from service.errors import problem_responses
from service.local_time import today as local_today
from service.pagination import Page, PageParams, page_params
from service.schema_types import QueryDay
from service.settings import get_settings

router = APIRouter(tags=["programs"])
Pages = Annotated[PageParams, Depends(page_params)]
ProgramWriter = Annotated[Principal, require_roles(Role.provider, Role.admin)]


def _answer(written: service.Written, code: int = 200, **headers: str) -> Response:
    """A write's answer: the program's stored document, as a read would send it."""
    headers = {**etag_header(written.version), **headers}
    return Response(written.body, code, headers, media_type="application/json")


@router.get(
    "/programs",
    operation_id="programs_list",
    openapi_extra=OPTIONAL_AUTH,
    summary="List programs",
    description="Active programs for everyone; staff also see their own organization's "
    "inactive ones. For free-text and faceted search use /search/programs.",
    responses=problem_responses(401, 422),
    response_model=Page[ProgramOut],
)
async def programs_list(
    reader: ReaderDep,
    totals: TotalsDep,
    principal: PrincipalDep,
    pages: Pages,
    organization_id: uuid.UUID | None = None,
    category: Category | None = None,
    program_status: Annotated[ProgramStatus | None, Query(alias="status")] = None,
) -> Response:
    body = await reads.programs_page(
        reader,
        totals,
        principal,
        pages,
        organization_id=organization_id,
        category=category,
        status=program_status,
    )
    return Response(body, media_type="application/json")


@router.post(
    "/programs",
    operation_id="programs_create",
    status_code=status.HTTP_201_CREATED,
    summary="Create a program",
    responses=problem_responses(401, 403, 404, 422),
    response_model=ProgramOut,
)
async def programs_create(
    session: SessionDep,
    principal: ProgramWriter,
    body: ProgramCreate,
) -> Response:
    """Creates a program and returns it with its ETag and a `Location` header. Provider keys create
    programs of their own organization; admins must give `organization_id` (422 without it), and an
    organization you may not write to answers 404. Taxonomy terms are given by code and must exist,
    and `location_ids` must be locations of the same organization (422 otherwise).
    """
    written = await service.create_program(session, principal, body)
    return _answer(written, status.HTTP_201_CREATED, Location=f"/programs/{written.id}")


@router.get(
    "/programs/{program_id}",
    operation_id="programs_get",
    openapi_extra=OPTIONAL_AUTH,
    summary="Read a program",
    responses=problem_responses(401, 404),
    response_model=ProgramOut,
)
async def programs_get(
    request: Request, reader: ReaderDep, principal: PrincipalDep, program_id: uuid.UUID
) -> Response:
    """Returns one program with its ETag. Anyone may read active programs; keys of the owning
    organization also read it in any status, and admins read every program. A program you cannot see
    answers 404.
    """
    body, version = await reads.program(reader, principal, program_id, _kept(request))
    return Response(body, media_type="application/json", headers=etag_header(version))


async def program_read(request: Request) -> Response:
    """GET /programs/{program_id} as served (service/direct.py): what programs_get does."""
    principal = await direct.caller(request)
    program_id = direct.path_uuid(request, "program_id")
    reader = await get_reader(request)
    body, version = await reads.program(reader, principal, program_id, _kept(request))
    return Response(body, media_type="application/json", headers=etag_header(version))


def _kept(request: Request) -> ProgramCache | None:
    """The process's public program documents (service/catalog/program_cache.py), when
    its lifespan keeps them."""
    return getattr(request.app.state, "program_cache", None)


DIRECT = [direct.route("/programs/{program_id}", program_read, "programs_get")]


@router.patch(
    "/programs/{program_id}",
    operation_id="programs_update",
    summary="Change a program",
    description="Only the fields present change; lists (schedules, cost_options, languages, "
    "location_ids, taxonomy_terms...) are replaced whole. Send If-Match to refuse the write "
    "when the program changed since you read it.",
    responses=problem_responses(401, 403, 404, 412, 422),
    response_model=ProgramOut,
)
async def programs_update(
    session: SessionDep,
    principal: ProgramWriter,
    program_id: uuid.UUID,
    body: ProgramUpdate,
    if_match: IfMatch = None,
) -> Response:
    return _answer(await service.update_program(session, principal, program_id, body, if_match))


@router.delete(
    "/programs/{program_id}",
    operation_id="programs_delete",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a program",
    responses=problem_responses(401, 403, 404, 409, 412),
)
async def programs_delete(
    session: SessionDep,
    principal: ProgramWriter,
    program_id: uuid.UUID,
    if_match: IfMatch = None,
) -> Response:
    """Deletes the program with its schedules, cost options and location links. Provider keys delete
    only their own organization's programs (others answer 404, not 403); admins any. A program with
    referrals on record answers 409 (`in_use`): set its status to closed instead. Send If-Match to
    get 412 when it changed since you read it.
    """
    await service.delete_program(session, principal, program_id, if_match)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/programs/{program_id}/verify",
    operation_id="programs_verify",
    summary="Confirm a listing is current",
    description="Sets last_verified_at to now. Stale listings rank lower and can be filtered.",
    responses=problem_responses(401, 403, 404),
    response_model=ProgramOut,
)
async def programs_verify(
    session: SessionDep, principal: ProgramWriter, program_id: uuid.UUID
) -> Response:
    return _answer(await service.verify_program(session, principal, program_id))


@router.get(
    "/programs/{program_id}/occurrences",
    operation_id="programs_occurrences",
    openapi_extra=OPTIONAL_AUTH,
    summary="Sessions of a program between two dates",
    description="Expands the program's RFC 5545 schedules (python-dateutil rrule) into "
    "sessions in the local time zone, at most 366 days and 1000 sessions at a time.",
    responses=problem_responses(401, 404, 422),
)
async def programs_occurrences(
    session: SessionDep,
    principal: PrincipalDep,
    program_id: uuid.UUID,
    from_: Annotated[QueryDay | None, Query(alias="from", description="Default: today")] = None,
    to: Annotated[QueryDay | None, Query(description="Default: 30 days after from")] = None,
) -> list[OccurrenceOut]:
    tz = ZoneInfo(get_settings().timezone)
    start = from_ or local_today()
    end = to or start + timedelta(days=30)
    found = await service.occurrences(session, principal, program_id, start, end, tz)
    return [OccurrenceOut(starts_at=o.starts_at, ends_at=o.ends_at) for o in found]


@router.get(
    "/taxonomy-terms",
    operation_id="taxonomy_terms_list",
    tags=["taxonomy"],
    summary="List taxonomy terms programs are tagged with",
    responses=problem_responses(422),
)
async def taxonomy_terms_list(session: SessionDep, pages: Pages) -> Page[TaxonomyTermOut]:
    """Returns a page of the taxonomy terms (code, English and Spanish name, description), ordered
    by code. No API key needed; a program's `taxonomy_terms` refer to these codes.
    """
    rows, total = await repo.list_terms(session, pages)
    return Page[TaxonomyTermOut].build(
        [TaxonomyTermOut.model_validate(t) for t in rows], total, pages
    )
