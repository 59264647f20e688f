"""A student's personal fields, sealed together in `students.pii`, and the identity hash.

The identity hash is an HMAC (keyring lookup key) of the school, the normalized name and
the date of birth: equal for the same child at the same school however the name was
typed, unlinkable across schools, and useless without the key.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import asdict, dataclass
from datetime import date

from service.sealing.keyring import Keyring
from service.sealing.records import open_record, seal_record
from service.students.models import Student

TABLE = "students"


@dataclass(frozen=True)
class StudentPII:
    first_name: str
    last_name: str
    date_of_birth: date
    guardian_name: str | None = None
    guardian_phone: str | None = None
    guardian_email: str | None = None


PII_FIELDS = frozenset(StudentPII.__dataclass_fields__)


def _normal(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).casefold().split())


def identity_material(school_id: uuid.UUID, first: str, last: str, born: date) -> bytes:
    parts = ("student-identity-v1", str(school_id), _normal(first), _normal(last), born.isoformat())
    return "\x1f".join(parts).encode()


def identity_digests(
    ring: Keyring, school_id: uuid.UUID, first: str, last: str, born: date
) -> list[bytes]:
    """The identity hash under every key, the active one first."""
    return ring.digests(identity_material(school_id, first, last, born))


def seal_student(ring: Keyring, student: Student, pii: StudentPII) -> None:
    """Store `pii` in the student row (its id and school must be set)."""
    values = {**asdict(pii), "date_of_birth": pii.date_of_birth.isoformat()}
    student.pii_key_id, student.pii = seal_record(ring, TABLE, student.id, values)
    student.identity_hash = ring.digest(
        identity_material(student.school_id, pii.first_name, pii.last_name, pii.date_of_birth)
    )


def open_student(ring: Keyring, student: Student) -> StudentPII | None:
    """The student's personal fields, or None once purged."""
    if student.pii is None or student.pii_key_id is None:
        return None
    values = open_record(ring, TABLE, student.id, student.pii_key_id, student.pii)
    values["date_of_birth"] = date.fromisoformat(values["date_of_birth"])
    return StudentPII(**values)
