"""Students: created and read by their school (and admins); every read is audited.

Personal fields travel sealed (students/pii.py): they are opened only to answer the
owning school or an admin, and a duplicate is found by its identity hash.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
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
from service.sealing.keyring import keyring
from service.students.models import Student
from service.students.pii import (
    PII_FIELDS,
    StudentPII,
    identity_digests,
    open_student,
    seal_student,
)
from service.students.schemas import (
    StudentCreate,
    StudentFields,
    StudentLookup,
    StudentOut,
    StudentUpdate,
)

REQUIRED = frozenset({"first_name", "last_name", "date_of_birth", "grade"})


def student_out(student: Student) -> StudentOut:
    pii = open_student(keyring(), student)
    clear = {c: getattr(student, c) for c in StudentOut.model_fields if c not in PII_FIELDS}
    return StudentOut.model_validate(
        {
            **clear,
            **(asdict(pii) if pii else dict.fromkeys(PII_FIELDS)),
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
    student = await scope.find_readable(
        session, Student, student_id, principal, for_update=for_update
    )
    if student is None:
        raise not_found(student_id)
    return student


async def get_audited_student(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID
) -> None:
    """Nothing, if the caller may read this student's audit trail (its school's privacy
    officers, admins); else 404, as for a student that does not exist."""
    query = select(Student.id).where(Student.id == student_id, scope.audited_students(principal))
    found = await session.scalar(query)
    if found is None:
        raise not_found(student_id)


async def read_student(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID
) -> Student:
    student = await get_student(session, principal, student_id)
    await record(session, principal, "student.read", "student", student.id, student.id)
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
    for name in fields - {"home_tract", "home_location", "school_id"} - PII_FIELDS:
        value = getattr(body, name)
        if name == "grade" and value is not None:
            value = value.rank
        elif name == "races" and value is not None:
            value = [r.value for r in value]
        values[name] = value
    return values


def _same_person(existing: uuid.UUID | None) -> Conflict:
    where = f" (id {existing})" if existing else ""
    return Conflict(
        f"This school already has a student with this name and date of birth{where}.",
        code="duplicate_student",
    )


def same_identity(school_id: uuid.UUID, first: str, last: str, born: date) -> Select[Student]:
    """The school's students with this identity hash, under any key of the keyring (so a
    rotation in progress hides nobody)."""
    digests = identity_digests(keyring(), school_id, first, last, born)
    return select(Student).where(Student.school_id == school_id, Student.identity_hash.in_(digests))


async def _refuse_duplicate(
    session: AsyncSession, student: Student, pii: StudentPII, exclude: uuid.UUID | None = None
) -> None:
    """409 when the school already has this child (same normalized name and birth date)."""
    query = same_identity(
        student.school_id, pii.first_name, pii.last_name, pii.date_of_birth
    ).with_only_columns(Student.id)
    if exclude is not None:
        query = query.where(Student.id != exclude)
    existing = await session.scalar(query.limit(1))
    if existing is not None:
        raise _same_person(existing)


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
        if "uq_students_school_identity" in str(exc.orig):  # a concurrent twin
            raise _same_person(None) from None
        raise


async def create_student(
    session: AsyncSession, principal: Principal, body: StudentCreate
) -> Student:
    school_id = await school_of(session, principal, body.school_id)
    student = Student(id=uuid.uuid4(), school_id=school_id, student_number=body.student_number)
    for name, value in _columns(body, body.model_fields_set | REQUIRED).items():
        setattr(student, name, value)
    student.home_tract = await _home_tract(session, body)
    pii = StudentPII(**{f: getattr(body, f) for f in PII_FIELDS})
    await _refuse_duplicate(session, student, pii)
    seal_student(keyring(), student, pii)
    session.add(student)
    await _flush(session, body.student_number)
    await record(session, principal, "student.create", "student", student.id, student.id)
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
    for name in REQUIRED & body.model_fields_set:
        if getattr(body, name) is None:
            raise Unprocessable(
                f"{name} cannot be cleared.",
                errors=[FieldError(loc=["body", name], msg="must not be null", type="required")],
            )
    for name, value in _columns(body, body.model_fields_set).items():
        setattr(student, name, value)
    changed = PII_FIELDS & body.model_fields_set
    if changed:
        pii = open_student(keyring(), student)
        if pii is None:
            raise Conflict(
                "This student's personal data was purged under the retention rule; "
                "record the student again.",
                code="student_purged",
            )
        pii = replace(pii, **{f: getattr(body, f) for f in changed})
        await _refuse_duplicate(session, student, pii, exclude=student.id)
        seal_student(keyring(), student, pii)
    if {"home_tract", "home_location"} & body.model_fields_set:
        student.home_tract = await _home_tract(session, body)
    student.version += 1
    await _flush(session, student.student_number)
    await record(session, principal, "student.update", "student", student.id, student.id)
    return student


async def list_students(
    session: AsyncSession,
    principal: Principal,
    pages: PageParams,
    school_id: uuid.UUID | None,
    student_number: str | None,
) -> tuple[Sequence[Student], int]:
    query = select(Student).where(scope.readable(Student, principal))
    if school_id is not None:
        query = query.where(Student.school_id == school_id)
    if student_number is not None:
        query = query.where(Student.student_number == student_number)
    rows, total = await fetch_page(session, query, pages, Student.student_number, Student.id)
    for student in rows:
        await record(session, principal, "student.read", "student", student.id, student.id)
    return rows, total


async def lookup_students(
    session: AsyncSession, principal: Principal, body: StudentLookup
) -> Sequence[Student]:
    """The school's student with this name and date of birth, by identity hash (0 or 1)."""
    school_id = await school_of(session, principal, body.school_id)
    query = same_identity(school_id, body.first_name, body.last_name, body.date_of_birth)
    rows = (await session.scalars(query)).all()
    for student in rows:
        await record(session, principal, "student.read", "student", student.id, student.id)
    return rows
