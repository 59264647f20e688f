"""Referrals: create under a consent, move through the loop, list for each side.

Transitions lock the referral row (SELECT ... FOR UPDATE) and compare its version with
If-Match, so of two concurrent transitions exactly one wins and the other gets 412.
Every transition appends an event, queues webhooks and writes the audit trail in the same
transaction.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import false, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog import repository as catalog
from service.catalog.enums import ProgramStatus
from service.catalog.models import Program
from service.concurrency import check_if_match
from service.consent import rules
from service.consent.models import Consent
from service.db import utcnow
from service.errors import AppError, Conflict, FieldError, Forbidden, NotFound, Unprocessable
from service.local_time import today, zone
from service.referrals import states
from service.referrals.models import Referral, ReferralEvent
from service.referrals.schemas import ReferralCreate, TransitionCreate
from service.referrals.states import AWAITING_RESPONSE, OPEN, Reason, Side, Status
from service.referrals.windows import due_dates
from service.settings import get_settings
from service.students.models import Student
from service.students.service import get_student
from service.webhooks.events import EventType
from service.webhooks.service import emit


class PreconditionRequired(AppError):
    status = 428
    code = "if_match_required"


def not_found(referral_id: uuid.UUID) -> NotFound:
    return NotFound(f"No referral with id {referral_id} is visible to you.")


def side_of(principal: Principal, referral: Referral) -> Side | None:
    """The side the caller acts for on this referral (None: an admin, or no side)."""
    if principal.role is Role.school and principal.organization_id == referral.school_id:
        return Side.school
    if principal.role is Role.provider and principal.organization_id == referral.provider_id:
        return Side.provider
    return None


def visible(principal: Principal) -> Any:
    """Referrals the caller may see: its school's, its provider organization's, or all."""
    if principal.is_admin:
        return true()
    if principal.role is Role.school and principal.organization_id:
        return Referral.school_id == principal.organization_id
    if principal.role is Role.provider and principal.organization_id:
        return Referral.provider_id == principal.organization_id
    return false()


# ---------------------------------------------------------------- creating


async def _covering_consent(
    session: AsyncSession, student: Student, program: Program, body: ReferralCreate
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
) -> Referral:
    student = await get_student(session, principal, body.student_id)
    if principal.role is not Role.school or principal.organization_id != student.school_id:
        raise Forbidden("Only staff of the student's school can refer.", code="school_only")
    # An inactive program of another organization is not visible: it must answer like one
    # that does not exist, so the school cannot learn it is there.
    program = await catalog.get_program(session, principal, body.program_id)
    if program is None:
        raise Unprocessable(
            f"No program with id {body.program_id} is visible to you.",
            code="unknown_reference",
            errors=[
                FieldError(
                    loc=["body", "program_id"], msg="no such program", type="unknown_reference"
                )
            ],
        )
    if program.status is not ProgramStatus.active or not program.accepting_referrals:
        raise Unprocessable(
            "This program is not taking referrals"
            + (" (it is closed)." if program.status is not ProgramStatus.active else "."),
            code="program_unavailable",
        )
    consent = await _covering_consent(session, student, program, body)
    if (existing := await _open_duplicate(session, student.id, program.id)) is not None:
        raise _duplicate(existing)
    settings = get_settings()
    sent_at = utcnow()
    response_due, contact_due = due_dates(
        sent_at, settings.referral_response_business_days, settings.referral_contact_days, zone()
    )
    referral = Referral(
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
    )
    session.add(referral)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "uq_referrals_open_student_program" not in str(exc.orig):
            raise
        existing = await _open_duplicate(session, student.id, program.id)
        raise _duplicate(existing or referral.id) from None
    _event(session, referral, Side.school, principal, None, Status.sent, None, None, sent_at)
    record(session, principal, "referral.create", "referral", referral.id, student.id)
    await emit(
        session,
        EventType.referral_created,
        [referral.provider_id, referral.school_id],
        _payload(referral),
    )
    return referral


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
) -> None:
    session.add(
        ReferralEvent(
            referral_id=referral.id,
            occurred_at=at,
            side=side,
            actor_organization_id=principal.organization_id if principal else None,
            actor_key_id=principal.key_id if principal else None,
            from_status=from_status,
            to_status=to_status,
            reason=reason,
            note=note,
        )
    )


async def move(
    session: AsyncSession,
    referral: Referral,
    to: Status,
    side: Side,
    principal: Principal | None,
    reason: Reason | None = None,
    note: str | None = None,
) -> None:
    """Apply an already checked transition: status, timestamps, version, event, webhooks."""
    now = utcnow()
    previous = referral.status
    referral.status = to
    if reason is not None or to.is_closed:
        referral.status_reason = reason
    if to is Status.received:
        referral.received_at = now
    if to in (Status.accepted, Status.declined):
        referral.responded_at = now
    if to is Status.contacted or (to is Status.enrolled and referral.contacted_at is None):
        referral.contacted_at = now
    if to is Status.enrolled:
        referral.enrolled_at = now
    if to.is_closed:
        referral.closed_at = now
    referral.version += 1
    _event(session, referral, side, principal, previous, to, reason, note, now)
    await session.flush()
    await emit(
        session,
        EventType.referral_status_changed,
        [referral.provider_id, referral.school_id],
        _payload(referral, previous),
    )


async def locked(session: AsyncSession, principal: Principal, referral_id: uuid.UUID) -> Referral:
    """The referral, row-locked and as committed now: populate_existing refreshes an object
    this session read before the lock, which another transaction may have moved since."""
    referral = await session.scalar(
        select(Referral)
        .where(Referral.id == referral_id, visible(principal))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if referral is None:
        raise not_found(referral_id)
    return referral


async def transition(
    session: AsyncSession,
    principal: Principal,
    referral_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> Referral:
    referral = await locked(session, principal, referral_id)
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
    if side is Side.provider and referral.status is Status.sent:
        await move(session, referral, Status.received, Side.system, principal)
    refusal = states.check(referral.status, body.to, side, body.reason)
    if refusal is not None:
        status = {"invalid_transition": 409, "transition_not_permitted": 403}.get(refusal.code, 422)
        raise AppError(refusal.detail, code=refusal.code, status=status)
    await move(session, referral, body.to, side, principal, body.reason, body.note)
    record(
        session,
        principal,
        f"referral.{body.to.value}",
        "referral",
        referral.id,
        referral.student_id,
    )
    return referral


async def cancel_under_revoked_consent(session: AsyncSession, consent: Consent) -> set[uuid.UUID]:
    """Cancel (system, consent_revoked) every open referral under `consent`; returns the
    provider organizations that had referrals under it."""
    referrals = (
        await session.scalars(
            select(Referral)
            .where(Referral.consent_id == consent.id)
            .order_by(Referral.id)
            .with_for_update()
        )
    ).all()
    for referral in referrals:
        if referral.status in OPEN:
            await move(
                session, referral, Status.cancelled, Side.system, None, Reason.consent_revoked
            )
    return {r.provider_id for r in referrals}


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
