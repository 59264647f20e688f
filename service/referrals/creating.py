"""Creating a referral: the student's school refers, under a covering consent, to a
program that can take it (capacity.py). Two statements, no transaction: the lookups,
then one insert (writes.create) that settles concurrent duplicates and claims the
Idempotency-Key."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Uuid, and_, select, true

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
from service.reader import Prepared, Reader, compile_statement, param
from service.referrals import capacity, writes
from service.referrals.reading import CONSENT, STUDENT
from service.referrals.schemas import ReferralCreate
from service.referrals.service import payload
from service.referrals.states import Status
from service.referrals.views import ReferralRows
from service.referrals.windows import due_dates
from service.settings import get_settings
from service.students.models import Student
from service.students.service import not_found as student_not_found
from service.webhooks.events import EventType


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


def _lookups(shape: Principal) -> Select[Any]:
    """What a referral needs, in one statement: the student (visible to the caller) with
    its school's name, the program (NULL columns when the caller cannot see it) and the
    student's consents not revoked, newest expiry first: a row per consent, or one with
    NULL consent columns when there is none; no row when the student is not visible."""
    program = (
        select(*(c.label(f"p_{c.key}") for c in _PROGRAM_COLUMNS))
        .where(Program.id == param("program_id", Uuid), scope.readable(Program, shape))
        .subquery("program")
    )
    consents = and_(Consent.student_id == Student.id, Consent.revoked_at.is_(None))
    return (
        select(
            *STUDENT.labeled,
            Organization.name.label("school_name"),
            *program.c,
            *CONSENT.labeled,
        )
        .select_from(Student)
        .join(Organization, Organization.id == Student.school_id)
        .outerjoin(program, true())
        .outerjoin(Consent, consents)
        .where(Student.id == param("student_id", Uuid), scope.readable(Student, shape))
        .order_by(Consent.expires_on.desc(), Consent.id)
    )


# Compiled once per scope shape and run on the driver (service/reader.py):
# through the ORM these lookups cost about 2.5 ms of Python a referral, and one
# statement each they were three round trips.
_LOOKUPS = Prepared(_lookups)


@dataclass(frozen=True)
class _Found:
    student: Student
    school_name: str
    program: _Program | None
    consents: list[Consent]


async def _look_up(reader: Reader, principal: Principal, body: ReferralCreate) -> _Found:
    """The student (404 unless the caller may see it), its school's name, the program
    (None when the caller cannot see it) and the student's consents not revoked."""
    rows = await reader.fetch(
        _LOOKUPS(scope.shape(principal)), student_id=body.student_id, program_id=body.program_id
    )
    if not rows:
        raise student_not_found(body.student_id)
    first = rows[0]
    program = None
    if first["p_id"] is not None:
        program = _Program(
            id=first["p_id"],
            organization_id=first["p_organization_id"],
            name=first["p_name"],
            category=Category(first["p_category"]),
            status=ProgramStatus(first["p_status"]),
            accepting_referrals=first["p_accepting_referrals"],
            enrollment_status=EnrollmentStatus(first["p_enrollment_status"]),
            seats_available=first["p_seats_available"],
        )
    consents = [CONSENT.load(row) for row in rows if row["c_id"] is not None]
    return _Found(STUDENT.load(first), first["school_name"], program, consents)


def _visible_program(found: _Found, program_id: uuid.UUID) -> _Program:
    """The program, or the refusal of one the caller cannot see. An inactive program of
    another organization is not visible: it answers like one that does not exist, so the
    school cannot learn it is there."""
    if found.program is None:
        raise Unprocessable(
            f"No program with id {program_id} is visible to you.",
            code="unknown_reference",
            errors=[
                FieldError(
                    loc=["body", "program_id"], msg="no such program", type="unknown_reference"
                )
            ],
        )
    return found.program


def _covering_consent(found: _Found, program: _Program, body: ReferralCreate) -> Consent:
    on = today()
    for consent in found.consents:
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


_OPEN = compile_statement(
    writes.open_referral(param("student_id", Uuid), param("program_id", Uuid))
)


class NotWritten(Exception):
    """Nothing was written: the unique index of open referrals refused the referral, or a
    request holds its Idempotency-Key (`done` says which, as the insert saw it)."""

    def __init__(self, student_id: uuid.UUID, program_id: uuid.UUID, done: writes.Created):
        super().__init__("the referral was not written")
        self.student_id, self.program_id, self.done = student_id, program_id, done


async def duplicate(reader: Reader, refused: NotWritten) -> Conflict:
    """The refusal of a second open referral of the student to the program, with a link
    to the open one (read again when the insert's snapshot did not see it: it committed
    while the insert waited for it)."""
    existing = refused.done.open_referral
    if existing is None:
        row = await reader.fetchrow(
            _OPEN, student_id=refused.student_id, program_id=refused.program_id
        )
        existing = None if row is None else row["id"]
    if existing is None:  # closed meanwhile: still, the insert met it
        raise Conflict(
            "This student's open referral to this program changed while this one was "
            "being made; retry.",
            code="duplicate_referral",
        )
    return _duplicate(existing)


def _duplicate(existing: uuid.UUID) -> Conflict:
    link = f"/referrals/{existing}"
    return Conflict(
        f"This student already has an open referral to this program: {link}.",
        code="duplicate_referral",
        headers={"Location": link},
        extra={"existing_referral": link},
    )


async def create_referral(
    reader: Reader,
    principal: Principal,
    body: ReferralCreate,
    answer: Callable[[ReferralRows], Mapping[str, Any]] | None = None,
) -> ReferralRows:
    """The new referral, with what its response shows: two statements on `reader`, the
    lookups and the insert (with everything it writes), no transaction around them. A
    second open referral of the student to the program is refused by the unique index
    uq_referrals_open_student_program (no look before the insert: the index also settles
    concurrent attempts): NotWritten (`duplicate` is the 409). `answer`, given the
    response's rows before the insert, returns the values of an Idempotency-Key's claim
    with its answer (idempotency.Claim.answer), which the insert's statement writes with
    the referral; NotWritten too when a request holds the key."""
    found = await _look_up(reader, principal, body)
    student, school_name = found.student, found.school_name
    if principal.role is not Role.school or principal.organization_id != student.school_id:
        raise Forbidden("Only staff of the student's school can refer.", code="school_only")
    program = _visible_program(found, body.program_id)
    if program.status is not ProgramStatus.active or not program.accepting_referrals:
        raise Unprocessable(
            "This program is not taking referrals"
            + (" (it is closed)." if program.status is not ProgramStatus.active else "."),
            code="program_unavailable",
        )
    waitlisted = capacity.admission(program.seats_available, program.enrollment_status)
    consent = _covering_consent(found, program, body)
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
    new = writes.planned(values, principal)
    webhook = (EventType.referral_created, payload(new.referral))
    record = writes.Record(principal, "referral.create")
    rows = ReferralRows(
        new.referral,
        student,
        consent,
        program.name,
        school_name,
        [new.first],
        program_seats=program.seats_available,
    )
    claim = None if answer is None else answer(rows)
    done = await writes.create(reader, new, webhook, record, claim)
    if not done.written:
        raise NotWritten(student.id, program.id, done)
    return rows
