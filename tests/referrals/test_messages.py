"""The thread on a referral: messages, requests for information and their answers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.models import AuditEntry
from service.db import utcnow
from service.pii.purge import purge
from service.referrals.models import Referral, ReferralMessage
from service.webhooks.models import WebhookMessage
from tests.conftest import Caller
from tests.referrals.conftest import World, consent_body, post

SECRET = "Her aunt picks her up on Thursdays; call after 5."


async def _say(
    world: World, caller: Caller, referral: dict[str, Any], **body: Any
) -> httpx.Response:
    return await world.client.post(
        f"/referrals/{referral['id']}/messages",
        json={"text": SECRET, **body},
        headers=caller.headers,
    )


async def _thread(world: World, caller: Caller, referral: dict[str, Any]) -> list[dict[str, Any]]:
    response = await world.client.get(
        f"/referrals/{referral['id']}/messages", headers=caller.headers
    )
    assert response.status_code == 200, response.text
    return list(response.json()["contents"])


async def _with_notes(world: World) -> dict[str, Any]:
    """A referral whose consent and shared elements cover notes."""
    await post(
        world.client,
        world.callers.school_a,
        f"/students/{world.student['id']}/consents",
        consent_body(data_elements=["contact", "referral_reason", "notes"]),
    )
    return await world.referral(shared_elements=["contact", "referral_reason", "notes"])


async def test_school_messages_reach_the_provider_only_when_notes_are_consented(
    world: World,
) -> None:
    school, provider = world.callers.school_a, world.callers.provider_a
    without = await world.referral()  # the default shares no notes
    posted = await _say(world, school, without, attachment_url="https://files.example.org/iep.pdf")
    assert posted.status_code == 201, posted.text
    assert posted.json()["text"] == SECRET and posted.json()["redacted"] is False
    (seen,) = await _thread(world, provider, without)
    assert seen["redacted"] is True
    assert seen["text"] is None and seen["attachment_url"] is None
    assert seen["kind"] == "message" and seen["side"] == "school"
    (mine,) = await _thread(world, school, without)
    assert mine["attachment_url"] == "https://files.example.org/iep.pdf"

    # The provider's own message is always its to read.
    assert (await _say(world, provider, without, text="We have a seat.")).status_code == 201
    texts = [m["text"] for m in await _thread(world, provider, without)]
    assert texts == [None, "We have a seat."]

    await world.move(school, without, "cancelled")
    covered = await _with_notes(world)
    assert (await _say(world, school, covered)).status_code == 201
    (shown,) = await _thread(world, provider, covered)
    assert shown["text"] == SECRET and shown["redacted"] is False


async def test_a_request_for_information_is_answered_once_by_the_school(world: World) -> None:
    school, provider = world.callers.school_a, world.callers.provider_a
    referral = await world.referral()
    asked = await _say(
        world, provider, referral, kind="information_request", text="Which days can she come?"
    )
    assert asked.status_code == 201, asked.text
    request = asked.json()
    outbox = (await world.client.get("/referrals/outbox", headers=school.headers)).json()
    assert outbox["contents"][0]["awaiting_information"] is True
    assert outbox["contents"][0]["status"] == "received"  # answering a sent one receives it

    wrong_side = await _say(world, school, referral, kind="information_request")
    assert wrong_side.status_code == 403
    assert wrong_side.json()["code"] == "message_not_permitted"
    unnamed = await _say(world, school, referral, kind="information_response")
    assert unnamed.status_code == 422
    stranger = await _say(
        world, school, referral, kind="information_response", in_reply_to=str(uuid.uuid4())
    )
    assert stranger.status_code == 422 and stranger.json()["code"] == "unknown_reference"

    answer = await _say(
        world, school, referral, kind="information_response", in_reply_to=request["id"]
    )
    assert answer.status_code == 201, answer.text
    again = await _say(
        world, school, referral, kind="information_response", in_reply_to=request["id"]
    )
    assert again.status_code == 409 and again.json()["code"] == "already_answered"
    thread = await _thread(world, school, referral)
    assert thread[0]["answered_at"] is not None and thread[1]["in_reply_to"] == request["id"]
    read = await world.client.get(f"/referrals/{referral['id']}", headers=school.headers)
    assert read.json()["awaiting_information"] is False


async def test_messages_are_in_the_timeline_in_order(world: World) -> None:
    school, provider = world.callers.school_a, world.callers.provider_a
    referral = await world.referral()
    await _say(world, school, referral, text="First")
    assert (await world.move(provider, referral, "accepted")).status_code == 200
    await _say(world, provider, referral, text="Second")
    timeline = (
        await world.client.get(f"/referrals/{referral['id']}", headers=school.headers)
    ).json()["timeline"]
    kinds = [(e["type"], e["to_status"] or e["message"]["text"]) for e in timeline]
    assert kinds == [
        ("status", "sent"),
        ("message", "First"),
        ("status", "received"),
        ("status", "accepted"),
        ("message", "Second"),
    ]
    assert [e["version"] for e in timeline] == [1, 1, 2, 3, 3]


async def test_a_message_is_sealed_webhooked_by_id_and_audited(
    world: World, session: AsyncSession
) -> None:
    await post(
        world.client,
        world.callers.provider_a,
        "/webhook-endpoints",
        {"url": "http://127.0.0.1:9/hook", "events": ["referral.message_posted"]},
    )
    referral = await world.referral()
    posted = (await _say(world, world.callers.school_a, referral)).json()
    stored = await session.scalar(
        select(ReferralMessage.pii).where(ReferralMessage.id == uuid.UUID(posted["id"]))
    )
    assert stored is not None and b"aunt" not in stored
    (payload,) = (await session.scalars(select(WebhookMessage.payload))).all()
    assert payload["type"] == "referral.message_posted"
    assert payload["data"]["message_id"] == posted["id"]
    assert SECRET not in str(payload)
    await _thread(world, world.callers.provider_a, referral)
    actions = set(
        await session.scalars(
            select(AuditEntry.action).where(AuditEntry.subject_id == referral["id"])
        )
    )
    assert {"referral.message", "referral.messages.read"} <= actions


async def test_the_thread_is_for_the_two_sides_of_an_open_referral(world: World) -> None:
    referral = await world.referral()
    outsider = await _say(world, world.callers.provider_b, referral)
    assert outsider.status_code == 404  # another provider does not see the referral
    admin = await _say(world, world.callers.admin, referral)
    assert admin.status_code == 403
    for bad in (
        {"text": ""},
        {"text": "x" * 5001},
        {"attachment_url": "not a url"},
        {"text": "a\x00"},
    ):
        refused = await _say(world, world.callers.school_a, referral, **bad)
        assert refused.status_code == 422, (bad, refused.text)
    await world.move(world.callers.school_a, referral, "cancelled")
    closed = await _say(world, world.callers.school_a, referral)
    assert closed.status_code == 409 and closed.json()["code"] == "referral_closed"
    assert await _thread(world, world.callers.school_a, referral) == []


async def test_purge_erases_the_messages(world: World, session: AsyncSession) -> None:
    referral = await world.referral()
    await _say(world, world.callers.school_a, referral)
    await world.move(world.callers.school_a, referral, "cancelled")
    await session.execute(
        update(Referral)
        .where(Referral.id == uuid.UUID(referral["id"]))
        .values(closed_at=utcnow() - timedelta(days=400))
    )
    await session.commit()
    assert (await purge(session, retention_days=365)).students >= 1
    (message,) = await _thread(world, world.callers.school_a, referral)
    assert message["purged"] is True and message["text"] is None
