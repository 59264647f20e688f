"""Creating referrals under consent, and following them through the loop."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.local_time import today as local_today
from service.referrals.models import Referral, ReferralEvent
from service.referrals.states import Reason, Side, Status
from service.webhooks.models import WebhookMessage
from tests.referrals.conftest import World, consent_body, post, sent_messages, subscribe_both


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Referral)) or 0)


async def test_a_referral_is_sent_under_the_consent_and_received_on_first_open(
    world: World,
) -> None:
    referral = await world.referral()
    assert referral["status"] == "sent" and referral["fhir_task_status"] == "requested"
    assert referral["consent_id"] == world.consent["id"]
    assert referral["timeline"][0]["to_status"] == "sent"
    assert referral["response_due_at"] > referral["sent_at"]
    opened = await world.client.get(
        f"/referrals/{referral['id']}", headers=world.callers.provider_a.headers
    )
    assert opened.status_code == 200
    body = opened.json()
    assert body["status"] == "received" and body["received_at"] is not None
    assert [e["to_status"] for e in body["timeline"]] == ["sent", "received"]
    assert body["timeline"][1]["side"] == "system"
    assert body["next_statuses"] == ["accepted", "declined"]


async def test_no_consent_no_referral(world: World, session: AsyncSession) -> None:
    before = await _count(session)
    other = await world.refer(world.other_program)  # social_emotional_health: not covered
    assert other.status_code == 422 and other.json()["code"] == "consent_required"
    notes = await world.refer(shared_elements=["contact", "notes"])  # notes not consented
    assert notes.status_code == 422 and notes.json()["code"] == "consent_required"
    assert await _count(session) == before


async def test_consent_by_organization_covers_that_provider(world: World) -> None:
    await post(
        world.client,
        world.callers.school_a,
        f"/students/{world.student['id']}/consents",
        consent_body(
            recipient_categories=[],
            recipient_organization_ids=[str(world.callers.provider_b.organization_id)],
        ),
    )
    response = await world.refer(world.other_program)
    assert response.status_code == 201, response.text


async def test_revoked_and_expired_consents_cover_nothing(
    world: World, session: AsyncSession
) -> None:
    # The partnership's today, not the database server's: they differ for hours every night.
    today = local_today()
    await session.execute(
        text("UPDATE consents SET expires_on = :expired, signed_on = :signed"),
        {"expired": today - timedelta(days=1), "signed": today - timedelta(days=30)},
    )
    assert (await world.refer()).json()["code"] == "consent_required"


async def test_a_duplicate_open_referral_is_a_conflict_with_a_link(world: World) -> None:
    first = await world.referral()
    again = await world.refer()
    assert again.status_code == 409
    assert again.json()["code"] == "duplicate_referral"
    assert again.json()["existing_referral"] == f"/referrals/{first['id']}"
    assert again.headers["Location"] == f"/referrals/{first['id']}"


async def test_a_program_not_taking_referrals_is_refused(world: World) -> None:
    await world.client.patch(
        f"/programs/{world.program['id']}",
        json={"accepting_referrals": False},
        headers=world.callers.provider_a.headers,
    )
    response = await world.refer()
    assert response.status_code == 422 and response.json()["code"] == "program_unavailable"


async def test_only_the_students_school_refers(world: World) -> None:
    body = {"student_id": world.student["id"], "program_id": world.program["id"], "need": "other"}
    for caller, status in (
        (world.callers.school_b, 404),
        (world.callers.provider_a, 403),
        (world.callers.admin, 403),
    ):
        response = await world.client.post("/referrals", json=body, headers=caller.headers)
        assert response.status_code == status, response.text


async def test_the_loop_to_completion(world: World) -> None:
    referral = await world.referral()
    provider = world.callers.provider_a
    for status in ("accepted", "contacted", "enrolled", "completed"):
        response = await world.move(provider, referral, status)
        assert response.status_code == 200, response.text
    done = response.json()
    assert done["closed"] and done["closed_at"] is not None
    assert done["fhir_task_status"] == "completed"
    assert [e["to_status"] for e in done["timeline"]] == [
        "sent",
        "received",
        "accepted",
        "contacted",
        "enrolled",
        "completed",
    ]
    refused = await world.move(world.callers.school_a, referral, "cancelled")
    assert refused.status_code == 409 and refused.json()["code"] == "invalid_transition"
    # The loop closed: the same student may be referred to the program again.
    assert (await world.refer()).status_code == 201


async def test_decline_needs_a_reason_and_each_side_its_own_moves(world: World) -> None:
    referral = await world.referral()
    provider, school = world.callers.provider_a, world.callers.school_a
    no_reason = await world.move(provider, referral, "declined")
    assert no_reason.status_code == 422 and no_reason.json()["code"] == "reason_required"
    school_accepts = await world.move(school, referral, "accepted")
    assert school_accepts.status_code == 403
    assert school_accepts.json()["code"] == "transition_not_permitted"
    declined = await world.move(
        provider, referral, "declined", reason="no_capacity", note="Full until May"
    )
    assert declined.status_code == 200 and declined.json()["status_reason"] == "no_capacity"


async def test_if_match_is_required_and_must_be_current(world: World) -> None:
    referral = await world.referral()
    path = f"/referrals/{referral['id']}/transitions"
    headers = world.callers.school_a.headers
    missing = await world.client.post(path, json={"to": "cancelled"}, headers=headers)
    assert missing.status_code == 428 and missing.json()["code"] == "if_match_required"
    stale = await world.client.post(
        path, json={"to": "cancelled"}, headers={**headers, "If-Match": '"0"'}
    )
    assert stale.status_code == 412


async def _reads_recorded(session: AsyncSession, referral_id: str) -> list[uuid.UUID | None]:
    """Who the audit trail says read this referral (the organization of each entry)."""
    entries = await session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "referral.read", AuditEntry.subject_id == referral_id
        )
    )
    return [e.actor_organization_id for e in entries]


async def test_other_organizations_see_nothing(world: World, session: AsyncSession) -> None:
    referral = await world.referral()
    path = f"/referrals/{referral['id']}"
    c = world.callers
    for caller, status in (
        (c.provider_b, 404),
        (c.school_b, 404),
        (c.analyst, 403),
        (c.anonymous, 401),
    ):
        assert (await world.client.get(path, headers=caller.headers)).status_code == status
    # A refused read is not recorded as a read (the read and its record are one statement).
    assert await _reads_recorded(session, referral["id"]) == []
    assert (await world.client.get(path, headers=c.provider_a.headers)).status_code == 200
    assert await _reads_recorded(session, referral["id"]) == [c.provider_a.organization_id]
    inbox = await world.client.get("/referrals/inbox", headers=c.provider_b.headers)
    assert inbox.json()["total_items"] == 0
    moved = await world.client.post(
        f"{path}/transitions",
        json={"to": "accepted"},
        headers={**c.provider_b.headers, "If-Match": '"1"'},
    )
    assert moved.status_code == 404


async def test_the_provider_sees_only_what_the_consent_allows(world: World) -> None:
    referral = await world.referral(shared_elements=["contact", "referral_reason"])
    seen = (
        await world.client.get(
            f"/referrals/{referral['id']}", headers=world.callers.provider_a.headers
        )
    ).json()
    student = seen["student"]
    assert student["first_name"] == "Marisol" and student["guardian_phone"] == "203-555-0142"
    assert student["disclosed"] == ["contact", "referral_reason"]
    assert student["grade"] is None and student["school_name"] is None  # not shared
    assert student["gender"] is None and student["races"] is None  # not consented
    assert student["id"] is None and seen["consent_id"] is None
    assert seen["need_text"] == "Falling behind in math since moving schools."
    school_view = referral["student"]
    assert school_view["gender"] == "female" and school_view["id"] == world.student["id"]


async def test_revocation_cancels_open_referrals_and_hides_the_student(world: World) -> None:
    open_one = await world.referral()
    revoked = await world.client.post(
        f"/consents/{world.consent['id']}/revoke", json={}, headers=world.callers.school_a.headers
    )
    assert revoked.status_code == 200
    seen = (
        await world.client.get(
            f"/referrals/{open_one['id']}", headers=world.callers.provider_a.headers
        )
    ).json()
    assert seen["status"] == "cancelled" and seen["status_reason"] == "consent_revoked"
    assert seen["timeline"][-1]["side"] == "system"
    assert seen["student"]["disclosed"] == []
    assert all(v is None for k, v in seen["student"].items() if k != "disclosed")
    assert seen["need"] is None and seen["need_text"] is None
    inbox = (
        await world.client.get("/referrals/inbox", headers=world.callers.provider_a.headers)
    ).json()
    assert "Marisol" not in str(inbox)
    again = await world.refer()  # the revoked consent covers no new referral
    assert again.status_code == 422 and again.json()["code"] == "consent_required"


async def test_inbox_and_outbox_filter_by_status_and_overdue(
    world: World, session: AsyncSession
) -> None:
    referral = await world.referral()
    c = world.callers
    outbox = (
        await world.client.get("/referrals/outbox?status=sent", headers=c.school_a.headers)
    ).json()
    assert [r["id"] for r in outbox["contents"]] == [referral["id"]]
    assert outbox["contents"][0]["timeline"][0]["to_status"] == "sent"
    assert (
        await world.client.get("/referrals/inbox?overdue=true", headers=c.provider_a.headers)
    ).json()["total_items"] == 0
    await session.execute(text("UPDATE referrals SET response_due_at = now() - interval '1 hour'"))
    late = (
        await world.client.get("/referrals/inbox?overdue=true", headers=c.provider_a.headers)
    ).json()
    assert late["total_items"] == 1 and late["contents"][0]["response_overdue"] is True
    assert (
        await world.client.get("/referrals/inbox", headers=c.school_a.headers)
    ).status_code == 403


async def test_idempotency_key_replays_and_refuses_another_body(
    world: World, session: AsyncSession
) -> None:
    headers = {**world.callers.school_a.headers, "Idempotency-Key": "k-123"}
    body: dict[str, Any] = {
        "student_id": world.student["id"],
        "program_id": world.program["id"],
        "need": "academic_support",
    }
    first = await world.client.post("/referrals", json=body, headers=headers)
    again = await world.client.post("/referrals", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() and again.headers["Idempotent-Replayed"] == "true"
    assert await _count(session) == 1
    other = await world.client.post(
        "/referrals", json={**body, "urgency": "urgent"}, headers=headers
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    # After 24 hours the key is free again: the request runs (and meets the open referral).
    await session.execute(
        text("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    )
    later = await world.client.post(
        "/referrals", json={**body, "urgency": "urgent"}, headers=headers
    )
    assert later.status_code == 409 and later.json()["code"] == "duplicate_referral"


async def test_events_are_immutable(world: World, session: AsyncSession) -> None:
    await world.referral()
    try:
        async with session.begin_nested():
            await session.execute(text("UPDATE referral_events SET note = 'rewritten'"))
    except Exception as exc:
        assert "never changed" in str(exc)
    else:
        raise AssertionError("an event was rewritten")
    assert await session.scalar(select(func.count()).select_from(ReferralEvent)) == 1


async def test_expiry_by_the_worker(world: World, session: AsyncSession) -> None:
    from service.referrals.service import expire_unanswered

    referral = await world.referral()
    await session.execute(text("UPDATE referrals SET sent_at = now() - interval '31 days'"))
    assert await expire_unanswered(session) == 1
    seen = (
        await world.client.get(
            f"/referrals/{referral['id']}", headers=world.callers.school_a.headers
        )
    ).json()
    assert seen["status"] == "expired" and seen["status_reason"] == "no_response"
    assert seen["timeline"][-1]["side"] == "system"
    assert await expire_unanswered(session) == 0


async def test_a_program_or_organization_with_referrals_cannot_be_deleted(world: World) -> None:
    await world.referral()
    headers = world.callers.provider_a.headers
    program = await world.client.delete(f"/programs/{world.program['id']}", headers=headers)
    assert program.status_code == 409 and program.json()["code"] == "in_use"
    org = await world.client.delete(
        f"/organizations/{world.callers.provider_a.organization_id}",
        headers=world.callers.admin.headers,
    )
    assert org.status_code == 409 and org.json()["code"] == "in_use"


async def test_system_moves_go_through_the_state_machine_too(
    world: World, session: AsyncSession
) -> None:
    """move() is the one transition function: a system move the loop does not have (expiring
    an accepted referral) is refused like anyone's, and changes nothing."""
    from service.errors import AppError
    from service.referrals.service import move

    created = await world.referral()
    accepted = await world.move(world.callers.provider_a, created, "accepted")
    assert accepted.status_code == 200, accepted.text
    referral = await session.get(Referral, uuid.UUID(created["id"]))
    assert referral is not None
    with pytest.raises(AppError) as refused:
        await move(session, referral, Status.expired, Side.system, None, Reason.no_response)
    assert refused.value.code == "invalid_transition" and refused.value.status == 409
    assert referral.status is Status.accepted and referral.version == accepted.json()["version"]


async def test_a_create_and_a_move_write_their_event_messages_and_audit_entry_with_them(
    world: World, session: AsyncSession
) -> None:
    """A new referral and a move are each one statement (referrals/writes.py): the row,
    its event, a message per subscribed endpoint of both sides, and the audit entry."""
    await subscribe_both(world)
    referral = await world.referral()
    created = await sent_messages(session, "referral.created")
    assert {d["referral_id"] for d in created.values()} == {referral["id"]}
    assert len(created) == 2 and all(d["status"] == "sent" for d in created.values())
    declined = await world.move(
        world.callers.provider_a, referral, "declined", reason="no_capacity", note="Full."
    )
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert [(e["from_status"], e["to_status"]) for e in body["timeline"]] == [
        (None, "sent"),
        ("sent", "received"),
        ("received", "declined"),
    ]
    changed = await sent_messages(session, "referral.status_changed")
    assert len(changed) == 2  # the last move's, to each side (the first's were replaced)
    rows = (
        await session.execute(
            select(WebhookMessage.payload["data"]).where(
                WebhookMessage.event_type == "referral.status_changed"
            )
        )
    ).scalars()
    moves = sorted(
        (d["version"], d["previous_status"], d["status"], d["status_reason"]) for d in rows
    )
    assert moves == [
        (2, "sent", "received", None),
        (2, "sent", "received", None),
        (3, "received", "declined", "no_capacity"),
        (3, "received", "declined", "no_capacity"),
    ]
    events = (
        await session.scalars(
            select(ReferralEvent).where(ReferralEvent.referral_id == uuid.UUID(referral["id"]))
        )
    ).all()
    assert [(e.version, e.to_status, e.note) for e in sorted(events, key=lambda e: e.version)] == [
        (1, Status.sent, None),
        (2, Status.received, None),
        (3, Status.declined, "Full."),
    ]
    entries = (
        await session.scalars(select(AuditEntry).where(AuditEntry.subject_id == referral["id"]))
    ).all()
    by_action = {e.action: e for e in entries}
    assert (
        by_action["referral.create"].actor_organization_id == world.callers.school_a.organization_id
    )
    assert (
        by_action["referral.declined"].actor_organization_id
        == world.callers.provider_a.organization_id
    )
    assert by_action["referral.declined"].student_id == uuid.UUID(world.student["id"])
    assert body["version"] == 3 and declined.headers["ETag"] == '"3"'
