"""Revoking a consent, and what it does to the referrals made under it.

This lives with referrals, not with consent: revoking cancels open referrals, so it
depends on both, while consent itself knows nothing of referrals (the packages' imports
point one way). The route keeps its place in the consents API (tag, path, operation id).
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth.principal import Principal, require_roles
from service.auth.roles import Role
from service.consent.models import Consent
from service.consent.schemas import ConsentOut, ConsentRevoke
from service.consent.service import consent_out, get_consent
from service.db import SessionDep, rfc3339, utcnow
from service.errors import Conflict, problem_responses
from service.referrals.consent_end import announce, close_referrals
from service.referrals.states import Reason
from service.webhooks.events import EventType

router = APIRouter(tags=["consents"])
SchoolStaff = Annotated[Principal, require_roles(Role.school, Role.admin)]


async def revoke_consent(
    session: AsyncSession, principal: Principal, consent_id: uuid.UUID, body: ConsentRevoke
) -> Consent:
    """Revoke now: open referrals under the consent are cancelled (consent_revoked), the
    provider stops seeing the student's records on every referral under it, and the school
    and providers are told by webhook (consent_end.py). What was disclosed before stays
    disclosed."""
    consent = await get_consent(session, principal, consent_id, for_update=True)
    if consent.revoked_at is not None:
        raise Conflict(
            f"This consent was already revoked at {consent.revoked_at.isoformat()}.",
            code="already_revoked",
        )
    consent.revoked_at = utcnow()
    consent.revoked_by_key_id = principal.key_id
    consent.revoked_by_organization_id = principal.organization_id
    consent.revocation_note = body.note
    await session.flush()
    ended = await close_referrals(session, consent, Reason.consent_revoked)
    await record(session, principal, "consent.revoke", "consent", consent.id, consent.student_id)
    when = {"revoked_at": rfc3339(consent.revoked_at)}
    await announce(session, consent, EventType.consent_revoked, when, ended)
    return consent


@router.post(
    "/consents/{consent_id}/revoke",
    operation_id="consents_revoke",
    summary="Revoke a consent, at once and going forward",
    description="Open referrals under the consent are cancelled (consent_revoked); providers "
    "stop seeing the student's records on every referral under it; the school and the "
    "providers get consent.revoked and referral.status_changed webhooks.",
    responses=problem_responses(401, 403, 404, 409),
)
async def consents_revoke(
    session: SessionDep, principal: SchoolStaff, consent_id: uuid.UUID, body: ConsentRevoke
) -> ConsentOut:
    return consent_out(await revoke_consent(session, principal, consent_id, body))
