"""Student records, owned by a school organization.

Only the owning school and admins read a student; providers see the parts a consent
lets the school disclose, through the referral (referrals/views.py).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
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
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    school_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), index=True
    )
    student_number: Mapped[str] = mapped_column(String(64), comment="The school's student id")
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    date_of_birth: Mapped[date]
    grade: Mapped[int] = mapped_column(SmallInteger, comment="PK = -1, K = 0, 1..12")
    guardian_name: Mapped[str | None] = mapped_column(String(200))
    guardian_relationship: Mapped[Relationship | None] = mapped_column(enum_column(Relationship))
    guardian_phone: Mapped[str | None] = mapped_column(String(40))
    guardian_email: Mapped[str | None] = mapped_column(String(320))
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
