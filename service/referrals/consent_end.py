"""When a consent ends, revoked by the school or expired by date, the referrals under it
end the same way.

Every open referral under the consent is cancelled by the system (`consent_revoked` or
`consent_expired`), with an event and a `referral.status_changed` webhook to both sides;
then one `consent.revoked` or `consent.expired` webhook goes to the school and to each
provider that had a referral under the consent, naming the referrals it concerns (a
provider is told only of its own, and never the consent id, which it does not see).

Revocation happens in the school's request (referrals/revocation.py); expiry by the
worker (`lapse_expired`), in batches, each consent once (`consents.lapsed_at`). What a
provider still sees of those referrals afterwards is the FERPA decision in views.py.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.consent.models import Consent
from service.db import utcnow
from service.local_time import today
from service.reader import Reader
from service.referrals.models import Referral
from service.referrals.service import move
from service.referrals.states import OPEN, Reason, Side, Status
from service.webhooks.events import EventType
from service.webhooks.service import emit

BATCH = 200


@dataclass
class Ended:
    """The referrals under an ended consent, by provider; which of them were cancelled."""

    by_provider: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    cancelled: set[uuid.UUID] = field(default_factory=set)


async def close_referrals(session: AsyncSession, consent: Consent, reason: Reason) -> Ended:
    """Cancel (system, `reason`) every open referral under `consent`, locked in id order."""
    referrals = (
        await session.scalars(
            select(Referral)
            .where(Referral.consent_id == consent.id)
            .order_by(Referral.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).all()
    by_provider: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    ended = Ended()
    on = Reader(session=session)
    for referral in referrals:
        by_provider[referral.provider_id].append(referral.id)
        if referral.status in OPEN:
            await move(on, referral, Status.cancelled, Side.system, None, reason)
            ended.cancelled.add(referral.id)
    ended.by_provider = dict(by_provider)
    return ended


async def announce(
    session: AsyncSession, consent: Consent, event: EventType, when: dict[str, str], ended: Ended
) -> None:
    """`event` to the school (every referral, the consent id) and to each provider (its
    own referrals only)."""

    def listed(ids: list[uuid.UUID]) -> dict[str, list[str]]:
        ordered = sorted(ids)
        return {
            "referral_ids": [str(i) for i in ordered],
            "cancelled_referral_ids": [str(i) for i in ordered if i in ended.cancelled],
        }

    every = [i for ids in ended.by_provider.values() for i in ids]
    school = {"consent_id": str(consent.id), "student_id": str(consent.student_id)}
    await emit(session, event, [consent.school_id], {**school, **when, **listed(every)})
    for provider, ids in sorted(ended.by_provider.items()):
        await emit(session, event, [provider], {**when, **listed(ids)})


async def lapse_expired(session: AsyncSession, on: date | None = None) -> int:
    """End (consent_expired) a batch of consents past their expiry date that no one has
    handled yet; return how many. Dates are the partnership's (local_time)."""
    consents = (
        await session.scalars(
            select(Consent)
            .where(
                Consent.expires_on < (on or today()),
                Consent.revoked_at.is_(None),
                Consent.lapsed_at.is_(None),
            )
            .order_by(Consent.expires_on, Consent.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for consent in consents:
        ended = await close_referrals(session, consent, Reason.consent_expired)
        consent.lapsed_at = utcnow()
        when = {"expired_on": consent.expires_on.isoformat()}
        await announce(session, consent, EventType.consent_expired, when, ended)
    await session.flush()
    return len(consents)
