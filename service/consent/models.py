"""FERPA consent records (34 CFR 99.30): who may receive which records, for what, until when."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String, Text, Uuid
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from service.consent.enums import SignatureMethod, Signer
from service.db import Base, Timestamped, enum_column


class Consent(Timestamped, Base):
    """A signed consent to disclose a student's records. Never edited: it is revoked."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(
            "cardinality(recipient_organization_ids) + cardinality(recipient_categories) > 0",
            name="has_recipients",
        ),
        CheckConstraint("cardinality(data_elements) > 0", name="has_data_elements"),
        CheckConstraint("expires_on > signed_on", name="expires_after_signed"),
        CheckConstraint(
            "(revoked_at IS NULL) = (revoked_by_key_id IS NULL)", name="revocation_has_actor"
        ),
        CheckConstraint("(pii IS NULL) = (pii_key_id IS NULL)", name="pii_has_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("students.id", ondelete="RESTRICT"), index=True
    )
    school_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    signer: Mapped[Signer] = mapped_column(enum_column(Signer))
    pii: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="AES-GCM: the signer's name (null once purged)"
    )
    pii_key_id: Mapped[str | None] = mapped_column(String(32), comment="Key that sealed pii")
    signature_method: Mapped[SignatureMethod] = mapped_column(enum_column(SignatureMethod))
    evidence_ref: Mapped[str] = mapped_column(
        String(500), comment="Where the signed form or e-signature record is kept"
    )
    signed_on: Mapped[date]
    purpose: Mapped[str] = mapped_column(Text)
    recipient_organization_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid))
    recipient_categories: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), comment="Program categories: a class of parties"
    )
    data_elements: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    expires_on: Mapped[date]
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    revoked_at: Mapped[datetime | None]
    revoked_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    revoked_by_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    revocation_note: Mapped[str | None] = mapped_column(Text)
    lapsed_at: Mapped[datetime | None] = mapped_column(
        comment="When the worker handled this consent's expiry"
    )
