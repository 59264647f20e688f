"""Students: created and read by their school (and admins); every read is audited."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog.enums import Grade, OrganizationType
from service.catalog.models import Organization
from service.concurrency import check_if_match
from service.errors import Conflict, FieldError, NotFound, Unprocessable
from service.geo.models import Area, AreaKind
from service.geo.service import LOAD_HINT, has_geodata
from service.pagination import PageParams, fetch_page
from service.students.models import Student
from service.students.schemas import StudentCreate, StudentFields, StudentOut, StudentUpdate


def student_out(student: Student) -> StudentOut:
    return StudentOut.model_validate(
        {
            **{c: getattr(student, c) for c in StudentOut.model_fields},
            "grade": Grade.from_rank(student.grade),
        }
    )


def not_found(student_id: uuid.UUID) -> NotFound:
    return NotFound(f"No student with id {student_id} is visible to you.")


async def school_of(
    session: AsyncSession, principal: Principal, school_id: uuid.UUID | None
) -> uuid.UUID:
    """The school a write is for: the caller's own, or (admins) the one named."""
    school_id = school_id or (None if principal.is_admin else principal.organization_id)
    if school_id is None:
        raise Unprocessable(
            "Name the school (school_id).",
            errors=[
                FieldError(loc=["body", "school_id"], msg="required for admins", type="missing")
            ],
        )
    if not scope.can_write_org(principal, school_id):
        raise NotFound(f"No school with id {school_id} is visible to you.", code="school_not_found")
    org_type = await session.scalar(select(Organization.type).where(Organization.id == school_id))
    if org_type is not OrganizationType.school:
        raise Unprocessable(
            f"Organization {school_id} is not a school.",
            code="not_a_school",
            errors=[FieldError(loc=["body", "school_id"], msg="not a school", type="not_a_school")],
        )
    return school_id


async def get_student(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID, *, for_update: bool = False
) -> Student:
    """The student, if the caller's school owns it (or the caller is an admin); else 404."""
    query = select(Student).where(
        Student.id == student_id, scope.owned_by_visible_org(Student.school_id, principal)
    )
    if for_update:
        query = query.with_for_update()
    student = await session.scalar(query)
    if student is None:
        raise not_found(student_id)
    return student


async def read_student(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID
) -> Student:
    student = await get_student(session, principal, student_id)
    record(session, principal, "student.read", "student", student.id, student.id)
    return student


async def _home_tract(session: AsyncSession, body: StudentFields) -> str | None:
    if body.home_location is not None:
        point = func.ST_SetSRID(
            func.ST_MakePoint(body.home_location.longitude, body.home_location.latitude), 4326
        )
        return await session.scalar(
            select(Area.code)
            .where(Area.kind == AreaKind.tract, func.ST_Covers(Area.geom, point))
            .order_by(Area.code)
            .limit(1)
        )
    tract = body.home_tract
    if tract is not None:
        known = await session.scalar(
            select(Area.id).where(Area.kind == AreaKind.tract, Area.code == tract)
        )
        if known is None:
            detail = f"No census tract {tract} is loaded."
            if not await has_geodata(session):
                detail += " " + LOAD_HINT
            raise Unprocessable(
                detail,
                code="unknown_reference",
                errors=[
                    FieldError(
                        loc=["body", "home_tract"], msg="unknown tract", type="unknown_reference"
                    )
                ],
            )
    return tract


def _columns(body: StudentFields, fields: set[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in fields - {"home_tract", "home_location", "school_id"}:
        value = getattr(body, name)
        if name == "grade" and value is not None:
            value = value.rank
        elif name == "races" and value is not None:
            value = [r.value for r in value]
        values[name] = value
    return values


async def _flush(session: AsyncSession, student_number: str) -> None:
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_students_school_id" in str(exc.orig):
            raise Conflict(
                f"This school already has a student with student_number {student_number}.",
                code="duplicate_student",
            ) from None
        raise


async def create_student(
    session: AsyncSession, principal: Principal, body: StudentCreate
) -> Student:
    school_id = await school_of(session, principal, body.school_id)
    student = Student(school_id=school_id, student_number=body.student_number)
    for name, value in _columns(
        body, body.model_fields_set | {"first_name", "last_name", "date_of_birth", "grade"}
    ).items():
        setattr(student, name, value)
    student.home_tract = await _home_tract(session, body)
    session.add(student)
    await _flush(session, body.student_number)
    record(session, principal, "student.create", "student", student.id, student.id)
    return student


async def update_student(
    session: AsyncSession,
    principal: Principal,
    student_id: uuid.UUID,
    body: StudentUpdate,
    if_match: str | None,
) -> Student:
    student = await get_student(session, principal, student_id, for_update=True)
    check_if_match(if_match, student.version)
    required = {"first_name", "last_name", "date_of_birth", "grade"} & body.model_fields_set
    for name in required:
        if getattr(body, name) is None:
            raise Unprocessable(
                f"{name} cannot be cleared.",
                errors=[FieldError(loc=["body", name], msg="must not be null", type="required")],
            )
    for name, value in _columns(body, body.model_fields_set).items():
        setattr(student, name, value)
    if {"home_tract", "home_location"} & body.model_fields_set:
        student.home_tract = await _home_tract(session, body)
    student.version += 1
    await _flush(session, student.student_number)
    record(session, principal, "student.update", "student", student.id, student.id)
    return student


async def list_students(
    session: AsyncSession,
    principal: Principal,
    pages: PageParams,
    school_id: uuid.UUID | None,
    student_number: str | None,
) -> tuple[Sequence[Student], int]:
    query = select(Student).where(scope.owned_by_visible_org(Student.school_id, principal))
    if school_id is not None:
        query = query.where(Student.school_id == school_id)
    if student_number is not None:
        query = query.where(Student.student_number == student_number)
    rows, total = await fetch_page(
        session, query, pages, Student.last_name, Student.first_name, Student.id
    )
    for student in rows:
        record(session, principal, "student.read", "student", student.id, student.id)
    return rows, total
