"""What a move writes, as statements compiled once and run on the session's connection
(service/reader.py): the referral row's new state, and the event appended to its
timeline. Through the unit of work a move (with its webhook messages) cost 1.3-3.0 ms
of Python (dirty-state tracking, an UPDATE ... RETURNING built per flush, an INSERT
with its own); this way about 0.8 ms (measured in process).

The referral object (transient, service/hydrate.py; or one a system job loaded) takes
the new values without history, so no flush writes them again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql import Update

from service.auth.principal import Principal
from service.reader import (
    Prepared,
    Reader,
    column_params,
    column_values,
    compile_statement,
    param,
)
from service.referrals.models import Referral, ReferralEvent
from service.referrals.states import Reason, Side, Status
from service.referrals.views import Event

_REFERRALS = Referral.__table__
_EVENTS = ReferralEvent.__table__


def _moved(columns: tuple[str, ...]) -> Update:
    """UPDATE of these columns and updated_at, by id."""
    return (
        update(Referral)
        .where(_REFERRALS.c.id == param("referral_id", _REFERRALS.c.id.type))
        .values(**column_params(_REFERRALS, columns), updated_at=func.now())
        .returning(_REFERRALS.c.updated_at)
    )


_MOVED = Prepared(_moved)
_EVENT_COLUMNS = tuple(c.name for c in _EVENTS.c if c.name != "id")
_EVENT = compile_statement(insert(ReferralEvent).values(**column_params(_EVENTS, _EVENT_COLUMNS)))


async def save(session: AsyncSession, referral: Referral, changes: dict[str, Any]) -> None:
    """Write `changes` (column -> value) to the referral's row, then onto the object."""
    row = await Reader(session=session).fetchrow(
        _MOVED(tuple(changes)), referral_id=referral.id, **column_values(changes)
    )
    assert row is not None, "the referral row is locked by this transaction"
    for column, value in (*changes.items(), ("updated_at", row["updated_at"])):
        set_committed_value(referral, column, value)


async def append_event(
    session: AsyncSession,
    referral_id: uuid.UUID,
    version: int,
    side: Side,
    principal: Principal | None,
    from_status: Status | None,
    to_status: Status,
    reason: Reason | None,
    note: str | None,
    at: datetime,
) -> Event:
    """The timeline's next event (the referral's `version` after it)."""
    event: dict[str, Any] = {
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
    await Reader(session=session).fetch(_EVENT, **column_values(event))
    return Event(
        occurred_at=at,
        version=version,
        side=side,
        actor_organization_id=event["actor_organization_id"],
        actor_name=event["actor_name"],
        from_status=from_status,
        to_status=to_status,
        reason=reason,
        note=note,
    )
