"""Seats: what a program's capacity lets a school send, and what enrolment takes.

A program's `seats_available` counts free seats (null: the provider does not count them
here). The rules (README, "Capacity"):

- a school may refer while the program has a free seat, or none counted; with no free
  seat, the referral is sent as `waitlisted` when the program keeps a waitlist
  (`enrollment_status: waitlist`), and refused (422 `program_full`) otherwise; a program
  whose enrollment is closed takes no referral (422 `enrollment_closed`);
- enrolling takes a seat, in one conditional UPDATE of the program row joined to the
  move's own statement (so of two enrolments at the last seat exactly one wins; the
  other is refused with 409 `no_seat_available` and changes nothing); the referral then
  holds it (`seat_held`);
- closing a referral that holds a seat (completed, not_completed, cancelled, the system's
  cancels included) gives it back.

A provider's own edit of `seats_available` sets the count outright. Seat changes bump the
program's version (its ETag), so a provider's edit sent with a stale If-Match is refused
rather than undoing an enrolment, and the catalog's change log feeds them to the search
indexes.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, DateTime, Update, Uuid, update

from service.catalog.enums import EnrollmentStatus
from service.catalog.models import Program
from service.errors import Unprocessable
from service.reader import param
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


NO_SEAT = (
    "This program has no free seat: enrol when one frees up (a completed or ended "
    "enrolment gives one back), or raise seats_available on the program."
)


def follow(referral: Referral, target: Status, counted: bool | None) -> int:
    """What a move to `target` does to the program's seats: the change of its free seats
    (-1: an enrolment takes one where the program counts them; +1: a closing referral
    gives its seat back; 0), written by the move's own statement (writes.py), which
    refuses an enrolment when no seat is left. Sets the referral's seat_held and
    waitlisted as the move leaves them. `counted`: whether the program counts its seats,
    as read with the referral (None: not known, which only a move that is no enrolment
    may leave)."""
    if target is Status.enrolled:
        assert counted is not None, "an enrolment knows whether its program counts seats"
        referral.waitlisted = False
        if counted:
            referral.seat_held = True
            return -1
        return 0
    if target.is_closed and referral.seat_held:
        referral.seat_held = False
        return +1
    return 0


def changed(delta: ColumnElement[int], when: ColumnElement[bool]) -> Update:
    """Add `delta` to a counted program's free seats (never below 0), bumping its version
    (its ETag), if `when` holds (the move was written); RETURNING the new count, nothing
    when no seat was left or the program does not count them. Values: `seat_program_id`,
    `seat_now`."""
    seats = Program.seats_available
    return (
        update(Program)
        .where(
            Program.id == param("seat_program_id", Uuid),
            seats.is_not(None),
            seats + delta >= 0,
            when,
        )
        .values(
            seats_available=seats + delta,
            version=Program.version + 1,
            updated_at=param("seat_now", DateTime(timezone=True)),
        )
        .returning(seats)
    )
