"""Seats, waitlists and enrolment: what a program's capacity lets a school send."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.models import Program
from service.referrals.models import Referral
from tests.referrals.conftest import World, consent_body, post, student_body
from tests.referrals.live import Live


async def _program(session: AsyncSession, world: World, **values: Any) -> tuple[int | None, int]:
    if values:
        sets = ", ".join(f"{k} = :{k}" for k in values)
        await session.execute(
            text(f"UPDATE programs SET {sets} WHERE id = :id"),
            {**values, "id": world.program["id"]},
        )
    row = (
        await session.execute(
            select(Program.seats_available, Program.version).where(
                Program.id == world.program["id"]
            )
        )
    ).one()
    return row[0], row[1]


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Referral)) or 0)


async def test_a_full_program_without_a_waitlist_refuses_the_referral(
    world: World, session: AsyncSession
) -> None:
    await _program(session, world, seats_available=0, enrollment_status="open")
    before = await _count(session)
    refused = await world.refer()
    assert refused.status_code == 422 and refused.json()["code"] == "program_full"
    assert await _count(session) == before


async def test_a_closed_enrollment_takes_no_referral(world: World, session: AsyncSession) -> None:
    await _program(session, world, enrollment_status="closed")
    refused = await world.refer()
    assert refused.status_code == 422 and refused.json()["code"] == "enrollment_closed"


async def test_a_full_program_with_a_waitlist_queues_it_until_a_seat_frees(
    world: World, session: AsyncSession
) -> None:
    await _program(session, world, seats_available=0, enrollment_status="waitlist")
    referral = await world.referral()
    assert referral["waitlisted"] is True
    provider = world.callers.provider_a
    accepted = await world.move(provider, referral, "accepted")
    assert accepted.status_code == 200
    assert "enrolled" not in accepted.json()["next_statuses"]  # no seat: not offered
    no_seat = await world.move(provider, referral, "enrolled")
    assert no_seat.status_code == 409 and no_seat.json()["code"] == "no_seat_available"
    assert (await world.move(provider, referral, "contacted")).status_code == 200
    await _program(session, world, seats_available=1)
    seen = await world.client.get(f"/referrals/{referral['id']}", headers=provider.headers)
    assert "enrolled" in seen.json()["next_statuses"]  # a seat freed: offered again
    enrolled = await world.move(provider, referral, "enrolled")
    assert enrolled.status_code == 200, enrolled.text
    assert enrolled.json()["waitlisted"] is False
    assert (await _program(session, world))[0] == 0


async def test_enrolling_takes_a_seat_and_ending_gives_it_back(
    world: World, session: AsyncSession
) -> None:
    _, version = await _program(session, world, seats_available=3)
    provider = world.callers.provider_a
    referral = await world.referral()
    for status in ("accepted", "enrolled"):
        assert (await world.move(provider, referral, status)).status_code == 200
    assert await _program(session, world) == (2, version + 1)  # the ETag moves with it
    assert (await world.move(provider, referral, "completed")).status_code == 200
    assert await _program(session, world) == (3, version + 2)


async def test_an_enrolment_ended_by_the_consent_gives_its_seat_back(
    world: World, session: AsyncSession
) -> None:
    await _program(session, world, seats_available=1)
    referral = await world.referral()
    for status in ("accepted", "enrolled"):
        assert (await world.move(world.callers.provider_a, referral, status)).status_code == 200
    assert (await _program(session, world))[0] == 0
    await post(world.client, world.callers.school_a, f"/consents/{world.consent['id']}/revoke", {})
    assert (await _program(session, world))[0] == 1


async def test_seats_not_counted_are_not_touched(world: World, session: AsyncSession) -> None:
    _, version = await _program(session, world, seats_available=None)
    referral = await world.referral()
    for status in ("accepted", "enrolled", "completed"):
        assert (await world.move(world.callers.provider_a, referral, status)).status_code == 200
    assert await _program(session, world) == (None, version)


async def test_concurrent_enrolments_at_the_last_seat_one_wins(live: Live) -> None:
    """Four students accepted, one seat, four enrolments at once: one takes it."""
    async with live.sessions() as session, session.begin():
        await session.execute(
            text("UPDATE programs SET seats_available = 1 WHERE id = :id"),
            {"id": live.program["id"]},
        )
    moves = []
    for n in range(4):
        student = await post(
            live.client,
            live.school,
            "/students",
            student_body(student_number=f"S-9{n}", first_name=f"Kid{n}"),
        )
        await post(live.client, live.school, f"/students/{student['id']}/consents", consent_body())
        body = {"student_id": student["id"], "program_id": live.program["id"], "need": "other"}
        referral = await post(live.client, live.school, "/referrals", body)
        path = f"/referrals/{referral['id']}/transitions"
        accepted = await live.client.post(
            path,
            json={"to": "accepted"},
            headers={**live.provider.headers, "If-Match": f'"{referral["version"]}"'},
        )
        etag = accepted.headers["ETag"]
        moves.append((path, etag))
    results = await asyncio.gather(
        *(
            live.client.post(
                path, json={"to": "enrolled"}, headers={**live.provider.headers, "If-Match": etag}
            )
            for path, etag in moves
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409, 409], [r.text for r in results]
    assert all(r.json()["code"] == "no_seat_available" for r in results if r.status_code == 409)
    async with live.sessions() as session:
        seats = await session.scalar(
            select(Program.seats_available).where(Program.id == live.program["id"])
        )
        held = await session.scalar(
            select(func.count()).where(Referral.seat_held.is_(True), Referral.status == "enrolled")
        )
    assert (seats, held) == (0, 1)
