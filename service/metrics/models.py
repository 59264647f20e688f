"""Referral metrics' columnar source: one narrow row per referral and per student.

Triggers (migration 0005m) keep these tables in the same transaction as every write to
referrals, students and programs, so they are never behind. Text values (organization ids,
categories, statuses, genders, races, languages, tracts) are stored as small integer codes
from `metrics_codes`; 0 stands for NULL. Missing times are 'infinity' and missing
durations 'NaN', so every column is fixed-width and NOT NULL (read back by binary COPY).
No name, date of birth or other identifying value is copied here.

Every row records the transaction that last wrote it (`written_by`, its 64-bit id), so a
reader holding the rows as of a snapshot can fetch exactly what changed since: the rows
whose writer that snapshot does not see. Deletions are logged in metrics_deletions.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Double,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class MetricsCode(Base):
    """A text value's code, per kind (organization, category, status, gender, race,
    language, tract). Codes are only ever added."""

    __tablename__ = "metrics_codes"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    code: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(Text)


WRITER = text("(pg_current_xact_id())::text::bigint")


class MetricsStudent(Base):
    """A student's demographics as codes, under a small integer key."""

    __tablename__ = "metrics_students"

    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    student_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    grade: Mapped[int] = mapped_column(SmallInteger)
    gender: Mapped[int] = mapped_column(Integer)
    hispanic_latino: Mapped[int] = mapped_column(SmallInteger, comment="0 null, 1 yes, 2 no")
    race_count: Mapped[int] = mapped_column(SmallInteger)
    first_race: Mapped[int] = mapped_column(Integer)
    home_language: Mapped[int] = mapped_column(Integer)
    english_learner: Mapped[int] = mapped_column(SmallInteger, comment="0 null, 1 yes, 2 no")
    home_tract: Mapped[int] = mapped_column(Integer)
    written_by: Mapped[int] = mapped_column(BigInteger, index=True, server_default=WRITER)


class ReferralFact(Base):
    """One referral, as the metrics read it."""

    __tablename__ = "referral_facts"

    key: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    referral_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    student_key: Mapped[int] = mapped_column(Integer)
    provider: Mapped[int] = mapped_column(Integer)
    school: Mapped[int] = mapped_column(Integer)
    category: Mapped[int] = mapped_column(Integer)
    status: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime]
    closed_at: Mapped[datetime]
    response_due_at: Mapped[datetime]
    contact_due_at: Mapped[datetime]
    days_to_first_response: Mapped[float] = mapped_column(Double)
    days_to_contact: Mapped[float] = mapped_column(Double)
    days_to_enrollment: Mapped[float] = mapped_column(Double)
    written_by: Mapped[int] = mapped_column(BigInteger, index=True, server_default=WRITER)


class MetricsDeletion(Base):
    """A statement that deleted (or truncated) referral_facts or metrics_students rows:
    readers holding rows from before it load everything again."""

    __tablename__ = "metrics_deletions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    written_by: Mapped[int] = mapped_column(BigInteger, index=True, server_default=WRITER)
