"""Student records, owned by a school organization.

Only the owning school and admins read a student; providers see the parts a consent
lets the school disclose, through the referral (referrals/views.py).

Name, date of birth and guardian contact are never stored in clear: they are sealed
together in `pii` (students/pii.py), and found again through `identity_hash`, a keyed
hash of the school, name and date of birth. `purge` erases them and keeps the rest.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, Timestamped, Versioned, enum_column
from service.students.enums import Gender, Relationship


class Student(Versioned, Timestamped, Base):
    __tablename__ = "students"
    __table_args__ = (
        UniqueConstraint("school_id", "student_number"),
        CheckConstraint("grade BETWEEN -1 AND 12", name="grade"),
        CheckConstraint("(pii IS NULL) = (pii_key_id IS NULL)", name="pii_has_key"),
        CheckConstraint("(pii IS NULL) = (pii_purged_at IS NOT NULL)", name="pii_or_purged"),
        Index(
            "uq_students_school_identity",
            "school_id",
            "identity_hash",
            unique=True,
            postgresql_where="identity_hash IS NOT NULL",
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    school_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    student_number: Mapped[str] = mapped_column(String(64), comment="The school's student id")
    pii: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="AES-GCM: name, date of birth, guardian name, phone, email"
    )
    pii_key_id: Mapped[str | None] = mapped_column(String(32), comment="Key that sealed pii")
    identity_hash: Mapped[bytes | None] = mapped_column(
        LargeBinary(32), comment="HMAC of school, name and date of birth: duplicates, lookups"
    )
    pii_purged_at: Mapped[datetime | None] = mapped_column(comment="When purge erased the PII")
    grade: Mapped[int] = mapped_column(SmallInteger, comment="PK = -1, K = 0, 1..12")
    guardian_relationship: Mapped[Relationship | None] = mapped_column(enum_column(Relationship))
    preferred_language: Mapped[str | None] = mapped_column(String(3), comment="ISO 639")
    home_tract: Mapped[str | None] = mapped_column(String(20), comment="Census tract GEOID")
    # Optional demographics, for equity measurement only.
    races: Mapped[list[str] | None] = mapped_column(ARRAY(String(60)))
    hispanic_latino: Mapped[bool | None] = mapped_column(Boolean)
    gender: Mapped[Gender | None] = mapped_column(enum_column(Gender))
    home_language: Mapped[str | None] = mapped_column(String(3), comment="ISO 639")
    english_learner: Mapped[bool | None] = mapped_column(Boolean)
    iep: Mapped[bool | None] = mapped_column(Boolean, comment="Has an IEP")
    section_504: Mapped[bool | None] = mapped_column(Boolean, comment="Has a Section 504 plan")
