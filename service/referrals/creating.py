"""Creating a referral: the student's school refers, under a covering consent, to a
program that can take it (capacity.py); one insert settles concurrent duplicates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Uuid, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog.enums import Category, EnrollmentStatus, ProgramStatus
from service.catalog.models import Organization, Program
from service.consent import rules
from service.consent.models import Consent
from service.db import utcnow
from service.errors import Conflict, FieldError, Forbidden, Unprocessable
from service.local_time import today, zone
from service.reader import (
    Prepared,
    Reader,
    compile_statement,
    param,
)
from service.referrals import capacity, writes
from service.referrals.models import Referral
from service.referrals.reading import CONSENT, STUDENT
from service.referrals.schemas import ReferralCreate
from service.referrals.service import payload
from service.referrals.states import OPEN, Status
from service.referrals.views import ReferralRows
from service.referrals.windows import due_dates
from service.settings import get_settings
from service.students.models import Student
from service.students.service import not_found as student_not_found
from service.webhooks.events import EventType


def _student_query(shape: Principal) -> Select[Any]:
    return (
        select(*STUDENT.labeled, Organization.name.label("school_name"))
        .select_from(Student)
        .join(Organization, Organization.id == Student.school_id)
        .where(Student.id == param("student_id", Uuid), scope.readable(Student, shape))
    )


# Compiled once (per scope shape) and run on the session's connection (service/reader.py):
# through the ORM these lookups cost about 2.5 ms of Python a referral.
_STUDENT = Prepared(_student_query)


async def _student_and_school(
    reader: Reader, principal: Principal, student_id: uuid.UUID
) -> tuple[Student, str]:
    """The student (404 unless the caller's school owns it) and its school's name."""
    row = await reader.fetchrow(_STUDENT(scope.shape(principal)), student_id=student_id)
    if row is None:
        raise student_not_found(student_id)
    return STUDENT.load(row), row["school_name"]


@dataclass(frozen=True)
class _Program:
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    category: Category
    status: ProgramStatus
    accepting_referrals: bool
    enrollment_status: EnrollmentStatus
    seats_available: int | None


_PROGRAM_COLUMNS = (
    Program.id,
    Program.organization_id,
    Program.name,
    Program.category,
    Program.status,
    Program.accepting_referrals,
    Program.enrollment_status,
    Program.seats_available,
)
_PROGRAM = Prepared(
    lambda shape: select(*_PROGRAM_COLUMNS).where(
        Program.id == param("program_id", Uuid), scope.readable(Program, shape)
    )
)


async def _program(reader: Reader, principal: Principal, program_id: uuid.UUID) -> _Program:
    """What a referral needs of its program. An inactive program of another organization
    is not visible: it answers like one that does not exist, so the school cannot learn
    it is there."""
    row = await reader.fetchrow(_PROGRAM(scope.shape(principal)), program_id=program_id)
    if row is None:
        raise Unprocessable(
            f"No program with id {program_id} is visible to you.",
            code="unknown_reference",
            errors=[
                FieldError(
                    loc=["body", "program_id"], msg="no such program", type="unknown_reference"
                )
            ],
        )
    return _Program(
        id=row["id"],
        organization_id=row["organization_id"],
        name=row["name"],
        category=Category(row["category"]),
        status=ProgramStatus(row["status"]),
        accepting_referrals=row["accepting_referrals"],
        enrollment_status=EnrollmentStatus(row["enrollment_status"]),
        seats_available=row["seats_available"],
    )


_CONSENTS = compile_statement(
    select(*CONSENT.labeled)
    .where(Consent.student_id == param("student_id", Uuid), Consent.revoked_at.is_(None))
    .order_by(Consent.expires_on.desc(), Consent.id)
)


async def _covering_consent(
    reader: Reader, student: Student, program: _Program, body: ReferralCreate
) -> Consent:
    rows = await reader.fetch(_CONSENTS, student_id=student.id)
    on = today()
    for consent in map(CONSENT.load, rows):
        if rules.covers(
            consent, program.organization_id, program.category.value, body.shared_elements, on
        ):
            return consent
    elements = ", ".join(e.value for e in body.shared_elements)
    raise Unprocessable(
        "No active consent for this student lets the school send "
        f"{elements} to this program's organization (or its category {program.category.value}). "
        "Record the guardian's consent first.",
        code="consent_required",
    )


async def _open_duplicate(
    session: AsyncSession, student_id: uuid.UUID, program_id: uuid.UUID
) -> uuid.UUID | None:
    return await session.scalar(
        select(Referral.id).where(
            Referral.student_id == student_id,
            Referral.program_id == program_id,
            Referral.status.in_(OPEN),
        )
    )


def _duplicate(existing: uuid.UUID) -> Conflict:
    link = f"/referrals/{existing}"
    return Conflict(
        f"This student already has an open referral to this program: {link}.",
        code="duplicate_referral",
        headers={"Location": link},
        extra={"existing_referral": link},
    )


async def create_referral(
    session: AsyncSession, principal: Principal, body: ReferralCreate
) -> ReferralRows:
    """The new referral, with what its response shows. A second open referral of the
    student to the program is refused by the unique index uq_referrals_open_student_program
    (no look before the insert: the index also settles concurrent attempts): 409 with a
    link to the open one."""
    reader = Reader(session=session)
    student, school_name = await _student_and_school(reader, principal, body.student_id)
    if principal.role is not Role.school or principal.organization_id != student.school_id:
        raise Forbidden("Only staff of the student's school can refer.", code="school_only")
    program = await _program(reader, principal, body.program_id)
    if program.status is not ProgramStatus.active or not program.accepting_referrals:
        raise Unprocessable(
            "This program is not taking referrals"
            + (" (it is closed)." if program.status is not ProgramStatus.active else "."),
            code="program_unavailable",
        )
    waitlisted = capacity.admission(program.seats_available, program.enrollment_status)
    consent = await _covering_consent(reader, student, program, body)
    settings = get_settings()
    sent_at = utcnow()
    response_due, contact_due = due_dates(
        sent_at, settings.referral_response_business_days, settings.referral_contact_days, zone()
    )
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "student_id": student.id,
        "consent_id": consent.id,
        "school_id": student.school_id,
        "program_id": program.id,
        "provider_id": program.organization_id,
        "need": body.need,
        "need_text": body.need_text,
        "urgency": body.urgency,
        "shared_elements": [e.value for e in body.shared_elements],
        "status": Status.sent,
        "status_reason": None,
        "sent_at": sent_at,
        "received_at": None,
        "responded_at": None,
        "contacted_at": None,
        "enrolled_at": None,
        "closed_at": None,
        "response_due_at": response_due,
        "contact_due_at": contact_due,
        "created_by_key_id": principal.key_id,
        "waitlisted": waitlisted,
        "seat_held": False,
        "version": 1,
    }
    webhook = (EventType.referral_created, payload(Referral(**values)))
    record = writes.Record(principal, "referral.create")
    created = await writes.create(session, values, principal, webhook, record)
    if created is None:  # ON CONFLICT: the unique index of open referrals refused it
        existing = await _open_duplicate(session, student.id, program.id)
        raise _duplicate(existing or values["id"])
    referral, first = created
    return ReferralRows(
        referral,
        student,
        consent,
        program.name,
        school_name,
        [first],
        program_seats=program.seats_available,
    )
