"""A consent that ends, by revocation or by date, ends the referrals under it one way."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.local_time import today
from service.referrals.consent_end import lapse_expired
from tests.referrals.conftest import World, post, sent_messages, subscribe_both


async def _expire(session: AsyncSession) -> None:
    """The consent's last day was yesterday, in the partnership's zone."""
    await session.execute(
        text("UPDATE consents SET signed_on = :signed, expires_on = :last"),
        {"signed": today() - timedelta(days=60), "last": today() - timedelta(days=1)},
    )


async def _read(world: World, referral: dict[str, Any], as_provider: bool = True) -> Any:
    caller = world.callers.provider_a if as_provider else world.callers.school_a
    response = await world.client.get(f"/referrals/{referral['id']}", headers=caller.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_worker_cancels_open_referrals_when_the_consent_expires(
    world: World, session: AsyncSession
) -> None:
    await subscribe_both(world)
    referral = await world.referral()
    assert (await world.move(world.callers.provider_a, referral, "accepted")).status_code == 200
    await _expire(session)

    assert await lapse_expired(session) == 1
    assert await lapse_expired(session) == 0  # each consent once

    seen = await _read(world, referral)
    assert (seen["status"], seen["status_reason"]) == ("cancelled", "consent_expired")
    assert seen["consent_state"] == "expired"
    assert seen["timeline"][-1]["side"] == "system"
    assert seen["student"]["disclosed"] == [] and seen["need_text"] is None
    school, provider = (
        str(world.callers.school_a.organization_id),
        str(world.callers.provider_a.organization_id),
    )
    expired = await sent_messages(session, "consent.expired")
    assert expired[school]["consent_id"] == world.consent["id"]
    assert expired[school]["referral_ids"] == [referral["id"]]
    assert expired[provider] == {
        "expired_on": str(today() - timedelta(days=1)),
        "referral_ids": [referral["id"]],
        "cancelled_referral_ids": [referral["id"]],
    }  # no consent id: the provider never sees one
    changed = await sent_messages(session, "referral.status_changed")
    assert changed[school]["status_reason"] == changed[provider]["status_reason"]


async def test_until_the_worker_runs_a_provider_cannot_act_under_an_ended_consent(
    world: World, session: AsyncSession
) -> None:
    referral = await world.referral()
    await _expire(session)
    refused = await world.move(world.callers.provider_a, referral, "accepted")
    assert refused.status_code == 409 and refused.json()["code"] == "consent_ended"
    seen = await _read(world, referral)
    assert seen["status"] == "sent"  # not received: nothing was shown
    assert seen["next_statuses"] == []  # and nothing is offered the provider
    cancelled = await world.move(world.callers.school_a, referral, "cancelled")
    assert cancelled.status_code == 200, cancelled.text


async def test_a_served_referral_stays_closed_and_shows_no_student(
    world: World, session: AsyncSession
) -> None:
    await subscribe_both(world)
    referral = await world.referral()
    for status in ("accepted", "enrolled", "completed"):
        assert (await world.move(world.callers.provider_a, referral, status)).status_code == 200
    await _expire(session)
    assert await lapse_expired(session) == 1
    seen = await _read(world, referral)
    assert seen["status"] == "completed"  # the outcome stands
    assert seen["student"]["disclosed"] == [] and seen["student"]["first_name"] is None
    assert seen["program"]["name"] == "Math Lab" and seen["enrolled_at"] is not None
    school_view = await _read(world, referral, as_provider=False)
    assert school_view["student"]["first_name"] is not None  # the school keeps its record
    provider = str(world.callers.provider_a.organization_id)
    told = (await sent_messages(session, "consent.expired"))[provider]
    assert told["referral_ids"] == [referral["id"]] and told["cancelled_referral_ids"] == []


async def test_revocation_names_the_referrals_to_each_side(
    world: World, session: AsyncSession
) -> None:
    await subscribe_both(world)
    referral = await world.referral()
    await post(world.client, world.callers.school_a, f"/consents/{world.consent['id']}/revoke", {})
    revoked = await sent_messages(session, "consent.revoked")
    school = revoked[str(world.callers.school_a.organization_id)]
    provider = revoked[str(world.callers.provider_a.organization_id)]
    assert school["consent_id"] == world.consent["id"]
    assert school["referral_ids"] == provider["referral_ids"] == [referral["id"]]
    assert provider["cancelled_referral_ids"] == [referral["id"]]
    assert "consent_id" not in provider and provider["revoked_at"].endswith("Z")
