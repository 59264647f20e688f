"""Referrals and their immutable timeline."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, Timestamped, Versioned, enum_column
from service.referrals.enums import MessageKind, Need, Urgency
from service.referrals.states import OPEN, Reason, Side, Status

_OPEN_SQL = ", ".join(f"'{s.value}'" for s in sorted(OPEN))


class Referral(Versioned, Timestamped, Base):
    """A school's referral of a student to a program, followed until its loop closes."""

    __tablename__ = "referrals"
    __table_args__ = (
        # At most one open referral per student and program; the database enforces it, so
        # two counselors clicking at once cannot both create one.
        Index(
            "uq_referrals_open_student_program",
            "student_id",
            "program_id",
            unique=True,
            postgresql_where=text(f"status IN ({_OPEN_SQL})"),
        ),
        Index("ix_referrals_provider_status", "provider_id", "status"),
        Index("ix_referrals_school_status", "school_id", "status"),
        Index(
            "ix_referrals_open_sent_at",
            "sent_at",
            postgresql_where=text(f"status IN ({_OPEN_SQL})"),
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    student_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("students.id", ondelete="RESTRICT"), index=True
    )
    consent_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consents.id", ondelete="RESTRICT"), index=True
    )
    school_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    program_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("programs.id", ondelete="RESTRICT"), index=True
    )
    provider_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT")
    )
    need: Mapped[Need] = mapped_column(enum_column(Need))
    need_text: Mapped[str | None] = mapped_column(Text)
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency))
    shared_elements: Mapped[list[str]] = mapped_column(
        ARRAY(String(40)), comment="Data elements the school sends (within the consent)"
    )
    status: Mapped[Status] = mapped_column(enum_column(Status))
    status_reason: Mapped[Reason | None] = mapped_column(enum_column(Reason))
    sent_at: Mapped[datetime]
    received_at: Mapped[datetime | None]
    responded_at: Mapped[datetime | None] = mapped_column(comment="Accepted or declined")
    contacted_at: Mapped[datetime | None]
    enrolled_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    response_due_at: Mapped[datetime]
    contact_due_at: Mapped[datetime]
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    waitlisted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    seat_held: Mapped[bool] = mapped_column(
        Boolean,
        default=False,
        server_default="false",
        comment="Enrolled into one of the program's counted seats",
    )


class ReferralEvent(Base):
    """One transition of a referral. Rows are never changed or deleted (a trigger refuses)."""

    __tablename__ = "referral_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("referrals.id", ondelete="RESTRICT"), index=True
    )
    occurred_at: Mapped[datetime]
    side: Mapped[Side] = mapped_column(enum_column(Side))
    actor_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_subject: Mapped[str | None] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer, comment="The referral's version after it")
    from_status: Mapped[Status | None] = mapped_column(enum_column(Status, "from_status"))
    to_status: Mapped[Status] = mapped_column(enum_column(Status, "to_status"))
    reason: Mapped[Reason | None] = mapped_column(enum_column(Reason))
    note: Mapped[str | None] = mapped_column(Text)


class ReferralMessage(Base):
    """A message on a referral, from the school or the provider. The text and attachment
    link are sealed (`pii`, like a student's personal fields) and erased by the purge."""

    __tablename__ = "referral_messages"
    __table_args__ = (
        CheckConstraint("(pii IS NULL) = (pii_key_id IS NULL)", name="pii_has_key"),
        CheckConstraint(
            "(kind = 'information_response') = (in_reply_to IS NOT NULL)", name="reply_answers"
        ),
        Index("ix_referral_messages_referral_posted", "referral_id", "posted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    referral_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("referrals.id", ondelete="RESTRICT"))
    posted_at: Mapped[datetime]
    side: Mapped[Side] = mapped_column(enum_column(Side))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    in_reply_to: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("referral_messages.id", ondelete="RESTRICT")
    )
    answered_at: Mapped[datetime | None]
    referral_version: Mapped[int] = mapped_column(Integer)
    pii: Mapped[bytes | None] = mapped_column(LargeBinary, comment="AES-GCM: text and attachment")
    pii_key_id: Mapped[str | None] = mapped_column(String(32))
    purged_at: Mapped[datetime | None]
    actor_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_subject: Mapped[str | None] = mapped_column(String(255))
    actor_name: Mapped[str | None] = mapped_column(String(200))
