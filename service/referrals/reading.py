"""Reading referrals: one with its timeline (the provider's first read marks it received),
and the provider inbox and school outbox with their filters."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal
from service.catalog.models import Organization, Program
from service.consent.models import Consent
from service.db import utcnow
from service.pagination import PageParams, fetch_page
from service.referrals.models import Referral, ReferralEvent
from service.referrals.service import locked, move, not_found, side_of, visible
from service.referrals.states import AWAITING_RESPONSE, Side, Status
from service.referrals.views import ReferralRows
from service.students.models import Student


async def _names(
    session: AsyncSession, model: type[Program] | type[Organization], ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(select(model.id, model.name).where(model.id.in_(ids)))
    return {ident: name for ident, name in rows.all()}


async def rows_of(session: AsyncSession, referrals: Sequence[Referral]) -> list[ReferralRows]:
    """Each referral with its student, consent, program and school names, and timeline."""
    if not referrals:
        return []
    ids = [r.id for r in referrals]
    students = {
        s.id: s
        for s in await session.scalars(
            select(Student).where(Student.id.in_({r.student_id for r in referrals}))
        )
    }
    consents = {
        c.id: c
        for c in await session.scalars(
            select(Consent).where(Consent.id.in_({r.consent_id for r in referrals}))
        )
    }
    programs = await _names(session, Program, {r.program_id for r in referrals})
    schools = await _names(session, Organization, {r.school_id for r in referrals})
    events: dict[uuid.UUID, list[ReferralEvent]] = {i: [] for i in ids}
    for event in await session.scalars(
        select(ReferralEvent).where(ReferralEvent.referral_id.in_(ids)).order_by(ReferralEvent.id)
    ):
        events[event.referral_id].append(event)
    return [
        ReferralRows(
            referral=r,
            student=students[r.student_id],
            consent=consents[r.consent_id],
            program_name=programs[r.program_id],
            school_name=schools[r.school_id],
            events=events[r.id],
        )
        for r in referrals
    ]


async def open_referral(
    session: AsyncSession, principal: Principal, referral_id: uuid.UUID
) -> ReferralRows:
    """Read a referral; the provider's first read marks it received."""
    referral = await session.scalar(
        select(Referral).where(Referral.id == referral_id, visible(principal))
    )
    if referral is None:
        raise not_found(referral_id)
    if side_of(principal, referral) is Side.provider and referral.status is Status.sent:
        referral = await locked(session, principal, referral_id)
        if referral.status is Status.sent:
            await move(session, referral, Status.received, Side.system, principal)
    record(session, principal, "referral.read", "referral", referral.id, referral.student_id)
    return (await rows_of(session, [referral]))[0]


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
    query = select(Referral)
    if not principal.is_admin:
        query = query.where(column == principal.organization_id)
    rows, total = await fetch_page(
        session, _filtered(query, f), pages, Referral.sent_at.desc(), Referral.id
    )
    for referral in rows:
        record(session, principal, "referral.read", "referral", referral.id, referral.student_id)
    return await rows_of(session, rows), total
