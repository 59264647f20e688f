"""Catalog API contract (pydantic v2). ORM models live in models.py."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    EmailStr,
    Field,
    Strict,
    StringConstraints,
    field_validator,
    model_validator,
)

from service.catalog import languages
from service.catalog.enums import (
    Accessibility,
    Category,
    CostPeriod,
    EnrollmentStatus,
    Frequency,
    Grade,
    OrganizationType,
    ProgramStatus,
    Season,
)
from service.catalog.schedules import parse_byday
from service.schema_types import (
    NO_NUL,
    ClockTime,
    Day,
    Flag,
    Int,
    LocalTimeOut,
    LongText,
    Name,
    Num,
    OutSchema,
    Phone,
    Schema,
    ShortText,
    UrlText,
)

LanguageCode = Annotated[
    str,
    StringConstraints(min_length=2, max_length=3, pattern=r"^[A-Za-z]{2,3}$"),
    AfterValidator(languages.normalize),
]
Age = Annotated[float, Strict(), Field(ge=0, le=120, description="Years; one decimal place (2.5)")]
TermCode = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[a-z0-9_.-]+$")
]
ByDay = Annotated[
    str,
    StringConstraints(max_length=4, pattern=r"^([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$"),
    Field(description="RFC 5545 BYDAY: MO..SU, or with an ordinal for MONTHLY (1MO, -1FR)"),
]


# ---------------------------------------------------------------- organizations


class OrganizationFields(Schema):
    name: Name
    description: LongText | None = None
    website: UrlText | None = None
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: Phone | None = None


class OrganizationCreate(OrganizationFields):
    type: OrganizationType
    verified: Flag = False


class OrganizationUpdate(Schema):
    name: Name | None = None
    description: LongText | None = None
    website: UrlText | None = None
    email: EmailStr | None = Field(default=None, max_length=320)
    phone: Phone | None = None
    verified: Flag | None = Field(default=None, description="Admins only")


class OrganizationOut(OutSchema):
    id: uuid.UUID
    type: OrganizationType
    name: str
    description: str | None
    website: str | None
    email: str | None
    phone: str | None
    verified: bool
    created_at: datetime
    updated_at: datetime
    version: int


# ---------------------------------------------------------------- locations


class LocationFields(Schema):
    name: ShortText | None = None
    address_1: ShortText | None = None
    city: Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)] | None = None
    state: Annotated[str, StringConstraints(max_length=50, pattern=NO_NUL)] | None = None
    postal_code: (
        Annotated[str, StringConstraints(max_length=10, pattern=r"^[0-9]{5}(-[0-9]{4})?$")] | None
    ) = None
    country: Annotated[str, StringConstraints(max_length=2, pattern=r"^[A-Z]{2}$")] = "US"
    is_virtual: Flag = False
    latitude: Num | None = Field(default=None, ge=-90, le=90)
    longitude: Num | None = Field(default=None, ge=-180, le=180)

    @model_validator(mode="after")
    def _point_or_virtual(self) -> LocationFields:
        if (self.latitude is None) != (self.longitude is None):
            raise ValueError("give both latitude and longitude, or neither")
        if not self.is_virtual and self.latitude is None:
            raise ValueError("a physical location needs latitude and longitude")
        return self


class LocationOut(OutSchema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str | None
    address_1: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str
    is_virtual: bool
    latitude: float | None
    longitude: float | None
    tract_geoid: str | None = Field(description="Census tract containing the point")
    zcta: str | None = Field(description="ZIP code tabulation area containing the point")
    version: int


# ---------------------------------------------------------------- program parts


class CostOptionIn(Schema):
    free: Flag = False
    amount: Num | None = Field(default=None, ge=0, le=1_000_000)
    currency: Annotated[str, StringConstraints(max_length=3, pattern=r"^[A-Z]{3}$")] | None = None
    period: CostPeriod | None = None
    sliding_scale: Flag = False
    scholarships: Flag = False
    description: LongText | None = None

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and not languages.is_currency(value):
            raise ValueError(f"'{value}' is not an ISO 4217 currency code")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CostOptionIn:
        if self.free and self.amount:
            raise ValueError("a free option cannot have an amount")
        if self.amount is not None:
            self.currency = self.currency or "USD"
            if self.period is None:
                raise ValueError("an amount needs a period (once, session, day, week, ...)")
        return self


class CostOptionOut(OutSchema):
    free: bool
    amount: float | None
    currency: str | None
    period: CostPeriod | None
    sliding_scale: bool
    scholarships: bool
    description: str | None


class ScheduleIn(Schema):
    freq: Frequency = Frequency.WEEKLY
    interval: Int = Field(default=1, ge=1, le=52)
    byday: list[ByDay] = Field(default=[], max_length=7)
    opens_at: ClockTime
    closes_at: ClockTime
    valid_from: Day | None = None
    valid_to: Day | None = None
    description: ShortText | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ScheduleIn:
        if self.opens_at.tzinfo or self.closes_at.tzinfo:
            raise ValueError("times are local wall-clock times; give no offset")
        if self.opens_at >= self.closes_at:
            raise ValueError("opens_at must be before closes_at")
        if self.valid_from and self.valid_to and self.valid_from > self.valid_to:
            raise ValueError("valid_from must not be after valid_to")
        for day in self.byday:
            parse_byday(day, self.freq)
        if len(set(self.byday)) != len(self.byday):
            raise ValueError("byday lists a day twice")
        return self


class ScheduleOut(OutSchema):
    freq: Frequency
    interval: int
    byday: list[str]
    opens_at: LocalTimeOut
    closes_at: LocalTimeOut
    valid_from: date | None
    valid_to: date | None
    description: str | None


class Translation(Schema):
    name: Name
    description: LongText = ""


class TaxonomyTermOut(OutSchema):
    id: uuid.UUID
    code: str
    name: str
    name_es: str | None
    description: str


# ---------------------------------------------------------------- programs


class ProgramFields(Schema):
    """Every field a provider sets on a program, with the cross-field rules."""

    name: Name
    description: LongText = ""
    url: UrlText | None = None
    email: EmailStr | None = Field(default=None, max_length=320)
    category: Category
    taxonomy_terms: list[TermCode] = Field(default=[], max_length=50)
    min_age: Age | None = None
    max_age: Age | None = None
    min_grade: Grade | None = None
    max_grade: Grade | None = None
    cost_options: list[CostOptionIn] = Field(default=[], max_length=20)
    languages: list[LanguageCode] = Field(
        default=[], max_length=50, description="ISO 639 codes (en, es, ht...)"
    )
    schedules: list[ScheduleIn] = Field(default=[], max_length=50)
    season: Season = Season.year_round
    starts_on: Day | None = Field(default=None, description="Required when season is dates")
    ends_on: Day | None = Field(default=None, description="Required when season is dates")
    enrollment_status: EnrollmentStatus = EnrollmentStatus.open
    seats_available: Int | None = Field(default=None, ge=0, le=1_000_000)
    registration_deadline: Day | None = None
    transportation_provided: Flag = False
    accessibility: list[Accessibility] = Field(default=[], max_length=len(Accessibility))
    accepting_referrals: Flag = True
    status: ProgramStatus = ProgramStatus.active
    translations: dict[LanguageCode, Translation] = Field(
        default={},
        max_length=20,
        description="Name and description in other languages, keyed by ISO 639 code (es)",
    )
    location_ids: list[uuid.UUID] = Field(
        default=[],
        max_length=200,
        description="Locations of the program's organization where it runs",
    )
    service_area: dict[str, Any] | None = Field(
        default=None, description="GeoJSON Polygon or MultiPolygon the program serves"
    )

    @field_validator("min_age", "max_age")
    @classmethod
    def _one_decimal(cls, value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    @field_validator("languages", "taxonomy_terms", "accessibility")
    @classmethod
    def _unique(cls, values: list[Any]) -> list[Any]:
        return list(dict.fromkeys(values))

    @model_validator(mode="after")
    def _ranges(self) -> ProgramFields:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError("min_age must not be greater than max_age")
        if (
            self.min_grade is not None
            and self.max_grade is not None
            and self.min_grade.rank > self.max_grade.rank
        ):
            raise ValueError("min_grade must not be above max_grade")
        if self.season is Season.dates and (self.starts_on is None or self.ends_on is None):
            raise ValueError("season 'dates' needs starts_on and ends_on")
        if self.starts_on and self.ends_on and self.starts_on > self.ends_on:
            raise ValueError("starts_on must not be after ends_on")
        if "en" in self.translations:
            raise ValueError("name and description are the English text; translations are others")
        return self


class ProgramCreate(ProgramFields):
    organization_id: uuid.UUID | None = Field(
        default=None, description="Defaults to the caller's organization; required for admins"
    )


class ProgramUpdate(Schema):
    """A partial update: only the fields present change; lists are replaced whole."""

    name: Name | None = None
    description: LongText | None = None
    url: UrlText | None = None
    email: EmailStr | None = Field(default=None, max_length=320)
    category: Category | None = None
    taxonomy_terms: list[TermCode] | None = Field(default=None, max_length=50)
    min_age: Age | None = None
    max_age: Age | None = None
    min_grade: Grade | None = None
    max_grade: Grade | None = None
    cost_options: list[CostOptionIn] | None = Field(default=None, max_length=20)
    languages: list[LanguageCode] | None = Field(default=None, max_length=50)
    schedules: list[ScheduleIn] | None = Field(default=None, max_length=50)
    season: Season | None = None
    starts_on: Day | None = None
    ends_on: Day | None = None
    enrollment_status: EnrollmentStatus | None = None
    seats_available: Int | None = Field(default=None, ge=0, le=1_000_000)
    registration_deadline: Day | None = None
    transportation_provided: Flag | None = None
    accessibility: list[Accessibility] | None = Field(default=None, max_length=len(Accessibility))
    accepting_referrals: Flag | None = None
    status: ProgramStatus | None = None
    translations: dict[LanguageCode, Translation] | None = Field(default=None, max_length=20)
    location_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)
    service_area: dict[str, Any] | None = None


class ProgramOut(OutSchema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    url: str | None
    email: str | None
    category: Category
    taxonomy_terms: list[TaxonomyTermOut]
    min_age: float | None
    max_age: float | None
    min_grade: Grade | None
    max_grade: Grade | None
    cost_options: list[CostOptionOut]
    languages: list[str]
    schedules: list[ScheduleOut]
    season: Season
    starts_on: date | None
    ends_on: date | None
    enrollment_status: EnrollmentStatus
    seats_available: int | None
    registration_deadline: date | None
    transportation_provided: bool
    accessibility: list[Accessibility]
    accepting_referrals: bool
    status: ProgramStatus
    translations: dict[str, Translation]
    locations: list[LocationOut]
    service_area: dict[str, Any] | None
    last_verified_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class OccurrenceOut(OutSchema):
    starts_at: datetime
    ends_at: datetime
