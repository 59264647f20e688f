"""Student API contract. Only the owning school and admins ever receive a StudentOut."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import EmailStr, Field, StringConstraints, model_validator

from service.catalog.enums import Grade
from service.catalog.schemas import LanguageCode
from service.local_time import today as local_today
from service.schema_types import NO_NUL, Day, Flag, Num, OutSchema, Phone, Schema
from service.students.enums import Gender, Race, Relationship

PersonName = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
StudentNumber = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$"),
    Field(description="The school's own student id; unique within the school"),
]
TractGeoid = Annotated[str, StringConstraints(max_length=11, pattern=r"^[0-9]{11}$")]


class HomePoint(Schema):
    """Where the student lives, used once to find the census tract and never stored."""

    latitude: Num = Field(ge=-90, le=90)
    longitude: Num = Field(ge=-180, le=180)


class StudentFields(Schema):
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    date_of_birth: Day | None = None
    grade: Grade | None = None
    guardian_name: Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)] | None = None
    guardian_relationship: Relationship | None = None
    guardian_phone: Phone | None = None
    guardian_email: EmailStr | None = Field(default=None, max_length=320)
    preferred_language: LanguageCode | None = None
    home_tract: TractGeoid | None = Field(
        default=None, description="Census tract GEOID of the student's home"
    )
    home_location: HomePoint | None = Field(
        default=None,
        description="Alternative to home_tract: a point of the home address; the API keeps "
        "only the tract containing it.",
    )
    races: list[Race] | None = Field(
        default=None, max_length=5, description="Federal race categories; several allowed"
    )
    hispanic_latino: Flag | None = Field(default=None, description="Asked separately from race")
    gender: Gender | None = None
    home_language: LanguageCode | None = None
    english_learner: Flag | None = None
    iep: Flag | None = Field(default=None, description="Has an Individualized Education Program")
    section_504: Flag | None = Field(default=None, description="Has a Section 504 plan")

    @model_validator(mode="after")
    def _one_home(self) -> StudentFields:
        if self.home_tract is not None and self.home_location is not None:
            raise ValueError("give home_tract or home_location, not both")
        if self.date_of_birth is not None and self.date_of_birth > local_today():
            raise ValueError("date_of_birth is in the future")
        if self.races is not None and len(set(self.races)) != len(self.races):
            raise ValueError("races lists a category twice")
        return self


class StudentCreate(StudentFields):
    school_id: uuid.UUID | None = Field(
        default=None, description="The owning school; school keys may leave it out (their own)"
    )
    student_number: StudentNumber
    first_name: PersonName
    last_name: PersonName
    date_of_birth: Day
    grade: Grade


class StudentUpdate(StudentFields):
    """Only the fields present change; null clears an optional field."""


class StudentLookup(Schema):
    """Find a student by name and date of birth (sent in a body, never in a URL)."""

    school_id: uuid.UUID | None = Field(
        default=None, description="The school to look in; school keys may leave it out (their own)"
    )
    first_name: PersonName
    last_name: PersonName
    date_of_birth: Day


class StudentOut(OutSchema):
    id: uuid.UUID
    school_id: uuid.UUID
    student_number: str
    first_name: str | None = Field(description="null once purged under the retention rule")
    last_name: str | None
    date_of_birth: date | None
    grade: Grade
    guardian_name: str | None
    guardian_relationship: Relationship | None
    guardian_phone: str | None
    guardian_email: str | None
    preferred_language: str | None
    home_tract: str | None
    races: list[Race] | None
    hispanic_latino: bool | None
    gender: Gender | None
    home_language: str | None
    english_learner: bool | None
    iep: bool | None
    section_504: bool | None
    pii_purged_at: datetime | None = Field(
        description="When the name, birth date and guardian contact were erased (retention)"
    )
    created_at: datetime
    updated_at: datetime
    version: int
