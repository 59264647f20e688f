"""Retention: erase a student's personal data a while after their last referral closed.

A student is due when none of their referrals is open and the last one closed (or, for a
student never referred, the record was made) more than `retention_days` ago. Purging
erases the sealed name, birth date and guardian contact, the identity hash, the school's
student number (replaced by the row id), the consent signer's name and revocation note,
and the free text of the referrals (need text, event notes, the messages' sealed text
and attachment links). What metrics count stays:
grade, demographics, home tract, school and every referral date and status, so the
measures over past periods do not change. Each purge is written to the audit log.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.consent.models import Consent
from service.db import utcnow
from service.referrals.models import Referral, ReferralEvent, ReferralMessage
from service.referrals.states import OPEN
from service.students.models import Student

BATCH = 500


@dataclass(frozen=True)
class Purged:
    students: int
    cutoff: datetime


def due_students(cutoff: datetime, limit: int = BATCH) -> Select[uuid.UUID]:
    """Students whose PII is due for erasure, locked for it (others skip them)."""
    open_referral = exists().where(Referral.student_id == Student.id, Referral.status.in_(OPEN))
    last_closed = (
        select(func.max(Referral.closed_at))
        .where(Referral.student_id == Student.id)
        .scalar_subquery()
    )
    return (
        select(Student.id)
        .where(
            Student.pii.is_not(None),
            ~open_referral,
            func.coalesce(last_closed, Student.created_at) < cutoff,
        )
        .order_by(Student.id)
        .limit(limit)
        .with_for_update(of=Student, skip_locked=True)
    )


async def _erase(session: AsyncSession, ids: Sequence[uuid.UUID], now: datetime) -> None:
    await session.execute(
        update(Student)
        .where(Student.id.in_(ids))
        .values(
            pii=None,
            pii_key_id=None,
            identity_hash=None,
            pii_purged_at=now,
            student_number=func.concat("purged-", Student.id),
            updated_at=now,
        )
    )
    await session.execute(
        update(Consent)
        .where(Consent.student_id.in_(ids))
        .values(pii=None, pii_key_id=None, revocation_note=None, updated_at=now)
    )
    referral_ids = select(Referral.id).where(Referral.student_id.in_(ids))
    await session.execute(
        update(Referral).where(Referral.student_id.in_(ids)).values(need_text=None)
    )
    # referral_events are append-only; the trigger lets an update through only when it
    # erases the note and changes nothing else (migration 0005).
    await session.execute(
        update(ReferralEvent)
        .where(ReferralEvent.referral_id.in_(referral_ids), ReferralEvent.note.is_not(None))
        .values(note=None)
    )
    await session.execute(
        update(ReferralMessage)
        .where(ReferralMessage.referral_id.in_(referral_ids), ReferralMessage.pii.is_not(None))
        .values(pii=None, pii_key_id=None, purged_at=now)
    )
    session.add_all(
        AuditEntry(action="student.purge", subject_type="student", subject_id=str(i), student_id=i)
        for i in ids
    )


async def purge(
    session: AsyncSession, retention_days: int, *, now: datetime | None = None
) -> Purged:
    """Erase every due student's PII, a batch per transaction; return how many."""
    now = now or utcnow()
    cutoff = now - timedelta(days=retention_days)
    total = 0
    while True:
        ids = list(await session.scalars(due_students(cutoff)))
        if not ids:
            break
        await _erase(session, ids, now)
        await session.commit()
        total += len(ids)
    return Purged(students=total, cutoff=cutoff)
