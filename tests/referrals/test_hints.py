"""What the API tells each side it may do next, and the order it tells things in."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.referrals.states import Side, Status, offered
from service.webhooks.models import WebhookMessage
from tests.referrals.conftest import World, post


async def _inbox(world: World) -> list[dict[str, Any]]:
    response = await world.client.get("/referrals/inbox", headers=world.callers.provider_a.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["contents"])


async def test_a_sent_referral_offers_the_provider_its_answers(world: World) -> None:
    referral = await world.referral()
    (listed,) = await _inbox(world)  # listing does not mark it received
    assert listed["status"] == "sent"
    assert listed["next_statuses"] == ["accepted", "declined"]
    assert referral["next_statuses"] == ["cancelled"]  # the school's own view


def test_a_provider_is_offered_what_one_request_can_do() -> None:
    assert offered(Status.sent, Side.provider) == [Status.accepted, Status.declined]
    assert offered(Status.sent, Side.school) == [Status.cancelled]


async def test_a_refused_move_lists_only_the_callers_moves(world: World) -> None:
    referral = await world.referral()
    early = await world.move(world.callers.provider_a, referral, "completed")
    assert early.status_code == 409, early.text
    body = early.json()
    assert body["code"] == "invalid_transition"
    assert body["next_statuses"] == ["accepted", "declined"]
    assert "cancelled" not in body["detail"]  # the school's move, not the provider's
    assert "you can move it to accepted, declined" in body["detail"]

    not_yours = await world.move(world.callers.school_a, referral, "accepted")
    assert not_yours.status_code == 403
    assert not_yours.json()["code"] == "transition_not_permitted"
    assert not_yours.json()["next_statuses"] == ["cancelled"]


async def test_a_refusal_reads_as_english(world: World) -> None:
    referral = await world.referral()
    assert (await world.move(world.callers.provider_a, referral, "accepted")).status_code == 200
    back = await world.move(world.callers.provider_a, referral, "sent")
    assert back.json()["detail"].startswith("An accepted referral cannot become sent")


async def test_times_are_utc_in_every_response(world: World) -> None:
    created = await world.referral()
    read = (
        await world.client.get(
            f"/referrals/{created['id']}", headers=world.callers.school_a.headers
        )
    ).json()
    for name in ("sent_at", "response_due_at", "contact_due_at"):
        assert created[name].endswith("Z"), (name, created[name])
        assert created[name] == read[name]


async def test_timeline_and_webhooks_carry_the_version(world: World, session: AsyncSession) -> None:
    await post(
        world.client,
        world.callers.provider_a,
        "/webhook-endpoints",
        {
            "url": "http://127.0.0.1:9/hook",
            "events": ["referral.created", "referral.status_changed"],
        },
    )
    referral = await world.referral()
    for status in ("accepted", "contacted"):
        moved = await world.move(world.callers.provider_a, referral, status)
        assert moved.status_code == 200, moved.text
    done = moved.json()
    assert [e["version"] for e in done["timeline"]] == [1, 2, 3, 4]
    assert done["timeline"][-1]["version"] == done["version"] == 4
    payloads = (await session.scalars(select(WebhookMessage.payload))).all()
    versions = sorted(p["data"]["version"] for p in payloads)
    assert versions == [1, 2, 3, 4]  # created, received, accepted, contacted


async def test_a_retried_move_with_its_idempotency_key_replays_its_answer(world: World) -> None:
    referral = await world.referral()
    path = f"/referrals/{referral['id']}/transitions"
    headers = {
        **world.callers.school_a.headers,
        "If-Match": f'"{referral["version"]}"',
        "Idempotency-Key": "cancel-once",
    }
    first = await world.client.post(path, json={"to": "cancelled"}, headers=headers)
    assert first.status_code == 200, first.text
    again = await world.client.post(path, json={"to": "cancelled"}, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["version"] == first.json()["version"] and again.headers["ETag"]
    stale = await world.client.post(
        path, json={"to": "cancelled"}, headers={**headers, "Idempotency-Key": "another"}
    )
    assert stale.status_code == 412  # without the key, the If-Match is stale
