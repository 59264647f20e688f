"""Granting and revoking consent. Revocation takes effect at once, going forward only."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.audit.service import record
from service.auth import scope
from service.auth.principal import Principal
from service.catalog.models import Organization
from service.consent import rules
from service.consent.models import Consent
from service.consent.pii import seal_signer, signer_name
from service.consent.schemas import ConsentCreate, ConsentOut
from service.errors import Conflict, FieldError, Unprocessable
from service.local_time import today
from service.pagination import PageParams, fetch_page
from service.sealing.keyring import keyring
from service.students.pii import open_student
from service.students.service import get_student


def consent_out(consent: Consent) -> ConsentOut:
    computed = {"state", "signer_name"}
    return ConsentOut.model_validate(
        {
            **{c: getattr(consent, c) for c in ConsentOut.model_fields if c not in computed},
            "state": rules.state(consent, today()),
            "signer_name": signer_name(keyring(), consent),
        }
    )


async def create_consent(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID, body: ConsentCreate
) -> Consent:
    student = await get_student(session, principal, student_id)
    pii = open_student(keyring(), student)
    if pii is None:
        raise Conflict(
            "This student's personal data was purged under the retention rule; "
            "record the student again before asking for consent.",
            code="student_purged",
        )
    refusal = rules.signer_refusal(body.signer, pii.date_of_birth, body.signed_on)
    if refusal is not None:
        raise Unprocessable(
            refusal,
            code="signer_not_entitled",
            errors=[FieldError(loc=["body", "signer"], msg=refusal, type="signer_not_entitled")],
        )
    if body.recipient_organization_ids:
        found = set(
            await session.scalars(
                select(Organization.id).where(Organization.id.in_(body.recipient_organization_ids))
            )
        )
        missing = [o for o in body.recipient_organization_ids if o not in found]
        if missing:
            raise Unprocessable(
                "Some recipient organizations do not exist.",
                code="unknown_reference",
                errors=[
                    FieldError(
                        loc=["body", "recipient_organization_ids", i],
                        msg=f"no organization {o}",
                        type="unknown_reference",
                    )
                    for i, o in enumerate(body.recipient_organization_ids)
                    if o in missing
                ],
            )
    consent = Consent(
        id=uuid.uuid4(),
        student_id=student.id,
        school_id=student.school_id,
        signer=body.signer,
        signature_method=body.signature_method,
        evidence_ref=body.evidence_ref,
        signed_on=body.signed_on,
        purpose=body.purpose,
        recipient_organization_ids=list(body.recipient_organization_ids),
        recipient_categories=[c.value for c in body.recipient_categories],
        data_elements=[e.value for e in body.data_elements],
        expires_on=body.expires_on,
        created_by_key_id=principal.key_id,
    )
    seal_signer(keyring(), consent, body.signer_name)
    session.add(consent)
    await session.flush()
    await record(session, principal, "consent.create", "consent", consent.id, student.id)
    return consent


async def get_consent(
    session: AsyncSession, principal: Principal, consent_id: uuid.UUID, *, for_update: bool = False
) -> Consent:
    return await scope.get_readable(
        session, Consent, consent_id, principal, what="consent", for_update=for_update
    )


async def list_consents(
    session: AsyncSession, principal: Principal, student_id: uuid.UUID, pages: PageParams
) -> tuple[Sequence[Consent], int]:
    await get_student(session, principal, student_id)
    query = select(Consent).where(Consent.student_id == student_id)
    return await fetch_page(session, query, pages, Consent.signed_on.desc(), Consent.id)
