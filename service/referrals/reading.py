"""Reading referrals, one statement each: a referral with its student, consent, program
and school names and its whole timeline; the provider inbox and school outbox, a page
with its count.

Reads write nothing, with one exception in the open: `read_recorded`, the read behind
GET /referrals/{id}, writes the audit entry of that read in the same statement (a
data-modifying WITH), on the reads pool without a transaction of its own. The other
write a read causes, the move to received on the provider's first read, is
service.receive_on_first_read, which the handler calls after it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ColumnElement, Select, Uuid, and_, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSON, aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import actor_values, recorded_with
from service.auth import scope
from service.auth.principal import Principal
from service.auth.roles import Role
from service.catalog.models import Organization, Program
from service.consent.models import Consent
from service.db import utcnow
from service.errors import NotFound
from service.hydrate import Columns
from service.pagination import PageParams, counted_page
from service.reader import Prepared, Reader, param
from service.referrals.models import Referral, ReferralEvent, ReferralMessage
from service.referrals.states import AWAITING_RESPONSE, Side, Status
from service.referrals.views import Event, Message, ReferralRows
from service.students.models import Student


def not_found(referral_id: uuid.UUID) -> NotFound:
    return NotFound(f"No referral with id {referral_id} is visible to you.")


def side_of(principal: Principal, referral: Referral) -> Side | None:
    """The side the caller acts for on this referral (None: an admin, or no side)."""
    if principal.role is Role.school and principal.organization_id == referral.school_id:
        return Side.school
    if principal.role is Role.provider and principal.organization_id == referral.provider_id:
        return Side.provider
    return None


_TIMELINE = TypeAdapter(list[Event])
_EVENT_FIELDS = tuple(Event.__dataclass_fields__)


def _timeline() -> Any:
    """The referral's events in order, as a JSON array (correlated on referrals.id): by
    the version each left, which one statement that writes two events (a provider's
    first answer, service.moves) numbers in order, whatever order it inserts them in."""
    e = ReferralEvent.__table__.c
    pairs = [part for name in _EVENT_FIELDS for part in (literal(name), e[name])]
    order = aggregate_order_by(func.json_build_object(*pairs), e.version, e.id)
    events = func.json_agg(order, type_=JSON)
    return (
        select(func.coalesce(events, literal("[]", JSON), type_=JSON))
        .where(e.referral_id == Referral.id)
        .scalar_subquery()
    )


_MESSAGES = TypeAdapter(list[Message])
_MESSAGE_COLUMNS = tuple(n for n in Message.__dataclass_fields__ if n != "sealed")


def _messages() -> Any:
    """The referral's messages in posting order, as a JSON array; the sealed text and
    attachment as base64 (`sealed`), opened later only for a viewer who may read them."""
    m = ReferralMessage.__table__.c
    pairs: list[Any] = [part for name in _MESSAGE_COLUMNS for part in (literal(name), m[name])]
    pairs += [literal("sealed"), func.encode(m.pii, literal("base64"))]
    ordered = aggregate_order_by(func.json_build_object(*pairs), m.posted_at, m.id)
    return (
        select(func.coalesce(func.json_agg(ordered, type_=JSON), literal("[]", JSON), type_=JSON))
        .where(m.referral_id == Referral.id)
        .scalar_subquery()
    )


REFERRAL = Columns(Referral, "r_")
STUDENT = Columns(Student, "s_")
CONSENT = Columns(Consent, "c_")


@cache
def _with_parts() -> Select[Any]:
    """Built once: constructing it (two JSON aggregates of a dozen pairs each) cost more
    Python than running it."""
    return (
        select(
            *REFERRAL.labeled,
            *STUDENT.labeled,
            *CONSENT.labeled,
            Program.name.label("program_name"),
            Program.seats_available.label("program_seats"),
            Organization.name.label("school_name"),
            _timeline().label("timeline"),
            _messages().label("messages"),
        )
        .select_from(Referral)
        .join(Student, Student.id == Referral.student_id)
        .join(Consent, Consent.id == Referral.consent_id)
        .join(Program, Program.id == Referral.program_id)
        .join(Organization, Organization.id == Referral.school_id)
    )


def _parsed(adapter: TypeAdapter[Any], value: Any) -> Any:
    return (
        adapter.validate_json(value)
        if isinstance(value, str | bytes)
        else adapter.validate_python(value)
    )


def _rows(row: Mapping[str, Any], *, on_driver: bool) -> ReferralRows:
    """The parts of a referral from one row of `_with_parts()`: a driver row (values as
    asyncpg gives them) or a SQLAlchemy result row (already converted)."""
    load = Columns.load if on_driver else Columns.load_processed
    return ReferralRows(
        referral=load(REFERRAL, row),
        student=load(STUDENT, row),
        consent=load(CONSENT, row),
        program_name=row["program_name"],
        program_seats=row["program_seats"],
        school_name=row["school_name"],
        events=_parsed(_TIMELINE, row["timeline"]),
        messages=_parsed(_MESSAGES, row["messages"]),
    )


def _visible(shape: Principal) -> tuple[ColumnElement[bool], ...]:
    return (Referral.id == param("referral_id", Uuid), scope.readable(Referral, shape))


# Compiled once per scope shape (service/reader.py).
_ONE = Prepared(lambda shape: _with_parts().where(*_visible(shape)))


def _read_recorded(shape: Principal) -> Select[Any]:
    read = _with_parts().where(*_visible(shape)).cte("read")
    audited = recorded_with("referral.read", "referral", read.c.r_id, read.c.r_student_id)
    return select(read).add_cte(audited.cte("audited"))


_READ_RECORDED = Prepared(_read_recorded)


async def read_recorded(
    reader: Reader, principal: Principal, referral_id: uuid.UUID
) -> ReferralRows:
    """A referral the principal may read, with its parts, and its audit entry (who read
    which student's referral) written by the same statement: one round trip, on the
    reads pool (autocommit: the entry commits with the read) or in a session; 404 when
    it is not visible, and then nothing is recorded."""
    row = await reader.fetchrow(
        _READ_RECORDED(scope.shape(principal)),
        referral_id=referral_id,
        **actor_values(principal),
    )
    if row is None:
        raise not_found(referral_id)
    return _rows(row, on_driver=True)


async def one(reader: Reader, principal: Principal, referral_id: uuid.UUID) -> ReferralRows:
    """A referral the principal may read, with its parts (one statement); 404 otherwise.
    Its objects are transient (service/hydrate.py): a move writes them by statement,
    guarded by the version read here (service.move, writes.py)."""
    row = await reader.fetchrow(_ONE(scope.shape(principal)), referral_id=referral_id)
    if row is None:
        raise not_found(referral_id)
    return _rows(row, on_driver=True)


@dataclass(frozen=True)
class ListFilter:
    statuses: Sequence[Status] = ()
    overdue: bool | None = None


def _filtered(query: Select[Any], f: ListFilter) -> Select[Any]:
    if f.statuses:
        query = query.where(Referral.status.in_(f.statuses))
    if f.overdue is not None:
        now = utcnow()
        late = or_(
            and_(Referral.status.in_(AWAITING_RESPONSE), Referral.response_due_at < now),
            and_(Referral.status == Status.accepted, Referral.contact_due_at < now),
        )
        query = query.where(late if f.overdue else ~late)
    return query


async def list_referrals(
    session: AsyncSession, principal: Principal, side: Side, f: ListFilter, pages: PageParams
) -> tuple[list[ReferralRows], int]:
    """A provider's inbox (side=provider) or a school's outbox (side=school), newest first."""
    column = Referral.provider_id if side is Side.provider else Referral.school_id
    query = _filtered(_with_parts(), f)
    if not principal.is_admin:
        query = query.where(column == principal.organization_id)
    found, total = await counted_page(session, query, pages, Referral.sent_at.desc(), Referral.id)
    return [_rows(row._mapping, on_driver=False) for row in found], total
