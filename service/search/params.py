"""GET /search/programs query parameters -> SearchQuery, with the cross-field rules."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from fastapi import Header, Query
from pydantic import StringConstraints

from service import local_time
from service.catalog import languages
from service.catalog.enums import Accessibility, Category, Grade, Weekday
from service.errors import FieldError, Unprocessable
from service.schema_types import ClockTime, QueryDay
from service.search.document import AGE_BANDS, COST_BAND_NAMES
from service.search.query import MAX_HITS, Facet, Point, SearchQuery, Sort

MAX_RADIUS_M = 100_000
MAX_PAGE = MAX_HITS  # with per_page=1; page * per_page is checked against MAX_HITS
SUPPORTED_LANGUAGES = ("en", "es")

AgeBand = StrEnum("AgeBand", {b[0]: b[0] for b in AGE_BANDS})  # type: ignore[misc]
CostBand = StrEnum("CostBand", {b: b for b in COST_BAND_NAMES})  # type: ignore[misc]


class Within(StrEnum):
    city = "city"


_NEAR = re.compile(r"^\s*(-?\d{1,2}(?:\.\d+)?)\s*,\s*(-?\d{1,3}(?:\.\d+)?)\s*$")
_LANGUAGE_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8})(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([^,;\s]*))?"
)

Zip = Annotated[str, StringConstraints(max_length=5, pattern=r"^\d{5}$")]
Tract = Annotated[str, StringConstraints(max_length=11, pattern=r"^\d{11}$")]
MAX_AREAS = 50  # zip and tract codes in one search
MAX_CODES = 50  # languages and taxonomy terms in one search


def _age(description: str | None = None) -> object:
    return Query(
        ge=0,
        le=120,
        max_digits=4,
        decimal_places=1,
        description=description,
        json_schema_extra={"type": "number", "minimum": 0, "maximum": 120, "anyOf": None},
    )


def _bad(name: str, msg: str) -> FieldError:
    return FieldError(loc=["query", name], msg=msg, type="value_error")


def preferred_language(header: str | None) -> str:
    """The first supported language of an Accept-Language header, by weight (default en)."""
    best, best_q = "en", -1.0
    for position, part in enumerate((header or "").split(",")):
        match = _LANGUAGE_RANGE.match(part)
        if not match:
            continue
        tag = match.group(1).lower()
        try:
            weight = float(match.group(2)) if match.group(2) else 1.0
        except ValueError:
            continue
        if tag in SUPPORTED_LANGUAGES and weight > 0 and weight - position * 1e-6 > best_q:
            best, best_q = tag, weight - position * 1e-6
    return best


def _point(raw: str | None, errors: list[FieldError]) -> Point | None:
    if raw is None:
        return None
    match = _NEAR.match(raw)
    if match:
        lat, lng = float(match.group(1)), float(match.group(2))
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return Point(lat, lng)
    errors.append(_bad("near", "give latitude,longitude in decimal degrees, e.g. 41.1177,-73.4082"))
    return None


def _facets(raw: list[str], errors: list[FieldError]) -> tuple[Facet, ...]:
    names = [n.strip() for item in raw for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in Facet.__members__]
    if unknown:
        allowed = ", ".join(Facet)
        errors.append(_bad("facets", f"unknown facet {', '.join(unknown)}; choose from {allowed}"))
    return tuple(dict.fromkeys(Facet(n) for n in names if n in Facet.__members__))


def _languages(raw: list[str], errors: list[FieldError]) -> tuple[str, ...]:
    out = []
    for code in raw:
        try:
            out.append(languages.normalize(code))
        except ValueError as exc:
            errors.append(_bad("language", str(exc)))
    return tuple(dict.fromkeys(out))


def search_params(
    q: Annotated[
        str | None,
        Query(max_length=200, pattern=r"^[^\x00]*$", description="Words, English or Spanish"),
    ] = None,
    category: Annotated[
        list[Category] | None, Query(max_length=len(Category), description="Any of these")
    ] = None,
    taxonomy_term: Annotated[
        list[Annotated[str, StringConstraints(max_length=100)]] | None,
        Query(
            max_length=MAX_CODES, description="Term codes; a term also matches its narrower terms"
        ),
    ] = None,
    age: Annotated[Decimal | None, _age("The program's ages include it")] = None,
    age_min: Annotated[Decimal | None, _age("Ages overlap [age_min, age_max]")] = None,
    age_max: Annotated[Decimal | None, _age()] = None,
    age_band: Annotated[
        list[AgeBand] | None,
        Query(max_length=len(AgeBand), description="Age ranges overlap any band"),
    ] = None,
    grade: Annotated[Grade | None, Query(description="Fits this grade (or its usual ages)")] = None,
    free: Annotated[
        bool | None, Query(description="Has a free option (false: costs money)")
    ] = None,
    max_cost: Annotated[
        Decimal | None,
        Query(
            ge=0,
            le=100_000,
            max_digits=8,
            decimal_places=2,
            description="Per month, USD",
            json_schema_extra={"type": "number", "minimum": 0, "maximum": 100_000, "anyOf": None},
        ),
    ] = None,
    cost_band: Annotated[list[CostBand] | None, Query(max_length=len(CostBand))] = None,
    language: Annotated[
        list[Annotated[str, StringConstraints(max_length=12)]] | None,
        Query(max_length=MAX_CODES, description="ISO 639 codes; delivered in any of them"),
    ] = None,
    day: Annotated[
        list[Weekday] | None,
        Query(max_length=len(Weekday), description="Meets on any of these days"),
    ] = None,
    time_from: Annotated[ClockTime | None, Query(description="Meets no earlier than")] = None,
    time_to: Annotated[ClockTime | None, Query(description="Ends no later than")] = None,
    on_date: Annotated[QueryDay | None, Query(description="Runs on this date")] = None,
    near: Annotated[
        str | None, Query(max_length=60, description="lat,lng: distances are measured from here")
    ] = None,
    radius_m: Annotated[
        int | None, Query(ge=1, le=MAX_RADIUS_M, description="With near: a site within this")
    ] = None,
    zip: Annotated[
        list[Zip] | None, Query(max_length=MAX_AREAS, description="A site in any of these ZCTAs")
    ] = None,
    tract: Annotated[
        list[Tract] | None,
        Query(max_length=MAX_AREAS, description="A site in any of these tracts"),
    ] = None,
    within: Annotated[Within | None, Query(description="A site inside the city")] = None,
    virtual: Annotated[
        bool | None, Query(description="true: offered online; false: has a physical site")
    ] = None,
    transportation: bool | None = None,
    accessibility: Annotated[
        list[Accessibility] | None,
        Query(max_length=len(Accessibility), description="All of these"),
    ] = None,
    enrollment_open: Annotated[
        bool | None, Query(description="Enrollment open and the deadline not passed")
    ] = None,
    accepting_referrals: bool | None = None,
    verified_within_days: Annotated[int | None, Query(ge=1, le=3650)] = None,
    sort: Annotated[
        Sort,
        Query(description="relevance needs q (else name); distance needs near"),
    ] = Sort.relevance,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=100)] = 20,
    facets: Annotated[
        list[Annotated[str, StringConstraints(max_length=200)]] | None,
        Query(description=f"Comma-separated: {', '.join(Facet)}", max_length=20),
    ] = None,
    accept_language: Annotated[str | None, Header(max_length=200)] = None,
) -> SearchQuery:
    errors: list[FieldError] = []
    point = _point(near, errors)
    if radius_m is not None and near is None:
        errors.append(_bad("radius_m", "radius_m needs near=lat,lng"))
    if sort is Sort.distance and near is None:
        errors.append(_bad("sort", "sort=distance needs near=lat,lng"))
    if age is not None and (age_min is not None or age_max is not None):
        errors.append(_bad("age", "give age, or age_min/age_max, not both"))
    if age_min is not None and age_max is not None and age_min > age_max:
        errors.append(_bad("age_min", "age_min is above age_max"))
    if time_from and time_to and time_from >= time_to:
        errors.append(_bad("time_from", "time_from must be before time_to"))
    if (page - 1) * per_page >= MAX_HITS:
        errors.append(
            _bad("page", f"search reaches the first {MAX_HITS} hits; narrow the search instead")
        )
    wanted_facets = _facets(facets or [], errors)
    wanted_languages = _languages(language or [], errors)
    if errors:
        raise Unprocessable("Invalid search parameters.", code="invalid_search", errors=errors)
    now = local_time.now()
    return SearchQuery(
        text=q.strip() or None if q else None,
        categories=tuple(dict.fromkeys(category or [])),
        taxonomy_terms=tuple(dict.fromkeys(taxonomy_term or [])),
        age=age,
        age_min=age_min,
        age_max=age_max,
        age_bands=tuple(b.value for b in dict.fromkeys(age_band or [])),
        grade=grade.rank if grade else None,
        free=free,
        max_cost=max_cost,
        cost_bands=tuple(b.value for b in dict.fromkeys(cost_band or [])),
        languages=wanted_languages,
        days=tuple(dict.fromkeys(day or [])),
        time_from=time_from,
        time_to=time_to,
        on_date=on_date,
        near=point,
        radius_m=radius_m,
        zips=tuple(dict.fromkeys(zip or [])),
        tracts=tuple(dict.fromkeys(tract or [])),
        within_city=within is Within.city,
        virtual=virtual,
        transportation=transportation,
        accessibility=tuple(a.value for a in dict.fromkeys(accessibility or [])),
        enrollment_open=enrollment_open,
        accepting_referrals=accepting_referrals,
        # To the minute, so that the same search a few seconds later is the same query.
        verified_since=(
            now.replace(second=0, microsecond=0) - timedelta(days=verified_within_days)
            if verified_within_days
            else None
        ),
        sort=sort,
        page=page,
        per_page=per_page,
        facets=wanted_facets,
        language=preferred_language(accept_language),
        today=now.date(),
    )
