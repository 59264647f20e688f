"""Referrals: create, read, move through the loop; the provider inbox and school outbox."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from service import direct
from service.auth.principal import Principal, check_roles, require_roles
from service.auth.roles import Role
from service.concurrency import IfMatch, etag, etag_header, set_etag
from service.db import ReaderDep, SessionDep, get_reader, utcnow, wrote
from service.errors import problem_responses
from service.idempotency import (
    Answer,
    Claim,
    IdempotencyKey,
    claim_for,
    idempotent,
    replay,
    respond,
)
from service.local_time import today
from service.pagination import Page, PageParams, page_params
from service.reader import Reader
from service.referrals import creating, reading, service
from service.referrals.schemas import ReferralCreate, ReferralOut, TransitionCreate
from service.referrals.states import Side, Status
from service.referrals.views import ReferralRows, referral_out

router = APIRouter(tags=["referrals"])
SCHOOLS = (Role.school,)
School = Annotated[Principal, require_roles(*SCHOOLS)]
Provider = Annotated[Principal, require_roles(Role.provider, Role.admin)]
Outbox = Annotated[Principal, require_roles(Role.school, Role.admin)]
PARTIES = (Role.school, Role.provider, Role.admin)
Party = Annotated[Principal, require_roles(*PARTIES)]
MOVERS = (Role.school, Role.provider)
Moving = Annotated[Principal, require_roles(*MOVERS)]


def _out(principal: Principal, rows: ReferralRows) -> ReferralOut:
    acting = reading.side_of(principal, rows.referral)
    viewer = Side.provider if acting is Side.provider else Side.school  # admins read fully
    return referral_out(rows, viewer, acting, utcnow(), today())


@router.post(
    "/referrals",
    operation_id="referrals_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ReferralOut,
    summary="Refer a student to a program (school staff)",
    description="Needs an active consent of the student that covers the program's "
    "organization (or its category) and every element in shared_elements.",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def referrals_create(
    reader: ReaderDep,
    principal: School,
    body: ReferralCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _create(reader, principal, body, idempotency_key)


async def _create(
    reader: Reader, principal: Principal, body: ReferralCreate, key: str | None
) -> Response:
    """The referral written with its Idempotency-Key and answer in one statement
    (creating.py, writes.py); a request that finds the key held replays its answer."""
    claim = claim_for(principal, key, "referrals_create", body)

    def created(rows: ReferralRows) -> Answer:
        referral = rows.referral
        headers = {"ETag": etag(referral.version), "Location": f"/referrals/{referral.id}"}
        return 201, _out(principal, rows), headers

    try:
        if claim is None:
            return respond(created(await creating.create_referral(reader, principal, body)))
        answer = claim.answer
        await creating.create_referral(reader, principal, body, lambda r: answer(*created(r)))
    except creating.NotWritten as refused:
        # The key's holder answers, if any: one the insert saw, or one that committed
        # while the insert waited for it (it met neither the key nor an open referral).
        done = refused.done
        if claim is not None and (done.held or done.open_referral is None):
            replayed = await replay(reader, claim)
            if replayed is not None:
                return replayed
        raise await creating.duplicate(reader, refused) from None
    assert claim.answered is not None
    return claim.answered[1]


StatusFilter = Annotated[
    list[Status] | None, Query(max_length=len(Status), description="Only these statuses")
]
OverdueFilter = Annotated[bool | None, Query(description="Only overdue (true) or not (false)")]


async def _listed(
    session: SessionDep,
    principal: Principal,
    side: Side,
    pages: PageParams,
    statuses: list[Status] | None,
    overdue: bool | None,
) -> Page[ReferralOut]:
    found, total = await reading.list_referrals(
        session, principal, side, reading.ListFilter(statuses or (), overdue), pages
    )
    await service.record_reads(session, principal, found)
    return Page[ReferralOut].build([_out(principal, r) for r in found], total, pages)


@router.get(
    "/referrals/inbox",
    operation_id="referrals_inbox",
    summary="Referrals to your organization (providers)",
    responses=problem_responses(401, 403),
)
async def referrals_inbox(
    session: SessionDep,
    principal: Provider,
    pages: Annotated[PageParams, Depends(page_params)],
    status: StatusFilter = None,
    overdue: OverdueFilter = None,
) -> Page[ReferralOut]:
    """Returns a page of the referrals sent to your organization, newest first; filter by `status`,
    and with `overdue=true` keep those past their response or first-contact deadline. Provider keys
    see their own organization's referrals, with only the student data the referral shares and an
    active consent allows; admins see every referral in full. Listing does not mark referrals
    received (reading one does), and each referral listed is audited as read.
    """
    return await _listed(session, principal, Side.provider, pages, status, overdue)


@router.get(
    "/referrals/outbox",
    operation_id="referrals_outbox",
    summary="Your school's referrals with status and timeline (schools)",
    responses=problem_responses(401, 403),
)
async def referrals_outbox(
    session: SessionDep,
    principal: Outbox,
    pages: Annotated[PageParams, Depends(page_params)],
    status: StatusFilter = None,
    overdue: OverdueFilter = None,
) -> Page[ReferralOut]:
    """Returns a page of the referrals your school sent, newest first, each with the full student
    view, deadlines and timeline; filter by `status`, and with `overdue=true` keep those past their
    response or first-contact deadline. School keys see their own school's referrals; admins see
    every referral. Each referral listed is recorded in the audit trail as read.
    """
    return await _listed(session, principal, Side.school, pages, status, overdue)


@router.get(
    "/referrals/{referral_id}",
    operation_id="referrals_get",
    summary="Read a referral and its timeline",
    description="The provider's first read marks the referral received.",
    responses=problem_responses(401, 403, 404),
)
async def referrals_get(
    reader: ReaderDep,
    principal: Party,
    referral_id: uuid.UUID,
    response: Response,
) -> ReferralOut:
    rows = await reading.read_recorded(reader, principal, referral_id)
    rows = await service.receive_on_first_read(reader, principal, rows)
    set_etag(response, rows.referral.version)
    return _out(principal, rows)


async def referral_read(request: Request) -> Response:
    """GET /referrals/{referral_id} as served (service/direct.py): what referrals_get does.
    No session: the read and its audit entry are one statement, and the provider's first
    read, which moves the referral, one more (service.receive_on_first_read)."""
    principal = check_roles(await direct.caller(request), PARTIES)
    referral_id: uuid.UUID = request.path_params["referral_id"]
    reader = await get_reader(request)
    rows = await reading.read_recorded(reader, principal, referral_id)
    rows = await service.receive_on_first_read(reader, principal, rows)
    body = _out(principal, rows).model_dump_json()
    return Response(body, media_type="application/json", headers=etag_header(rows.referral.version))


_IF_MATCH = direct.header_check(IfMatch)
_IDEMPOTENCY_KEY = direct.header_check(IdempotencyKey)
_TRANSITION = TypeAdapter(TransitionCreate)
_CREATE = TypeAdapter(ReferralCreate)


async def referral_move(request: Request) -> Response:
    """POST /referrals/{referral_id}/transitions as served (service/direct.py): what
    referrals_transition does, in the same order (the body is read first, then the
    caller, then the headers and the body are checked together)."""
    raw = await direct.json_body(request)
    principal = check_roles(await direct.caller(request), MOVERS)
    errors: list[Any] = []
    if_match = direct.header(request, _IF_MATCH, errors)
    key = direct.header(request, _IDEMPOTENCY_KEY, errors)
    body = direct.body_model(_TRANSITION, raw, errors)
    direct.refuse(errors, raw)
    assert body is not None
    referral_id: uuid.UUID = request.path_params["referral_id"]
    reader = await get_reader(request)
    async with direct.unit_of_work(request) as session:  # used only with a key
        response = await _transition(session, reader, principal, referral_id, body, if_match, key)
    wrote(request)
    return response


async def referral_create(request: Request) -> Response:
    """POST /referrals as served (service/direct.py): what referrals_create does."""
    raw = await direct.json_body(request)
    principal = check_roles(await direct.caller(request), SCHOOLS)
    errors: list[Any] = []
    key = direct.header(request, _IDEMPOTENCY_KEY, errors)
    body = direct.body_model(_CREATE, raw, errors)
    direct.refuse(errors, raw)
    assert body is not None
    response = await _create(await get_reader(request), principal, body, key)
    wrote(request)
    return response


DIRECT = [
    direct.route(
        "/referrals/{referral_id}",
        referral_read,
        "referrals_get",
        matched="/referrals/{referral_id:uuid}",
    ),
    direct.route(
        "/referrals/{referral_id}/transitions",
        referral_move,
        "referrals_transition",
        matched="/referrals/{referral_id:uuid}/transitions",
        method="POST",
    ),
    direct.route("/referrals", referral_create, "referrals_create", method="POST"),
]


@router.post(
    "/referrals/{referral_id}/transitions",
    operation_id="referrals_transition",
    summary="Move a referral to its next status",
    description="Requires If-Match with the referral's ETag (428 without it, 412 when stale). "
    "declined and not_completed need a reason code. With an Idempotency-Key, a retry of a "
    "move whose answer was lost replays that answer instead of meeting a stale If-Match.",
    response_model=ReferralOut,
    responses=problem_responses(401, 403, 404, 409, 412, 422, 428),
)
async def referrals_transition(
    session: SessionDep,
    reader: ReaderDep,
    principal: Moving,
    referral_id: uuid.UUID,
    body: TransitionCreate,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    return await _transition(
        session, reader, principal, referral_id, body, if_match, idempotency_key
    )


def _moved(principal: Principal, rows: ReferralRows) -> Answer:
    return 200, _out(principal, rows), {"ETag": etag(rows.referral.version)}


async def _transition(
    session: AsyncSession,
    reader: Reader,
    principal: Principal,
    referral_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
    key: str | None,
) -> Response:
    """The move, with its Idempotency-Key when one is sent: then everything runs in the
    session's transaction, with the key's claim and stored answer. Without one, a move of
    one statement runs on `reader` and the session is never used (service.transition)."""
    on = reader if key is None else Reader(session=session)

    async def move(_: Claim | None) -> Answer:
        return _moved(
            principal, await service.transition(on, principal, referral_id, body, if_match)
        )

    scope = {"referral_id": str(referral_id)}
    return await idempotent(session, principal, key, "referrals_transition", body, move, scope)
