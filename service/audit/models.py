"""The audit trail: who read student PII, and who changed anything, when."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_student", "student_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(server_default=func.now())
    actor_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    actor_organization_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    actor_subject: Mapped[str | None] = mapped_column(
        String(255), comment="The person: OpenID Connect issuer and subject"
    )
    actor_name: Mapped[str | None] = mapped_column(String(200), comment="The person's name")
    action: Mapped[str] = mapped_column(String(60), comment="e.g. student.read, referral.create")
    subject_type: Mapped[str] = mapped_column(String(40))
    subject_id: Mapped[str] = mapped_column(String(64))
    student_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
