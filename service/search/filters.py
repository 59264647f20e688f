"""The search filters, as one table both engines translate.

Each `Filter` names its query parameters (with their types and limits, from which
`params.py` builds GET /search/programs), the SearchDocument fields it reads, its
`Kind`, and the facet whose counts ignore it (disjunctive faceting). An engine
translates a Kind once (service/search/tantivy/query.py, service/search/meili/mapping.py);
adding a filter of an existing kind is one row here (and the document field, when it is
new), adding a kind is one function in each engine.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from fastapi import Query
from pydantic import StringConstraints

from service.catalog import languages
from service.catalog.enums import Accessibility, Category, Grade, Weekday
from service.schema_types import NO_NUL, ClockTime, QueryDay
from service.search.document import AGE_BANDS, COST_BAND_NAMES

AgeBand = StrEnum("AgeBand", {b[0]: b[0] for b in AGE_BANDS})  # type: ignore[misc]
CostBand = StrEnum("CostBand", {b: b for b in COST_BAND_NAMES})  # type: ignore[misc]
MAX_RADIUS_M = 100_000
MAX_AREAS = 50  # zip and tract codes in one search
MAX_CODES = 50  # languages and taxonomy terms in one search


class Within(StrEnum):
    city = "city"


class Facet(StrEnum):
    category = "category"
    language = "language"
    age_band = "age_band"
    cost_band = "cost_band"
    day = "day"
    zip = "zip"


# The document field each facet counts, in the order its values are shown (None: by count).
FACET_FIELDS: dict[Facet, str] = {
    Facet.category: "category",
    Facet.language: "languages",
    Facet.age_band: "age_bands",
    Facet.cost_band: "cost_band",
    Facet.day: "days",
    Facet.zip: "zips",
}


class Kind(StrEnum):
    """How a filter tests a document. The first eight are generic: the engines translate
    them from the fields alone. The last four each have one function per engine."""

    ANY = "any"  # a keyword field holds any of the values
    ALL = "all"  # a keyword field holds all of the values
    FLAG = "flag"  # a boolean field equals the value
    AT_LEAST = "at_least"  # a numeric field is at least the value
    AT_MOST = "at_most"  # a numeric field is at most the value
    COVERS = "covers"  # the range [fields[0], fields[1]] contains the value
    ZERO = "zero"  # true: the numeric field is 0; false: it is above 0 (absent: neither)
    EITHER = "either"  # true: boolean fields[0] holds; false: boolean fields[1] holds
    ON_DATE = "on_date"  # runs on a date: its season then, and its own date range
    WINDOW = "window"  # a weekly session (on a chosen day, when days are given) in a window
    RADIUS = "radius"  # a physical site within radius_m of the query's point
    OPEN = "open"  # enrollment open and the registration deadline not passed (or none)


@dataclass(frozen=True)
class Filter:
    name: str  # key in SearchQuery.filters; the query parameter unless `params` says
    kind: Kind
    fields: tuple[str, ...]  # SearchDocument attributes
    param: Any  # the parameter's annotation, Annotated[... | None, Query(...)]
    group: Facet | None = None  # the facet whose counts ignore this filter
    convert: Callable[[Any], Any] | None = None  # parameter value -> filter value


def _values(items: list[Any]) -> tuple[Any, ...]:
    """A repeated parameter as a tuple without repeats, enum members as their values."""
    return tuple(dict.fromkeys(getattr(i, "value", i) for i in items))


def _languages(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(languages.normalize(code) for code in items))  # ValueError: 422


def _minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def verified_since(days: int, now: datetime) -> datetime:
    """To the minute, so that the same search a few seconds later is the same query."""
    return now.replace(second=0, microsecond=0) - timedelta(days=days)


Zip = Annotated[str, StringConstraints(max_length=5, pattern=r"^\d{5}$")]
Tract = Annotated[str, StringConstraints(max_length=11, pattern=r"^\d{11}$")]
Code = Annotated[str, StringConstraints(max_length=100, pattern=NO_NUL)]
LanguageCode = Annotated[str, StringConstraints(max_length=12, pattern=NO_NUL)]


def _age(description: str | None = None) -> Any:
    return Annotated[
        Decimal | None,
        Query(
            ge=0,
            le=120,
            max_digits=4,
            decimal_places=1,
            description=description,
            json_schema_extra={"type": "number", "minimum": 0, "maximum": 120, "anyOf": None},
        ),
    ]


def _many(item: Any, limit: int, description: str | None = None) -> Any:
    return Annotated[list[item] | None, Query(max_length=limit, description=description)]


def _flag(description: str | None = None) -> Any:
    return Annotated[bool | None, Query(description=description)]


FILTERS: tuple[Filter, ...] = (
    Filter(
        "category",
        Kind.ANY,
        ("category",),
        _many(Category, len(Category), "Any of these"),
        Facet.category,
        _values,
    ),
    Filter(
        "taxonomy_term",
        Kind.ANY,
        ("term_codes",),
        _many(Code, MAX_CODES, "Term codes; a term also matches its narrower terms"),
        convert=_values,
    ),
    Filter(
        "age",
        Kind.COVERS,
        ("age_lo", "age_hi"),
        _age("The program's ages include it"),
        Facet.age_band,
    ),
    Filter(
        "age_min",
        Kind.AT_LEAST,
        ("age_hi",),
        _age("Ages overlap [age_min, age_max]"),
        Facet.age_band,
    ),
    Filter("age_max", Kind.AT_MOST, ("age_lo",), _age(), Facet.age_band),
    Filter(
        "age_band",
        Kind.ANY,
        ("age_bands",),
        _many(AgeBand, len(AgeBand), "Age ranges overlap any band"),
        Facet.age_band,
        _values,
    ),
    Filter(
        "grade",
        Kind.COVERS,
        ("grade_lo", "grade_hi"),
        Annotated[Grade | None, Query(description="Fits this grade (or its usual ages)")],
        convert=lambda grade: grade.rank,
    ),
    Filter(
        "free",
        Kind.ZERO,
        ("monthly_cost",),
        _flag("Has a free option (false: costs money)"),
        Facet.cost_band,
    ),
    Filter(
        "max_cost",
        Kind.AT_MOST,
        ("monthly_cost",),
        Annotated[
            Decimal | None,
            Query(
                ge=0,
                le=100_000,
                max_digits=8,
                decimal_places=2,
                description="Per month, USD",
                json_schema_extra={
                    "type": "number",
                    "minimum": 0,
                    "maximum": 100_000,
                    "anyOf": None,
                },
            ),
        ],
        Facet.cost_band,
    ),
    Filter(
        "cost_band",
        Kind.ANY,
        ("cost_band",),
        _many(CostBand, len(CostBand)),
        Facet.cost_band,
        _values,
    ),
    Filter(
        "language",
        Kind.ANY,
        ("languages",),
        _many(LanguageCode, MAX_CODES, "ISO 639 codes; delivered in any of them"),
        Facet.language,
        _languages,
    ),
    Filter(
        "day",
        Kind.ANY,
        ("days",),
        _many(Weekday, len(Weekday), "Meets on any of these days"),
        Facet.day,
        _values,
    ),
    Filter(
        "time_from",
        Kind.WINDOW,
        ("slots",),
        Annotated[ClockTime | None, Query(description="Meets no earlier than")],
        convert=_minutes,
    ),
    Filter(
        "time_to",
        Kind.WINDOW,
        ("slots",),
        Annotated[ClockTime | None, Query(description="Ends no later than")],
        convert=_minutes,
    ),
    Filter(
        "on_date",
        Kind.ON_DATE,
        ("season", "runs_from", "runs_to"),
        Annotated[QueryDay | None, Query(description="Runs on this date")],
    ),
    Filter(
        "radius_m",
        Kind.RADIUS,
        ("points",),
        Annotated[
            int | None,
            Query(ge=1, le=MAX_RADIUS_M, description="With near: a site within this"),
        ],
    ),
    Filter(
        "zip",
        Kind.ANY,
        ("zips",),
        _many(Zip, MAX_AREAS, "A site in any of these ZCTAs"),
        Facet.zip,
        _values,
    ),
    Filter(
        "tract",
        Kind.ANY,
        ("tracts",),
        _many(Tract, MAX_AREAS, "A site in any of these tracts"),
        convert=_values,
    ),
    Filter(
        "within",
        Kind.FLAG,
        ("in_city",),
        Annotated[Within | None, Query(description="A site inside the city")],
        convert=lambda _: True,
    ),
    Filter(
        "virtual",
        Kind.EITHER,
        ("virtual", "in_person"),
        _flag("true: offered online; false: has a physical site"),
    ),
    Filter("transportation", Kind.FLAG, ("transportation",), _flag()),
    Filter(
        "accessibility",
        Kind.ALL,
        ("accessibility",),
        _many(Accessibility, len(Accessibility), "All of these"),
        convert=_values,
    ),
    Filter(
        "enrollment_open",
        Kind.OPEN,
        ("enrollment_status", "registration_deadline"),
        _flag("Enrollment open and the deadline not passed"),
    ),
    Filter("accepting_referrals", Kind.FLAG, ("accepting_referrals",), _flag()),
    Filter(
        "verified_within_days",
        Kind.AT_LEAST,
        ("last_verified_at",),
        Annotated[int | None, Query(ge=1, le=3650)],
        # converted by params.py: it needs the request's clock (verified_since)
    ),
)
BY_NAME: dict[str, Filter] = {f.name: f for f in FILTERS}
# Disjunctive faceting: the counts of a facet ignore the filters of its own group, so a
# filter UI can show how many results each other value would add.
FACET_GROUPS: dict[Facet, tuple[str, ...]] = {
    facet: tuple(f.name for f in FILTERS if f.group is facet) for facet in Facet
}
