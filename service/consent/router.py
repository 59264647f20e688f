"""Consent records: school staff record them, admins read them (revoke: referrals/revocation)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.consent import service
from service.consent.schemas import ConsentCreate, ConsentOut
from service.db import SessionDep
from service.errors import problem_responses
from service.idempotency import Claim, IdempotencyKey, idempotent
from service.pagination import Page, PageParams, page_params

router = APIRouter(tags=["consents"])
SchoolStaff = Annotated[Principal, require_roles(Role.school, Role.admin)]


@router.post(
    "/students/{student_id}/consents",
    operation_id="consents_create",
    status_code=status.HTTP_201_CREATED,
    response_model=ConsentOut,
    summary="Record a signed consent (FERPA, 34 CFR 99.30)",
    description="The signer is the guardian, or the student once 18 (an eligible student); "
    "the other is refused with signer_not_entitled.",
    responses=problem_responses(401, 403, 404, 422),
)
async def consents_create(
    session: SessionDep,
    principal: SchoolStaff,
    student_id: uuid.UUID,
    body: ConsentCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    async def create(_: Claim | None) -> tuple[int, ConsentOut, dict[str, str]]:
        consent = await service.create_consent(session, principal, student_id, body)
        return 201, service.consent_out(consent), {"Location": f"/consents/{consent.id}"}

    return await idempotent(
        session,
        principal,
        idempotency_key,
        "consents_create",
        body,
        create,
        scope={"student_id": str(student_id)},
    )


@router.get(
    "/students/{student_id}/consents",
    operation_id="consents_list",
    summary="A student's consents, newest first",
    responses=problem_responses(401, 403, 404),
)
async def consents_list(
    session: SessionDep,
    principal: SchoolStaff,
    student_id: uuid.UUID,
    pages: Annotated[PageParams, Depends(page_params)],
) -> Page[ConsentOut]:
    """Returns a page of the student's consents, most recently signed first, each with its computed
    state (active, not_yet_valid, expired or revoked). School keys see only their own school's
    students and admins any; a student of another school answers 404, not 403.
    """
    rows, total = await service.list_consents(session, principal, student_id, pages)
    return Page[ConsentOut].build([service.consent_out(c) for c in rows], total, pages)


@router.get(
    "/consents/{consent_id}",
    operation_id="consents_get",
    summary="Read a consent",
    responses=problem_responses(401, 403, 404),
)
async def consents_get(
    session: SessionDep, principal: SchoolStaff, consent_id: uuid.UUID
) -> ConsentOut:
    """Returns one consent with its computed state; the signer's name is null once purged under the
    retention rule. School keys read only their own school's consents and admins any; a consent of
    another school answers 404, not 403.
    """
    return service.consent_out(await service.get_consent(session, principal, consent_id))
