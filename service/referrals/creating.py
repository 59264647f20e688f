"""Creating a referral: the student's school refers, under a covering consent, to a
program that can take it (capacity.py); one insert settles concurrent duplicates."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
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
from service.referrals import capacity, writes
from service.referrals.models import Referral
from service.referrals.schemas import ReferralCreate
from service.referrals.service import payload
from service.referrals.states import OPEN, Side, Status
from service.referrals.views import ReferralRows
from service.referrals.windows import due_dates
from service.settings import get_settings
from service.students.models import Student
from service.students.service import not_found as student_not_found
from service.webhooks.events import EventType
from service.webhooks.service import emit


async def _student_and_school(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID
) -> tuple[Student, str]:
    """The student (404 unless the caller's school owns it) and its school's name."""
    query = (
        select(Student, Organization.name)
        .join(Organization, Organization.id == Student.school_id)
        .where(Student.id == student_id, scope.readable(Student, principal))
    )
    row = (await session.execute(query)).first()
    if row is None:
        raise student_not_found(student_id)
    return row[0], row[1]


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


async def _program(session: AsyncSession, principal: Principal, program_id: uuid.UUID) -> _Program:
    """What a referral needs of its program. An inactive program of another organization
    is not visible: it answers like one that does not exist, so the school cannot learn
    it is there."""
    columns = (
        Program.id,
        Program.organization_id,
        Program.name,
        Program.category,
        Program.status,
        Program.accepting_referrals,
        Program.enrollment_status,
        Program.seats_available,
    )
    query = select(*columns).where(Program.id == program_id, scope.readable(Program, principal))
    row = (await session.execute(query)).first()
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
    return _Program(*row)


async def _covering_consent(
    session: AsyncSession, student: Student, program: _Program, body: ReferralCreate
) -> Consent:
    consents = await session.scalars(
        select(Consent)
        .where(Consent.student_id == student.id, Consent.revoked_at.is_(None))
        .order_by(Consent.expires_on.desc(), Consent.id)
    )
    on = today()
    for consent in consents:
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
    student, school_name = await _student_and_school(session, principal, body.student_id)
    if principal.role is not Role.school or principal.organization_id != student.school_id:
        raise Forbidden("Only staff of the student's school can refer.", code="school_only")
    program = await _program(session, principal, body.program_id)
    if program.status is not ProgramStatus.active or not program.accepting_referrals:
        raise Unprocessable(
            "This program is not taking referrals"
            + (" (it is closed)." if program.status is not ProgramStatus.active else "."),
            code="program_unavailable",
        )
    waitlisted = capacity.admission(program.seats_available, program.enrollment_status)
    consent = await _covering_consent(session, student, program, body)
    settings = get_settings()
    sent_at = utcnow()
    response_due, contact_due = due_dates(
        sent_at, settings.referral_response_business_days, settings.referral_contact_days, zone()
    )
    referral = Referral(
        id=uuid.uuid4(),
        student_id=student.id,
        consent_id=consent.id,
        school_id=student.school_id,
        program_id=program.id,
        provider_id=program.organization_id,
        need=body.need,
        need_text=body.need_text,
        urgency=body.urgency,
        shared_elements=[e.value for e in body.shared_elements],
        status=Status.sent,
        sent_at=sent_at,
        response_due_at=response_due,
        contact_due_at=contact_due,
        created_by_key_id=principal.key_id,
        waitlisted=waitlisted,
        version=1,
    )
    try:
        # Inside the savepoint (begin_nested flushes what is pending before it starts), so
        # a refused insert leaves the transaction usable.
        async with session.begin_nested():
            session.add(referral)
            await session.flush()
    except IntegrityError as exc:
        if "uq_referrals_open_student_program" not in str(exc.orig):
            raise
        existing = await _open_duplicate(session, student.id, program.id)
        raise _duplicate(existing or referral.id) from None
    first = await writes.append_event(
        session, referral.id, 1, Side.school, principal, None, Status.sent, None, None, sent_at
    )
    await record(session, principal, "referral.create", "referral", referral.id, student.id)
    await emit(
        session,
        EventType.referral_created,
        [referral.provider_id, referral.school_id],
        payload(referral),
    )
    return ReferralRows(
        referral,
        student,
        consent,
        program.name,
        school_name,
        [first],
        program_seats=program.seats_available,
    )
