"""Students and their audit trail: school staff and admins only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from service.audit.schemas import AuditEntryOut
from service.audit.service import trail_of_student
from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.concurrency import IfMatch, etag, set_etag
from service.db import SessionDep
from service.errors import problem_responses
from service.idempotency import Claim, IdempotencyKey, idempotent
from service.pagination import Page, PageParams, page_params
from service.students import service
from service.students.schemas import (
    StudentCreate,
    StudentLookup,
    StudentNumber,
    StudentOut,
    StudentUpdate,
)

router = APIRouter(tags=["students"])
SchoolStaff = Annotated[Principal, require_roles(Role.school, Role.admin)]
Auditor = Annotated[Principal, require_roles(Role.privacy_officer, Role.admin)]


@router.post(
    "/students",
    operation_id="students_create",
    status_code=status.HTTP_201_CREATED,
    response_model=StudentOut,
    summary="Record a student of your school",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def students_create(
    session: SessionDep,
    principal: SchoolStaff,
    body: StudentCreate,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Records a student and returns it with its ETag and a `Location` header; personal fields are
    stored encrypted. School keys record students of their own school; admins must give `school_id`,
    which must be a school (422). A student with the same normalized name and date of birth, or the
    same `student_number`, at that school answers 409; send an Idempotency-Key to retry safely.
    """

    async def create(_: Claim | None) -> tuple[int, StudentOut, dict[str, str]]:
        student = await service.create_student(session, principal, body)
        headers = {"ETag": etag(student.version), "Location": f"/students/{student.id}"}
        return 201, service.student_out(student), headers

    return await idempotent(session, principal, idempotency_key, "students_create", body, create)


@router.get(
    "/students",
    operation_id="students_list",
    summary="List your school's students",
    responses=problem_responses(401, 403),
)
async def students_list(
    session: SessionDep,
    principal: SchoolStaff,
    pages: Annotated[PageParams, Depends(page_params)],
    school_id: Annotated[uuid.UUID | None, Query(description="Admins: one school")] = None,
    student_number: Annotated[StudentNumber | None, Query()] = None,
) -> Page[StudentOut]:
    """Returns a page of students ordered by student number, optionally only the one with
    `student_number`. School keys see only their own school's students; admins see every school's,
    or one school's with `school_id`. Every student returned is recorded in the audit trail as read.
    """
    rows, total = await service.list_students(session, principal, pages, school_id, student_number)
    return Page[StudentOut].build([service.student_out(s) for s in rows], total, pages)


@router.post(
    "/students/lookup",
    operation_id="students_lookup",
    summary="Find your school's student by name and date of birth (audited)",
    description="Matches by a keyed hash of the school, the normalized name and the birth "
    "date, so the name is never searched in clear. The body keeps the name out of URLs and "
    "access logs.",
    responses=problem_responses(401, 403, 404, 422),
)
async def students_lookup(
    session: SessionDep, principal: SchoolStaff, body: StudentLookup
) -> list[StudentOut]:
    rows = await service.lookup_students(session, principal, body)
    return [service.student_out(s) for s in rows]


# {student_id:uuid}: so that /students/lookup never reaches these routes (a PATCH to it is
# a 405, not a 422 about an id). The OpenAPI path stays /students/{student_id}.
@router.get(
    "/students/{student_id:uuid}",
    operation_id="students_get",
    summary="Read a student (audited)",
    responses=problem_responses(401, 403, 404),
)
async def students_get(
    session: SessionDep, principal: SchoolStaff, student_id: uuid.UUID, response: Response
) -> StudentOut:
    """Returns one student record, personal fields included (null once purged under the retention
    rule), with its ETag. School keys read only their own school's students and admins any; a
    student of another school answers 404, not 403. Each read is recorded in the student's audit
    trail.
    """
    student = await service.read_student(session, principal, student_id)
    set_etag(response, student.version)
    return service.student_out(student)


@router.patch(
    "/students/{student_id:uuid}",
    operation_id="students_update",
    summary="Change a student's record",
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def students_update(
    session: SessionDep,
    principal: SchoolStaff,
    student_id: uuid.UUID,
    body: StudentUpdate,
    response: Response,
    if_match: IfMatch = None,
) -> StudentOut:
    """Changes only the fields present and returns the student with its new ETag; the change is
    audited. School keys change only their own school's students (another school's answers 404, not
    403), admins any. first_name, last_name, date_of_birth and grade cannot be cleared (422); a
    change that duplicates another student of the school, or sets personal fields after they were
    purged, answers 409, and a stale If-Match answers 412.
    """
    student = await service.update_student(session, principal, student_id, body, if_match)
    set_etag(response, student.version)
    return service.student_out(student)


@router.get(
    "/students/{student_id}/audit",
    operation_id="students_audit",
    summary="Who read or changed this student's records, newest first (privacy officers, admins)",
    responses=problem_responses(401, 403, 404),
)
async def students_audit(
    session: SessionDep,
    principal: Auditor,
    student_id: uuid.UUID,
    pages: Annotated[PageParams, Depends(page_params)],
) -> Page[AuditEntryOut]:
    """Returns a page of the audit entries about this student, newest first: which person
    (actor_subject, actor_name) or API key (actor_key_id), with its role and organization, read,
    created or changed the student, its consents or its referrals. For the privacy officers of the
    student's school and admins; a student of another school, or an unknown one, answers 404.
    """
    await service.get_audited_student(session, principal, student_id)
    rows, total = await trail_of_student(session, student_id, pages)
    return Page[AuditEntryOut].build([AuditEntryOut.model_validate(r) for r in rows], total, pages)
