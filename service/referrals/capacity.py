"""Seats: what a program's capacity lets a school send, and what enrolment takes.

A program's `seats_available` counts free seats (null: the provider does not count them
here). The rules (README, "Capacity"):

- a school may refer while the program has a free seat, or none counted; with no free
  seat, the referral is sent as `waitlisted` when the program keeps a waitlist
  (`enrollment_status: waitlist`), and refused (422 `program_full`) otherwise; a program
  whose enrollment is closed takes no referral (422 `enrollment_closed`);
- enrolling takes a seat, in one conditional UPDATE of the program row (so of two
  enrolments at the last seat exactly one wins; the other is refused with 409
  `no_seat_available` and changes nothing); the referral then holds it (`seat_held`);
- closing a referral that holds a seat (completed, not_completed, cancelled, the system's
  cancels included) gives it back.

A provider's own edit of `seats_available` sets the count outright. Seat changes bump the
program's version (its ETag), so a provider's edit sent with a stale If-Match is refused
rather than undoing an enrolment, and the catalog's change log feeds them to the search
indexes.
"""

from __future__ import annotations

import uuid

from sqlalchemy import DateTime, Integer, Uuid, select, update

from service.catalog.enums import EnrollmentStatus
from service.catalog.models import Program
from service.db import utcnow
from service.errors import Conflict, Unprocessable
from service.reader import Compiled, Reader, compile_statement, param
from service.referrals.models import Referral
from service.referrals.states import Status


def admission(seats_available: int | None, enrollment: EnrollmentStatus) -> bool:
    """Whether a new referral is waitlisted; raises when the program cannot take one."""
    if enrollment is EnrollmentStatus.closed:
        raise Unprocessable(
            "This program's enrollment is closed: it takes no referrals until it reopens.",
            code="enrollment_closed",
        )
    if seats_available is None or seats_available > 0:
        return False
    if enrollment is EnrollmentStatus.waitlist:
        return True
    raise Unprocessable("This program has no free seat and keeps no waitlist.", code="program_full")


def _change_statement() -> Compiled:
    """Add `delta` to a counted program's free seats (never below 0), bumping its version;
    the new count, or no row when nothing changed (no seat left, or seats not counted)."""
    seats = Program.seats_available
    delta = param("delta", Integer)
    return compile_statement(
        update(Program)
        .where(Program.id == param("program_id", Uuid), seats.is_not(None), seats + delta >= 0)
        .values(
            seats_available=seats + delta,
            version=Program.version + 1,
            updated_at=param("now", DateTime(timezone=True)),
        )
        .returning(seats)
    )


# Compiled once and run on the session's connection (service/reader.py), like the move
# they belong to (referrals/writes.py).
_CHANGE = _change_statement()
_COUNTED = compile_statement(
    select(Program.seats_available).where(Program.id == param("program_id", Uuid))
)


async def _change(reader: Reader, program_id: uuid.UUID, delta: int) -> int | None:
    """The program's new count of free seats, or None when the row did not change."""
    row = await reader.fetchrow(_CHANGE, program_id=program_id, delta=delta, now=utcnow())
    return None if row is None else int(row[0])


def acts(referral: Referral, target: Status) -> bool:
    """Whether a move of this referral to `target` changes the program's seats (then the
    move is more than one statement: it needs a transaction)."""
    return target is Status.enrolled or (target.is_closed and referral.seat_held)


async def take_seat(reader: Reader, referral: Referral) -> None:
    """The seat an enrolment takes (nothing when the program does not count seats)."""
    if await _change(reader, referral.program_id, -1) is not None:
        referral.seat_held = True
        referral.waitlisted = False
        return
    counted = await reader.fetchrow(_COUNTED, program_id=referral.program_id)
    if counted is not None and counted[0] is not None:
        raise Conflict(
            "This program has no free seat: enrol when one frees up (a completed or "
            "ended enrolment gives one back), or raise seats_available on the program.",
            code="no_seat_available",
        )
    referral.waitlisted = False


async def follow(reader: Reader, referral: Referral, target: Status) -> None:
    """What a move to `target` does to the program's seats: on `reader`'s transaction,
    with the move (`acts` says when it does anything)."""
    if not acts(referral, target):
        return
    assert reader.in_transaction, "a seat changes with its move, in one transaction"
    if target is Status.enrolled:
        await take_seat(reader, referral)
    else:
        await _change(reader, referral.program_id, +1)
        referral.seat_held = False
