"""What a move or a new referral writes, each as ONE statement compiled once per shape
and run on the driver (service/reader.py): the referral row, the event appended to its
timeline, the webhook messages it queues and, when the request records it, its audit
entry, joined as data-modifying WITHs of one statement. Written one statement each they
were four round trips a move; each round trip costs the worker about 90 µs of driver
CPU and PostgreSQL a statement's overhead.

A move writes only if the referral is still at the version it was planned on (the
statement's WHERE), so it needs no row lock taken before: it runs alone, in autocommit,
right after the read it was decided on (service.transition), with the seat it takes or
gives back, and of two moves planned on one version exactly one writes. A new referral
claims its Idempotency-Key with its answer in its insert's statement. Parts that cannot
stand together (an enrolment without a seat, a key taken meanwhile) make the statement
refuse itself (youthlink_refuse, migration 0013): nothing is written.

Through the unit of work a move (with its webhook messages) cost 1.3-3.0 ms of Python
(dirty-state tracking, an UPDATE ... RETURNING built per flush, an INSERT with its own).
The referral object (transient, service/hydrate.py; or one a system job loaded) takes
the new values without history, so no flush writes them again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import (
    CTE,
    Boolean,
    ColumnElement,
    Select,
    and_,
    case,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm.attributes import set_committed_value

from service import idempotency
from service.audit.service import entry, entry_values
from service.auth.principal import Principal
from service.errors import Conflict, PreconditionFailed
from service.reader import (
    Compiled,
    Prepared,
    Reader,
    column_params,
    column_values,
    insert_row,
    param,
)
from service.referrals import capacity
from service.referrals.models import Referral, ReferralEvent
from service.referrals.states import OPEN, Reason, Side, Status
from service.referrals.views import Event
from service.webhooks.events import EventType
from service.webhooks.service import queue_values, queued

_REFERRALS = Referral.__table__
_EVENTS = ReferralEvent.__table__
_EVENT_COLUMNS = tuple(c.name for c in _EVENTS.c if c.name != "id")
_NEW_COLUMNS = tuple(c.name for c in _REFERRALS.c if c.name not in ("created_at", "updated_at"))


class Overtaken(PreconditionFailed):
    """A move planned on a version of the referral that another move replaced meanwhile
    (the same answer as a stale If-Match: the caller acted on what it no longer sees)."""


@dataclass(frozen=True)
class Record:
    """An audit entry written with the change it records (audit.service.entry_values)."""

    principal: Principal
    action: str


def _joined(
    main: Select[Any], written: ColumnElement[bool], recorded: bool, steps: int = 1
) -> Select[Any]:
    """`main` with each step's event and webhook messages (values `e<i>_<column>` and
    `q<i>_...`) and (when `recorded`) the audit entry, written by the same statement,
    each only if `written` holds (the row was written)."""
    ctes: list[CTE] = []
    for i in range(steps):
        ctes.append(insert_row(_EVENTS, _EVENT_COLUMNS, f"e{i}_", written).cte(f"event{i}"))
        ctes.append(queued(written, f"q{i}_").cte(f"queued{i}"))
    if recorded:
        ctes.append(entry("a_", written).cte("audited"))
    return main.add_cte(*ctes)


def _move(columns: tuple[str, ...], recorded: bool, steps: int, seat: int) -> Select[Any]:
    """UPDATE of these columns and updated_at, by id and the version the move was
    planned on, with the events and messages of its `steps`, its audit entry and its
    program's `seat` change (capacity.follow); nothing at all when the referral is no
    longer at that version. An enrolment where the program counts seats but has none
    left refuses the whole statement (youthlink_refuse, migration 0013)."""
    moved = (
        update(Referral)
        .where(
            _REFERRALS.c.id == param("referral_id", _REFERRALS.c.id.type),
            _REFERRALS.c.version == param("planned_version", _REFERRALS.c.version.type),
        )
        .values(**column_params(_REFERRALS, columns), updated_at=func.now())
        .returning(_REFERRALS.c.updated_at)
        .cte("moved")
    )
    written = select(moved.c.updated_at).exists()
    main = _joined(select(moved.c.updated_at), written, recorded, steps)
    if not seat:
        return main
    taken = capacity.changed(literal(seat), written).cte("seat")
    if seat < 0:
        counted = param("seat_counted", Boolean)
        none_left = and_(written, counted, ~select(taken.c.seats_available).exists())
        refusal = func.youthlink_refuse(literal(NO_SEAT))
        main = main.add_columns(case((none_left, refusal), else_=literal(False)).label("refused"))
    return main.add_cte(taken)


def open_referral(student_id: Any, program_id: Any) -> Select[Any]:
    """The id of the student's open referral to the program (the one the unique index
    uq_referrals_open_student_program lets stand)."""
    return select(_REFERRALS.c.id).where(
        _REFERRALS.c.student_id == student_id,
        _REFERRALS.c.program_id == program_id,
        _REFERRALS.c.status.in_(OPEN),
    )


def _create(recorded: bool, keyed: bool) -> Select[Any]:
    """The new referral, unless the unique index of open referrals (student, program)
    already holds one: then nothing at all is written (ON CONFLICT DO NOTHING, which
    also settles two concurrent attempts: the second waits for the first, then finds
    it). The event, messages and entry are written only with the row: each WHERE the
    insert returned one.

    `keyed`: the request's Idempotency-Key is claimed with its answer by the same
    statement (idempotency.claimed). The referral is written only if no request holds
    the key; the key is claimed only with the referral. Should a request with the key
    and another body have claimed it meanwhile (after this statement's snapshot, so the
    referral was written), youthlink_refuse (migration 0013) aborts the whole statement."""
    params = column_params(_REFERRALS, _NEW_COLUMNS)
    new = pg_insert(Referral)
    new = (
        new.from_select(list(params), select(*params.values()).where(~idempotency.held()))
        if keyed
        else new.values(**params)
    )
    created = new.on_conflict_do_nothing().returning(Referral.created_at).cte("created")
    written = select(created.c.created_at).exists()
    # What a request that wrote nothing answers, as the statement's snapshot saw it:
    # the open referral it met (409) or the key's holder (a replay).
    open_one = open_referral(params["student_id"], params["program_id"]).scalar_subquery()
    outcome: list[Any] = [written.label("created"), open_one.label("open_referral")]
    if keyed:
        claim = idempotency.claimed(written).cte("claimed")
        taken = and_(written, ~select(claim.c.key).exists())
        refused = case((taken, func.youthlink_refuse(literal(KEY_TAKEN))), else_=literal(False))
        outcome += [idempotency.held().label("held"), refused.label("refused")]
    main = _joined(select(*outcome), written, recorded)
    return main.add_cte(claim) if keyed else main


KEY_TAKEN = "idempotency_key_taken"
NO_SEAT = "no_seat_available"
# What each refusal of a statement (youthlink_refuse(code): SQLSTATE YL409, the code as
# its message) answers.
_REFUSALS = {
    KEY_TAKEN: (
        "A request with this Idempotency-Key and another body was just made; retry to see "
        "its answer.",
        "idempotency_key_in_use",
    ),
    NO_SEAT: (capacity.NO_SEAT, NO_SEAT),
}


async def _written(reader: Reader, compiled: Compiled, **values: Any) -> Any:
    """The row of a write's one statement; the 409 it names when it refused itself."""
    try:
        return await reader.fetchrow(compiled, **values)
    except asyncpg.PostgresError as error:
        refusal = _REFUSALS.get(str(error)) if error.sqlstate == "YL409" else None
        if refusal is None:
            raise
        detail, code = refusal
        raise Conflict(detail, code=code) from None


_MOVE = Prepared(_move)
_CREATE = Prepared(_create)


def _event_values(
    referral_id: uuid.UUID,
    version: int,
    side: Side,
    principal: Principal | None,
    change: tuple[Status | None, Status, Reason | None],
    note: str | None,
    at: datetime,
    prefix: str = "e0_",
) -> tuple[dict[str, Any], Event]:
    """The timeline's next event (the referral's `version` after it): its row's run-time
    values (under `prefix`) and the view of it."""
    from_status, to_status, reason = change
    values: dict[str, Any] = {
        "referral_id": referral_id,
        "occurred_at": at,
        "side": side,
        "actor_organization_id": principal.organization_id if principal else None,
        "actor_key_id": principal.key_id if principal else None,
        "actor_subject": principal.subject if principal else None,
        "actor_name": principal.display_name if principal else None,
        "version": version,
        "from_status": from_status,
        "to_status": to_status,
        "reason": reason,
        "note": note,
    }
    event = Event(
        occurred_at=at,
        version=version,
        side=side,
        actor_organization_id=values["actor_organization_id"],
        actor_name=values["actor_name"],
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        note=note,
    )
    return column_values(values, prefix), event


@dataclass(frozen=True)
class Step:
    """One step of a move as written: who moved it, from what to what with which
    reason and note, the version it leaves, and its webhook (event type, data)."""

    side: Side
    principal: Principal | None
    change: tuple[Status | None, Status, Reason | None]
    note: str | None
    version: int
    webhook: tuple[EventType, Mapping[str, Any]]


def _besides(
    referral: Referral,
    webhooks: Sequence[tuple[EventType, Mapping[str, Any]]],
    record: Record | None,
) -> dict[str, Any]:
    """The run-time values of the messages (of each step) and the entry joined to a
    write."""
    values: dict[str, Any] = {}
    to = [referral.provider_id, referral.school_id]
    for i, (event_type, data) in enumerate(webhooks):
        values |= queue_values(event_type, to, dict(data), prefix=f"q{i}_")
    if record is not None:
        values |= entry_values(
            record.principal,
            record.action,
            "referral",
            referral.id,
            referral.student_id,
            prefix="a_",
        )
    return values


async def move(
    reader: Reader,
    referral: Referral,
    changes: dict[str, Any],
    steps: Sequence[Step],
    at: datetime,
    record: Record | None = None,
    seat: tuple[int, bool] = (0, False),
) -> list[Event]:
    """Write `changes` (column -> value; the new `version` among them) to the referral's
    row, the event and webhook messages of each step, `record` and the program's `seat`
    change (free seats added, whether the program counts them: capacity.follow), in one
    statement, if the row is still at the version the referral object holds (the move
    was planned on it); then put the changes onto the object. Returns the events;
    raises `Overtaken` (412) and writes nothing when another move got there first, and
    409 no_seat_available when an enrolment finds no seat left."""
    values: dict[str, Any] = {}
    appended = []
    for i, step in enumerate(steps):
        event_values, event = _event_values(
            referral.id,
            step.version,
            step.side,
            step.principal,
            step.change,
            step.note,
            at,
            prefix=f"e{i}_",
        )
        values |= event_values
        appended.append(event)
    delta, counted = seat
    if delta:
        values |= {"seat_program_id": referral.program_id, "seat_now": at}
        values |= {"seat_counted": counted} if delta < 0 else {}
    row = await _written(
        reader,
        _MOVE(tuple(changes), record is not None, len(steps), delta),
        referral_id=referral.id,
        planned_version=referral.version,
        **column_values(changes),
        **values,
        **_besides(referral, [step.webhook for step in steps], record),
    )
    if row is None:
        raise Overtaken(
            f"The referral changed while this move was being made (it is no longer at "
            f"version {referral.version}); read it again and retry.",
            code="stale_etag",
        )
    for column, value in (*changes.items(), ("updated_at", row["updated_at"])):
        set_committed_value(referral, column, value)
    return appended


@dataclass(frozen=True)
class New:
    """A new referral as `create` writes it: its column values, the object, its first
    event and that event's run-time values (what the response shows is known before the
    insert)."""

    values: Mapping[str, Any]
    referral: Referral
    first: Event
    first_values: Mapping[str, Any]


def planned(values: Mapping[str, Any], principal: Principal) -> New:
    """The new referral of these column values, with its first event (the school's)."""
    first_values, first = _event_values(
        values["id"],
        values["version"],
        Side.school,
        principal,
        (None, values["status"], None),
        None,
        values["sent_at"],
    )
    return New(values, Referral(**values), first, first_values)


@dataclass(frozen=True)
class Created:
    """What the insert did: `written`; else, as its snapshot saw them, the open referral
    of the student to the program it met and whether a request held the key."""

    written: bool
    open_referral: uuid.UUID | None = None
    held: bool = False


async def create(
    reader: Reader,
    new: New,
    webhook: tuple[EventType, Mapping[str, Any]],
    record: Record | None = None,
    claim: Mapping[str, Any] | None = None,
) -> Created:
    """Insert the new referral with its first event, messages, `record` and, with `claim`
    (idempotency.Claim.answer), its Idempotency-Key with the answer, in one statement.
    Nothing is written when the unique index of open referrals refuses it or a request
    holds the key."""
    row = await _written(
        reader,
        _CREATE(record is not None, claim is not None),
        **column_values(new.values),
        **new.first_values,
        **_besides(new.referral, [webhook], record),
        **(claim or {}),
    )
    assert row is not None
    return Created(row["created"], row["open_referral"], bool(claim and row["held"]))
