"""The access log: who read or changed a school's students' records, for its privacy
officers and for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from service.audit.schemas import AuditEntryOut
from service.audit.service import AccessFilter, access_log
from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.pagination import Page, PageParams, page_params

router = APIRouter(tags=["audit"])
Auditor = Annotated[Principal, require_roles(Role.privacy_officer, Role.admin)]
Subject = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00]+$",
        description='A person: "<issuer> <sub>", as entries give it in actor_subject',
    ),
]


@router.get(
    "/audit/access-log",
    operation_id="audit_access_log",
    summary="Who read or changed your school's students' records, newest first",
    responses=problem_responses(401, 403),
)
async def audit_access_log(
    session: SessionDep,
    principal: Auditor,
    pages: Annotated[PageParams, Depends(page_params)],
    student_id: Annotated[uuid.UUID | None, Query(description="One student")] = None,
    actor_subject: Subject = None,
    actor_key_id: Annotated[uuid.UUID | None, Query(description="One API key")] = None,
    school_id: Annotated[uuid.UUID | None, Query(description="Admins: one school")] = None,
) -> Page[AuditEntryOut]:
    """Returns a page of the audit entries about students, newest first: each names the person
    (actor_subject, actor_name) or the API key (actor_key_id) that read, created or changed a
    student, a consent or a referral, with their role and organization. A privacy officer sees the
    entries about their own school's students only (filters narrow that, never widen it); admins
    see every school's, or one school's with `school_id`. Filter by `student_id`, and by the actor:
    `actor_subject` or `actor_key_id`.
    """
    wanted = AccessFilter(student_id, actor_subject, actor_key_id, school_id)
    rows, total = await access_log(session, principal, wanted, pages)
    return Page[AuditEntryOut].build([AuditEntryOut.model_validate(r) for r in rows], total, pages)
