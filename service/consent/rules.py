"""What a consent allows: pure functions over a consent and a date (no I/O)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date

from dateutil.relativedelta import relativedelta

from service.consent.enums import DataElement, Signer
from service.consent.models import Consent
from service.consent.schemas import ConsentState

AGE_OF_MAJORITY = 18


def is_eligible_student(date_of_birth: date, on: date) -> bool:
    """FERPA rights pass to the student at 18 (34 CFR 99.3, 'eligible student')."""
    return relativedelta(on, date_of_birth).years >= AGE_OF_MAJORITY


def signer_refusal(signer: Signer, date_of_birth: date, signed_on: date) -> str | None:
    """Why `signer` cannot sign for this student on `signed_on`, or None."""
    eligible = is_eligible_student(date_of_birth, signed_on)
    if eligible and signer is Signer.guardian:
        return "The student was 18 or older on signed_on: only the student can consent."
    if not eligible and signer is Signer.student:
        return "The student was under 18 on signed_on: a parent or guardian must consent."
    return None


def state(consent: Consent, today: date) -> ConsentState:
    if consent.revoked_at is not None:
        return ConsentState.revoked
    if today < consent.signed_on:
        return ConsentState.not_yet_valid
    if today > consent.expires_on:
        return ConsentState.expired
    return ConsentState.active


def covers(
    consent: Consent,
    organization_id: uuid.UUID,
    category: str,
    elements: Iterable[DataElement],
    today: date,
) -> bool:
    """Whether `consent` lets the school send `elements` to this organization today."""
    recipient = (
        organization_id in consent.recipient_organization_ids
        or category in consent.recipient_categories
    )
    allowed = set(consent.data_elements)
    return (
        state(consent, today) is ConsentState.active
        and recipient
        and all(e.value in allowed for e in elements)
    )
