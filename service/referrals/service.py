"""Referrals: move through the loop, record what reads cause (creating: creating.py).

Every move goes through `move`, which asks the state machine (states.plan) and applies
the whole transition it returns; the system's moves (received on the provider's first
read, consent_revoked cancels, expiry) are no exception. A move is written only if the
referral is still at the version it was planned on (writes.py), which If-Match was
compared with, so of two concurrent transitions exactly one wins and the other gets 412;
no row lock is taken first (the system's jobs lock what they sweep). Every move appends
an event, queues webhooks and writes the audit trail with the row, in one statement.

The writes hand back what their responses show (ReferralRows) from what they already
hold: nothing is read twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal
from service.concurrency import check_if_match
from service.consent import rules
from service.consent.models import Consent
from service.consent.schemas import ConsentState
from service.db import utcnow
from service.errors import AppError, Conflict, Forbidden
from service.local_time import today
from service.reader import Reader
from service.referrals import capacity, reading, states, writes
from service.referrals.models import Referral
from service.referrals.reading import side_of
from service.referrals.schemas import TransitionCreate
from service.referrals.states import AWAITING_RESPONSE, OPEN, Reason, Side, Status
from service.referrals.views import Event, ReferralRows
from service.settings import get_settings
from service.webhooks.events import EventType


class PreconditionRequired(AppError):
    status = 428
    code = "if_match_required"


# ---------------------------------------------------------------- moving


def payload(
    referral: Referral, previous: Status | None = None, changes: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Webhook data: ids and statuses, never the student's personal data; as the referral
    is with `changes` (column -> value) made."""
    after = {k: getattr(referral, k) for k in ("status", "version", "status_reason")}
    after.update((k, v) for k, v in (changes or {}).items() if k in after)
    data: dict[str, Any] = {
        "referral_id": str(referral.id),
        "program_id": str(referral.program_id),
        "provider_id": str(referral.provider_id),
        "school_id": str(referral.school_id),
        "status": after["status"].value,
        "urgency": referral.urgency.value,
        "version": after["version"],
    }
    if previous is not None:
        data["previous_status"] = previous.value
        data["status_reason"] = after["status_reason"].value if after["status_reason"] else None
    return data


@dataclass(frozen=True)
class Step:
    """One move asked for: to `to` by `side` (`principal` acting; None for the system's
    own jobs), with its reason and note; `recorded` writes the principal's audit entry
    (referral.<to>) with it."""

    to: Status
    side: Side
    principal: Principal | None
    reason: Reason | None = None
    note: str | None = None
    recorded: bool = False


async def move(
    on: Reader,
    referral: Referral,
    to: Status,
    side: Side,
    principal: Principal | None,
    reason: Reason | None = None,
    note: str | None = None,
    *,
    recorded: bool = False,
) -> Event:
    """One move (`moves` with one step); returns its event."""
    return (await moves(on, referral, [Step(to, side, principal, reason, note, recorded)]))[0]


async def moves(
    on: Reader, referral: Referral, steps: Sequence[Step], *, counted: bool | None = None
) -> list[Event]:
    """THE transition function: every move of a referral, the system's included. The
    state machine decides each step (states.plan: allowed?, which timestamps, which
    refusal), from where the step before left the referral; a refused step raises the
    problem it names and nothing is written. The steps (the system's receipt before a
    provider's first answer, then that answer) are written together with the seat they
    take or give back (capacity.follow; `counted`: whether the program counts seats, as
    read with the referral), in one statement, only if the referral is still at the
    version `referral` holds (writes.Overtaken, 412, otherwise). `on` runs it: a pool
    connection (autocommit), or a session's in its transaction. Returns the events."""
    planned: list[tuple[Step, states.Transition]] = []
    status, contacted = referral.status, referral.contacted_at is not None
    for step in steps:
        transition = states.plan(status, step.to, step.side, step.reason, contacted=contacted)
        if transition.refusal is not None:
            refusal = transition.refusal
            extra = {"next_statuses": [s.value for s in refusal.next_statuses]}
            raise AppError(refusal.detail, code=refusal.code, status=refusal.status, extra=extra)
        planned.append((step, transition))
        status, contacted = transition.target, contacted or "contacted_at" in transition.stamps
    return await _apply(on, referral, planned, counted)


async def _apply(
    on: Reader,
    referral: Referral,
    planned: Sequence[tuple[Step, states.Transition]],
    counted: bool | None,
) -> list[Event]:
    now = utcnow()
    changes: dict[str, Any] = {}
    written: list[writes.Step] = []
    record = None
    seats = 0
    for step, transition in planned:
        seats += capacity.follow(referral, transition.target, counted)
        changes |= {
            "status": transition.target,
            "version": referral.version + len(written) + 1,
            "seat_held": referral.seat_held,  # capacity.follow may have changed these two
            "waitlisted": referral.waitlisted,
        }
        if transition.sets_reason:
            changes["status_reason"] = transition.reason
        changes.update((stamp, now) for stamp in transition.stamps)
        data = payload(referral, transition.current, changes)
        written.append(
            writes.Step(
                transition.side,
                step.principal,
                (transition.current, transition.target, transition.reason),
                step.note,
                changes["version"],
                (EventType.referral_status_changed, data),
            )
        )
        if step.recorded and step.principal is not None:
            record = writes.Record(step.principal, f"referral.{step.to.value}")
    return await writes.move(on, referral, changes, written, now, record, (seats, bool(counted)))


async def transition(
    reader: Reader,
    principal: Principal,
    referral_id: uuid.UUID,
    body: TransitionCreate,
    if_match: str | None,
) -> ReferralRows:
    """A side's move, with what its response shows. It is planned on the referral as
    `reader` reads it, and written only if the referral is still at that version
    (writes.py), so no lock is taken first: of two moves sent with one ETag, one wins and
    the other answers 412, as if its If-Match had been stale. The move is one statement
    on `reader`, with the system's receipt first when a provider answers a referral it
    never opened, and the seat it takes or gives back."""
    rows = await reading.one(reader, principal, referral_id)
    referral = rows.referral
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
    if side is Side.provider and referral.status in OPEN:
        refuse_when_consent_ended(rows.consent)
    steps = [Step(body.to, side, principal, body.reason, body.note, recorded=True)]
    if side is Side.provider and referral.status is Status.sent:
        # A provider answering a referral it never opened has received it.
        steps.insert(0, Step(Status.received, Side.system, principal))
    counted = rows.program_seats is not None
    events = await moves(reader, referral, steps, counted=counted)
    return replace(rows, events=[*rows.events, *events])


def refuse_when_consent_ended(consent: Consent) -> None:
    """A provider cannot act on a referral whose consent has ended: the worker cancels it
    (consent_end.py) within a minute of the date turning; until then it is refused."""
    state = rules.state(consent, today())
    if state is not ConsentState.active:
        raise Conflict(
            f"The consent this referral was made under is {state.value}: the referral "
            "is being cancelled and its student's records are no longer shared with you.",
            code="consent_ended",
        )


# ---------------------------------------------------------------- what reads cause
# A read writes nothing by itself (reading.py); these are the writes a read of a
# referral causes, called by the GET handlers in the open.


async def record_reads(
    session: AsyncSession, principal: Principal, read: Sequence[ReferralRows]
) -> None:
    """An audit entry per referral read (the record of who saw a student's referral)."""
    for rows in read:
        referral = rows.referral
        await record(
            session, principal, "referral.read", "referral", referral.id, referral.student_id
        )


def moves_on_read(principal: Principal, rows: ReferralRows) -> bool:
    """Whether this read is the provider's first of a sent referral, which receives it
    (nothing is received when the consent no longer discloses anything)."""
    referral = rows.referral
    if side_of(principal, referral) is not Side.provider or referral.status is not Status.sent:
        return False
    return rules.state(rows.consent, today()) is ConsentState.active


async def receive_on_first_read(
    reader: Reader, principal: Principal, rows: ReferralRows
) -> ReferralRows:
    """PRODUCT.md: the provider's first read of a sent referral marks it received, a
    system move, planned on the version just read and written only if the referral is
    still at it (one statement, no lock). If another request moved it meanwhile, the
    referral is read again as it now is."""
    if not moves_on_read(principal, rows):
        return rows
    try:
        event = await move(reader, rows.referral, Status.received, Side.system, principal)
    except writes.Overtaken:
        return await reading.one(reader, principal, rows.referral.id)
    return replace(rows, events=[*rows.events, event])


# ---------------------------------------------------------------- the system's moves


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
        await move(
            Reader(session=session), referral, Status.expired, Side.system, None, Reason.no_response
        )
    return len(referrals)
