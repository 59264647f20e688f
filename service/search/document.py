"""One program as a search document: the mapping both backends index (pure functions).

Everything a filter or a facet needs is decided here, once: the monthly cost and its band,
the age bands, the grades a program fits, the weekly time slots, the date range a season
covers, the areas a program's sites lie in. The adapters only store what this module says.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import TypeAdapter

from service.catalog.enums import CostPeriod, Season, Weekday

WEEKDAYS: tuple[Weekday, ...] = tuple(Weekday)
_DAY_NAMES = tuple(day.value for day in WEEKDAYS)  # by index MO=0, read per slot
_DAY_INDEX = {day.value: i for i, day in enumerate(WEEKDAYS)}  # MO=0
# Instants in the display as the API writes them (RFC 3339, "Z" for UTC), so that hits are
# served as stored.
_INSTANT: TypeAdapter[datetime | None] = TypeAdapter(datetime | None)
WEEKS_PER_MONTH = Decimal(52) / Decimal(12)
# A term is taken as four months (a US semester is 4 to 5 months, a trimester 3).
MONTHS_PER_TERM = Decimal(4)
AGE_LIMIT = Decimal(120)
FIRST_DAY = date(1, 1, 1)
LAST_DAY = date(9999, 12, 31)

# Age bands of the age_band facet: closed ranges of one-decimal ages, so the band
# "5-10" is exactly the filter age_min=5&age_max=10.9.
AGE_BANDS: tuple[tuple[str, Decimal, Decimal], ...] = (
    ("0-4", Decimal(0), Decimal("4.9")),
    ("5-10", Decimal(5), Decimal("10.9")),
    ("11-13", Decimal(11), Decimal("13.9")),
    ("14-18", Decimal(14), Decimal("18.9")),
    ("19-24", Decimal(19), Decimal("24.9")),
    ("25+", Decimal(25), AGE_LIMIT),
)

# Cost bands of the cost_band facet, by cost per month (see monthly_cost).
COST_BANDS: tuple[tuple[str, Decimal | None, Decimal | None], ...] = (
    ("free", None, Decimal(0)),
    ("up_to_50", Decimal(0), Decimal(50)),
    ("50_to_150", Decimal(50), Decimal(150)),
    ("over_150", Decimal(150), None),
)
UNKNOWN_COST = "unknown"
COST_BAND_NAMES = (*(b[0] for b in COST_BANDS), UNKNOWN_COST)

# When a season runs, as (month, day) inclusive bounds; year_round and dates always do
# (dates are bounded by the program's own starts_on/ends_on).
SEASON_SPANS: dict[Season, tuple[tuple[int, int], tuple[int, int]]] = {
    Season.school_year: ((9, 1), (6, 20)),
    Season.summer: ((6, 21), (8, 31)),
}


def seasons_on(day: date) -> tuple[Season, ...]:
    """The seasons that run on `day`."""
    md = (day.month, day.day)
    active = [Season.year_round, Season.dates]
    for season, (start, end) in SEASON_SPANS.items():
        inside = start <= md <= end if start <= end else (md >= start or md <= end)
        if inside:
            active.append(season)
    return tuple(active)


@dataclass(frozen=True)
class CostSource:
    free: bool
    amount: Decimal | None
    period: CostPeriod | None
    sliding_scale: bool = False
    scholarships: bool = False


@dataclass(frozen=True)
class ScheduleSource:
    byday: tuple[str, ...]
    opens_minute: int
    closes_minute: int


@dataclass(frozen=True)
class LocationSource:
    id: uuid.UUID
    name: str | None
    address_1: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    virtual: bool
    lat: float | None
    lng: float | None
    zcta: str | None
    tract: str | None
    in_city: bool


@dataclass(frozen=True)
class TermSource:
    code: str
    name: str
    name_es: str | None


@dataclass(frozen=True)
class Contact:
    """How a family reaches the program: its organization's phone, the program's web page
    (or its organization's), its email (or its organization's)."""

    phone: str | None = None
    website: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class ProgramSource:
    """What the catalog says about one active program, as read for indexing."""

    id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    name: str
    description: str
    translations: dict[str, Any]
    category: str
    min_age: Decimal | None
    max_age: Decimal | None
    min_grade: int | None
    max_grade: int | None
    languages: tuple[str, ...]
    season: Season
    starts_on: date | None
    ends_on: date | None
    enrollment_status: str
    seats_available: int | None
    registration_deadline: date | None
    transportation_provided: bool
    accessibility: tuple[str, ...]
    accepting_referrals: bool
    last_verified_at: datetime | None
    contact: Contact = field(default_factory=Contact)
    terms: tuple[TermSource, ...] = ()
    ancestor_codes: tuple[str, ...] = ()
    costs: tuple[CostSource, ...] = ()
    schedules: tuple[ScheduleSource, ...] = ()
    locations: tuple[LocationSource, ...] = ()


Slot = tuple[int, int, int]  # (weekday index MO=0, opens minute, closes minute)


@dataclass(frozen=True)
class SearchDocument:
    program_id: uuid.UUID
    organization_id: uuid.UUID
    organization_name: str
    name: str
    description: str
    name_es: str | None
    description_es: str | None
    terms: str
    terms_es: str
    term_codes: tuple[str, ...]
    category: str
    age_lo: Decimal
    age_hi: Decimal
    age_bands: tuple[str, ...]
    grade_lo: int
    grade_hi: int
    monthly_cost: Decimal | None
    cost_band: str
    languages: tuple[str, ...]
    days: tuple[str, ...]
    slots: tuple[Slot, ...]
    season: str
    runs_from: date
    runs_to: date
    enrollment_status: str
    registration_deadline: date | None
    accepting_referrals: bool
    transportation: bool
    accessibility: tuple[str, ...]
    virtual: bool
    in_person: bool
    last_verified_at: datetime | None
    points: tuple[tuple[float, float], ...]
    zips: tuple[str, ...]
    tracts: tuple[str, ...]
    in_city: bool
    display: dict[str, Any] = field(compare=False)

    @property
    def texts(self) -> tuple[str | None, ...]:
        return (
            self.name,
            self.description,
            self.name_es,
            self.description_es,
            self.terms,
            self.terms_es,
            self.organization_name,
        )


def name_key(name: str, program_id: uuid.UUID) -> str:
    """The search's name order: the case-folded name, then the program id (a total order,
    compared as code points, as tantivy compares its terms)."""
    return f"{name.casefold()}\x00{program_id}"


def _cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def monthly_cost(cost: CostSource, meeting_days_per_week: int) -> Decimal | None:
    """What one option costs a family per month, or None when it does not say.

    once: counted in full (paid in the month of enrolment); day and session: times the
    program's meeting days per week (1 when its schedule does not say) and 52/12 weeks;
    week: times 52/12; month: as is; term: over four months; year: over twelve.
    """
    if cost.free:
        return Decimal(0)
    if cost.amount is None or cost.period is None:
        return None
    if cost.period in _PER_MEETING:
        factor = Decimal(max(meeting_days_per_week, 1)) * WEEKS_PER_MONTH
    else:
        factor = _PER_PERIOD[cost.period]
    return _cents(cost.amount * factor)


_PER_MEETING = frozenset({CostPeriod.session, CostPeriod.day})
_PER_PERIOD = {
    CostPeriod.once: Decimal(1),
    CostPeriod.week: WEEKS_PER_MONTH,
    CostPeriod.month: Decimal(1),
    CostPeriod.term: 1 / MONTHS_PER_TERM,
    CostPeriod.year: Decimal(1) / Decimal(12),
}


def cost_band(monthly: Decimal | None) -> str:
    if monthly is None:
        return UNKNOWN_COST
    for name, above, up_to in COST_BANDS:
        if (above is None or monthly > above) and (up_to is None or monthly <= up_to):
            return name
    raise AssertionError(f"no cost band for {monthly}")  # pragma: no cover


def age_bands(lo: Decimal, hi: Decimal) -> tuple[str, ...]:
    return tuple(name for name, b_lo, b_hi in AGE_BANDS if lo <= b_hi and hi >= b_lo)


def grade_span(
    min_grade: int | None, max_grade: int | None, lo_age: Decimal | None, hi_age: Decimal | None
) -> tuple[int, int]:
    """The grades a program fits, from its grade range or else its ages.

    A child in grade g is typically g+5 to g+6 years old (PK = -1, K = 0); an age range
    [a, b] fits the grades whose ages overlap it. lo > hi means no grade fits.
    """
    lo = (
        min_grade
        if min_grade is not None
        else (max(-1, math.ceil(lo_age - 6)) if lo_age is not None else -1)
    )
    hi = (
        max_grade
        if max_grade is not None
        else (min(12, math.floor(hi_age - 5)) if hi_age is not None else 12)
    )
    return lo, hi


def slots(schedules: tuple[ScheduleSource, ...]) -> tuple[Slot, ...]:
    """Weekly (day, opens, closes) slots; BYDAY ordinals ('1MO', '-1FR') keep their day."""
    found = set()
    for schedule in schedules:
        for code in schedule.byday:
            day = _DAY_INDEX.get(code[-2:])
            if day is not None:
                found.add((day, schedule.opens_minute, schedule.closes_minute))
    return tuple(sorted(found))


_CLOCK = tuple(f"{m // 60:02d}:{m % 60:02d}" for m in range(24 * 60 + 1))  # "HH:MM" by minute


def _location_display(loc: LocationSource) -> dict[str, Any]:
    return {
        "id": str(loc.id),
        "name": loc.name,
        "address_1": loc.address_1,
        "city": loc.city,
        "state": loc.state,
        "postal_code": loc.postal_code,
        "is_virtual": loc.virtual,
        "latitude": loc.lat,
        "longitude": loc.lng,
    }


def build(source: ProgramSource) -> SearchDocument:
    es = source.translations.get("es") or {}
    lo = source.min_age if source.min_age is not None else Decimal(0)
    hi = source.max_age if source.max_age is not None else AGE_LIMIT
    grade_lo, grade_hi = grade_span(
        source.min_grade, source.max_grade, source.min_age, source.max_age
    )
    week = slots(source.schedules)
    meeting_days = len({s[0] for s in week})
    monthly_options = [m for c in source.costs if (m := monthly_cost(c, meeting_days)) is not None]
    monthly = min(monthly_options) if monthly_options else None
    placed = [loc for loc in source.locations if loc.lat is not None and loc.lng is not None]
    days = tuple(_DAY_NAMES[i] for i in sorted({s[0] for s in week}))
    display = {
        "id": str(source.id),
        "organization": {"id": str(source.organization_id), "name": source.organization_name},
        "category": source.category,
        "min_age": None if source.min_age is None else float(source.min_age),
        "max_age": None if source.max_age is None else float(source.max_age),
        "min_grade": source.min_grade,
        "max_grade": source.max_grade,
        "languages": list(source.languages),
        "days": list(days),
        "season": source.season.value,
        "starts_on": source.starts_on.isoformat() if source.starts_on else None,
        "ends_on": source.ends_on.isoformat() if source.ends_on else None,
        "cost": {
            "monthly": None if monthly is None else float(monthly),
            "band": cost_band(monthly),
            "sliding_scale": any(c.sliding_scale for c in source.costs),
            "scholarships": any(c.scholarships for c in source.costs),
        },
        "enrollment_status": source.enrollment_status,
        "seats_available": source.seats_available,
        "registration_deadline": (
            source.registration_deadline.isoformat() if source.registration_deadline else None
        ),
        "accepting_referrals": source.accepting_referrals,
        "transportation_provided": source.transportation_provided,
        "accessibility": list(source.accessibility),
        "last_verified_at": _INSTANT.dump_python(source.last_verified_at, mode="json"),
        "taxonomy_terms": [t.code for t in source.terms],
        "locations": [_location_display(loc) for loc in source.locations],
        "contact": {
            "phone": source.contact.phone,
            "website": source.contact.website,
            "email": source.contact.email,
        },
        "sessions": [
            {"day": _DAY_NAMES[d], "opens": _CLOCK[o], "closes": _CLOCK[c]} for d, o, c in week
        ],
    }
    return SearchDocument(
        program_id=source.id,
        organization_id=source.organization_id,
        organization_name=source.organization_name,
        name=source.name,
        description=source.description,
        name_es=es.get("name") or None,
        description_es=es.get("description") or None,
        terms=" ".join(t.name for t in source.terms),
        terms_es=" ".join(t.name_es or t.name for t in source.terms),
        term_codes=tuple(sorted({t.code for t in source.terms} | set(source.ancestor_codes))),
        category=source.category,
        age_lo=lo,
        age_hi=hi,
        age_bands=age_bands(lo, hi),
        grade_lo=grade_lo,
        grade_hi=grade_hi,
        monthly_cost=monthly,
        cost_band=cost_band(monthly),
        languages=tuple(sorted(source.languages)),
        days=days,
        slots=week,
        season=source.season.value,
        runs_from=source.starts_on or FIRST_DAY,
        runs_to=source.ends_on or LAST_DAY,
        enrollment_status=source.enrollment_status,
        registration_deadline=source.registration_deadline,
        accepting_referrals=source.accepting_referrals,
        transportation=source.transportation_provided,
        accessibility=tuple(sorted(source.accessibility)),
        virtual=any(loc.virtual for loc in source.locations),
        in_person=bool(placed),
        last_verified_at=source.last_verified_at,
        points=tuple((loc.lat, loc.lng) for loc in placed),  # type: ignore[misc]
        zips=tuple(sorted({loc.zcta for loc in placed if loc.zcta})),
        tracts=tuple(sorted({loc.tract for loc in placed if loc.tract})),
        in_city=any(loc.in_city for loc in placed),
        display=display,
    )
