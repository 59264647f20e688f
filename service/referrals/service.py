"""Referrals: create under a consent, move through the loop, record what reads cause.

Every move goes through `move`, which asks the state machine (states.plan) and applies
the whole transition it returns; the system's moves (received on the provider's first
read, consent_revoked cancels, expiry) are no exception. Transitions lock the referral
row (SELECT ... FOR UPDATE) and compare its version with If-Match, so of two concurrent
transitions exactly one wins and the other gets 412. Every move appends an event, queues
webhooks and writes the audit trail in the same transaction.

The writes hand back what their responses show (ReferralRows) from what they already
hold: nothing is read twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog.enums import Category, EnrollmentStatus, ProgramStatus
from service.catalog.models import Organization, Program
from service.concurrency import check_if_match
from service.consent import rules
from service.consent.models import Consent
from service.consent.schemas import ConsentState
from service.db import utcnow
from service.errors import AppError, Conflict, FieldError, Forbidden, Unprocessable
from service.local_time import today, zone
from service.referrals import capacity, reading, states
from service.referrals.models import Referral, ReferralEvent
from service.referrals.reading import side_of
from service.referrals.schemas import ReferralCreate, TransitionCreate
from service.referrals.states import AWAITING_RESPONSE, OPEN, Reason, Side, Status
from service.referrals.views import Event, ReferralRows
from service.referrals.windows import due_dates
from service.settings import get_settings
from service.students.models import Student
from service.students.service import not_found as student_not_found
from service.webhooks.events import EventType
from service.webhooks.service import emit


class PreconditionRequired(AppError):
    status = 428
    code = "if_match_required"


# ---------------------------------------------------------------- creating


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
    first = _event(
        session, referral, Side.school, principal, None, Status.sent, None, None, sent_at
    )
    record(session, principal, "referral.create", "referral", referral.id, student.id)
    await emit(
        session,
        EventType.referral_created,
        [referral.provider_id, referral.school_id],
        _payload(referral),
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


# ---------------------------------------------------------------- moving


def _payload(referral: Referral, previous: Status | None = None) -> dict[str, Any]:
    """Webhook data: ids and statuses, never the student's personal data."""
    data: dict[str, Any] = {
        "referral_id": str(referral.id),
        "program_id": str(referral.program_id),
        "provider_id": str(referral.provider_id),
        "school_id": str(referral.school_id),
        "status": referral.status.value,
        "urgency": referral.urgency.value,
        "version": referral.version,
    }
    if previous is not None:
        data["previous_status"] = previous.value
        data["status_reason"] = referral.status_reason.value if referral.status_reason else None
    return data


def _event(
    session: AsyncSession,
    referral: Referral,
    side: Side,
    principal: Principal | None,
    from_status: Status | None,
    to_status: Status,
    reason: Reason | None,
    note: str | None,
    at: datetime,
) -> Event:
    event = ReferralEvent(
        referral_id=referral.id,
        occurred_at=at,
        side=side,
        actor_organization_id=principal.organization_id if principal else None,
        actor_key_id=principal.key_id if principal else None,
        actor_subject=principal.subject if principal else None,
        actor_name=principal.display_name if principal else None,
        version=referral.version,
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        note=note,
    )
    session.add(event)
    return Event.of(event)


async def move(
    session: AsyncSession,
    referral: Referral,
    to: Status,
    side: Side,
    principal: Principal | None,
    reason: Reason | None = None,
    note: str | None = None,
) -> Event:
    """THE transition function: every move of a referral, the system's included. The
    state machine decides (states.plan: allowed?, which timestamps, which refusal); a
    refused move raises the problem it names and changes nothing. Returns the event."""
    planned = states.plan(
        referral.status, to, side, reason, contacted=referral.contacted_at is not None
    )
    if planned.refusal is not None:
        refusal = planned.refusal
        extra = {"next_statuses": [s.value for s in refusal.next_statuses]}
        raise AppError(refusal.detail, code=refusal.code, status=refusal.status, extra=extra)
    return await _apply(session, referral, planned, principal, note)


async def _apply(
    session: AsyncSession,
    referral: Referral,
    planned: states.Transition,
    principal: Principal | None,
    note: str | None,
) -> Event:
    await capacity.follow(session, referral, planned.target)  # may refuse: before any change
    now = utcnow()
    referral.status = planned.target
    if planned.sets_reason:
        referral.status_reason = planned.reason
    for stamp in planned.stamps:
        setattr(referral, stamp, now)
    referral.version += 1
    event = _event(
        session,
        referral,
        planned.side,
        principal,
        planned.current,
        planned.target,
        planned.reason,
        note,
        now,
    )
    await session.flush()  # the move is in the transaction when move() returns
    await emit(
        session,
        EventType.referral_status_changed,
        [referral.provider_id, referral.school_id],
        _payload(referral, planned.current),
    )
    return event


async def transition(
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> ReferralRows:
    """A side's move, with what its response shows (read with the lock: one statement)."""
    rows = await reading.one(session, principal, referral_id, lock=True)
    referral = rows.referral
    if if_match is None:
        raise PreconditionRequired(
            "Send If-Match with the referral's ETag: transitions must not overwrite a change "
            "you have not seen.",
        )
    check_if_match(if_match, referral.version)
    side = side_of(principal, referral)
    if side is None:
        raise Forbidden(
            "Only the referring school or the receiving provider moves a referral.",
            code="transition_not_permitted",
        )
    if side is Side.provider and referral.status in OPEN:
        refuse_when_consent_ended(rows.consent)
    events = list(rows.events)
    if side is Side.provider and referral.status is Status.sent:
        # A provider answering a referral it never opened has received it.
        events.append(await move(session, referral, Status.received, Side.system, principal))
    events.append(await move(session, referral, body.to, side, principal, body.reason, body.note))
    record(
        session,
        principal,
        f"referral.{body.to.value}",
        "referral",
        referral.id,
        referral.student_id,
    )
    return replace(rows, events=events)


def refuse_when_consent_ended(consent: Consent) -> None:
    """A provider cannot act on a referral whose consent has ended: the worker cancels it
    (consent_end.py) within a minute of the date turning; until then it is refused."""
    state = rules.state(consent, today())
    if state is not ConsentState.active:
        raise Conflict(
            f"The consent this referral was made under is {state.value}: the referral "
            "is being cancelled and its student's records are no longer shared with you.",
            code="consent_ended",
        )


# ---------------------------------------------------------------- what reads cause
# A read writes nothing by itself (reading.py); these are the writes a read of a
# referral causes, called by the GET handlers in the open.


async def record_reads(
    session: AsyncSession, principal: Principal, read: Sequence[ReferralRows]
) -> None:
    """An audit entry per referral read (the record of who saw a student's referral)."""
    for rows in read:
        referral = rows.referral
        record(session, principal, "referral.read", "referral", referral.id, referral.student_id)


async def receive_on_first_read(
    session: AsyncSession, principal: Principal, rows: ReferralRows
) -> ReferralRows:
    """PRODUCT.md: the provider's first read of a sent referral marks it received, a
    system move. The referral is locked and read again only then (once per referral)."""
    referral = rows.referral
    if side_of(principal, referral) is not Side.provider or referral.status is not Status.sent:
        return rows
    if rules.state(rows.consent, today()) is not ConsentState.active:
        return rows  # nothing was disclosed by this read: nothing was received
    rows = await reading.one(session, principal, referral.id, lock=True)
    if rows.referral.status is not Status.sent:  # another read got there first
        return rows
    event = await move(session, rows.referral, Status.received, Side.system, principal)
    return replace(rows, events=[*rows.events, event])


# ---------------------------------------------------------------- the system's moves


async def expire_unanswered(session: AsyncSession, now: datetime | None = None) -> int:
    """Expire (system, no_response) referrals the provider has not answered in time."""
    cutoff = (now or utcnow()) - timedelta(days=get_settings().referral_expire_days)
    referrals = (
        await session.scalars(
            select(Referral)
            .where(Referral.status.in_(AWAITING_RESPONSE), Referral.sent_at < cutoff)
            .order_by(Referral.sent_at)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for referral in referrals:
        await move(session, referral, Status.expired, Side.system, None, Reason.no_response)
    return len(referrals)
