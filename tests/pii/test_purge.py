"""Retention: `purge` erases PII of students long done with, and metrics do not move."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.db import utcnow
from service.pii.purge import purge
from service.referrals.models import Referral, ReferralEvent
from service.students.models import Student
from tests.referrals.conftest import World, consent_body, post, student_body


async def _student(world: World, number: str, first: str) -> dict[str, Any]:
    student = await post(
        world.client,
        world.callers.school_a,
        "/students",
        student_body(student_number=number, first_name=first),
    )
    await post(
        world.client, world.callers.school_a, f"/students/{student['id']}/consents", consent_body()
    )
    return student


async def _refer(world: World, student: dict[str, Any]) -> dict[str, Any]:
    world.student = student
    return await world.referral()


async def _age(session: AsyncSession, referral: dict[str, Any], days: int) -> None:
    when = utcnow() - timedelta(days=days)
    await session.execute(
        update(Referral).where(Referral.id == uuid.UUID(referral["id"])).values(closed_at=when)
    )


async def test_purge_erases_pii_after_the_retention_and_keeps_the_counts(
    world: World, session: AsyncSession
) -> None:
    provider = world.callers.provider_a
    long_done = await _student(world, "S-long", "Ada")
    recently_done = await _student(world, "S-recent", "Bea")
    still_open = await _student(world, "S-open", "Cy")
    never_referred_old = await _student(world, "S-old", "Dot")

    for student, days in ((long_done, 400), (recently_done, 100)):
        referral = await _refer(world, student)
        declined = await world.move(
            provider, referral, "declined", reason="no_capacity", note="Told Ada's mother"
        )
        assert declined.status_code == 200, declined.text
        await _age(session, referral, days)
    await _refer(world, still_open)
    old = utcnow() - timedelta(days=400)
    await session.execute(
        update(Student)
        .where(Student.id.in_([uuid.UUID(s["id"]) for s in (still_open, never_referred_old)]))
        .values(created_at=old)
    )
    await session.commit()

    counts = text(
        "SELECT status, count(*), count(closed_at), min(sent_at) FROM referrals "
        "GROUP BY status ORDER BY status"
    )
    before = (await session.execute(counts)).all()
    events_before = await session.scalar(select(func.count()).select_from(ReferralEvent))

    purged = await purge(session, retention_days=365)

    assert purged.students >= 2
    assert (await session.execute(counts)).all() == before
    assert await session.scalar(select(func.count()).select_from(ReferralEvent)) == events_before
    school = world.callers.school_a.headers
    for student, gone in (
        (long_done, True),
        (never_referred_old, True),
        (recently_done, False),
        (still_open, False),
    ):
        got = (await world.client.get(f"/students/{student['id']}", headers=school)).json()
        assert (got["first_name"] is None) is gone, got
        assert (got["pii_purged_at"] is not None) is gone
        if gone:
            assert got["date_of_birth"] is None and got["guardian_phone"] is None
            assert got["student_number"] == f"purged-{student['id']}"
            assert got["grade"] == student["grade"] and got["gender"] == student["gender"]

    sid = uuid.UUID(long_done["id"])
    consent = await session.scalar(
        text("SELECT pii FROM consents WHERE student_id = :s"), {"s": sid}
    )
    assert consent is None
    referral = await session.scalar(select(Referral).where(Referral.student_id == sid))
    assert referral is not None and referral.need_text is None
    notes = await session.scalars(
        select(ReferralEvent.note).where(ReferralEvent.referral_id == referral.id)
    )
    assert all(n is None for n in notes)
    audit = await session.scalar(
        select(func.count()).where(
            AuditEntry.action == "student.purge", AuditEntry.student_id == sid
        )
    )
    assert audit == 1

    # Nothing is left to find by name, and the purged record takes no new consent.
    found = await world.client.post(
        "/students/lookup",
        json={"first_name": "Ada", "last_name": "Quintanilla", "date_of_birth": "2014-03-09"},
        headers=school,
    )
    assert found.json() == []
    refused = await world.client.post(
        f"/students/{sid}/consents", json=consent_body(), headers=school
    )
    assert refused.status_code == 409 and refused.json()["code"] == "student_purged"
    current = await world.client.get(f"/students/{sid}", headers=school)
    renamed = await world.client.patch(
        f"/students/{sid}",
        json={"first_name": "Ada"},
        headers={**school, "If-Match": current.headers["ETag"]},
    )
    assert renamed.status_code == 409 and renamed.json()["code"] == "student_purged"
    assert (await purge(session, retention_days=365)).students == 0


async def test_event_rows_stay_append_only_apart_from_erasing_a_note(
    world: World, session: AsyncSession
) -> None:
    referral = await world.referral()
    await world.move(world.callers.provider_a, referral, "accepted", note="Call after 5")
    event_id = await session.scalar(
        select(ReferralEvent.id).where(ReferralEvent.note.is_not(None)).order_by(ReferralEvent.id)
    )
    refused = text("UPDATE referral_events SET to_status = 'declined' WHERE id = :id")
    async with session.begin_nested():
        try:
            await session.execute(refused, {"id": event_id})
        except Exception as exc:
            assert "never changed" in str(exc)
        else:
            raise AssertionError("the trigger let a status change through")
        await session.rollback()
