"""The search query both backends answer: validated, normalised, free of HTTP."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from enum import StrEnum

from service.catalog.enums import Category, Weekday

# Search reaches the first MAX_HITS hits of a query, as Meilisearch's default
# pagination.maxTotalHits does: totals stop counting there (`total_items` is then a lower
# bound) and pages beyond it are refused. Deeper reads are for the export APIs.
MAX_HITS = 1000


class Sort(StrEnum):
    relevance = "relevance"
    distance = "distance"
    name = "name"
    recently_verified = "recently_verified"


class Facet(StrEnum):
    category = "category"
    language = "language"
    age_band = "age_band"
    cost_band = "cost_band"
    day = "day"
    zip = "zip"


# Disjunctive faceting: the counts of a facet ignore the filters of its own group, so a
# filter UI can show how many results each other value would add.
FACET_FILTERS: dict[Facet, tuple[str, ...]] = {
    Facet.category: ("categories",),
    Facet.language: ("languages",),
    Facet.age_band: ("age", "age_min", "age_max", "age_bands"),
    Facet.cost_band: ("free", "max_cost", "cost_bands"),
    Facet.day: ("days",),
    Facet.zip: ("zips",),
}


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    categories: tuple[Category, ...] = ()
    taxonomy_terms: tuple[str, ...] = ()
    age: Decimal | None = None
    age_min: Decimal | None = None
    age_max: Decimal | None = None
    age_bands: tuple[str, ...] = ()
    grade: int | None = None  # rank: PK = -1, K = 0, 1..12
    free: bool | None = None
    max_cost: Decimal | None = None
    cost_bands: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    days: tuple[Weekday, ...] = ()
    time_from: time | None = None
    time_to: time | None = None
    on_date: date | None = None
    near: Point | None = None
    radius_m: int | None = None
    zips: tuple[str, ...] = ()
    tracts: tuple[str, ...] = ()
    within_city: bool = False
    virtual: bool | None = None
    transportation: bool | None = None
    accessibility: tuple[str, ...] = ()
    enrollment_open: bool | None = None
    accepting_referrals: bool | None = None
    verified_since: datetime | None = None
    sort: Sort = Sort.relevance
    page: int = 1
    per_page: int = 20
    facets: tuple[Facet, ...] = ()
    language: str = "en"
    today: date = field(default_factory=date.today)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_window(self) -> bool:
        return self.time_from is not None or self.time_to is not None

    @property
    def window_minutes(self) -> tuple[int, int]:
        """The time window as minutes after midnight, open ends filled (0, 1440)."""
        start = self.time_from.hour * 60 + self.time_from.minute if self.time_from else 0
        end = self.time_to.hour * 60 + self.time_to.minute if self.time_to else 24 * 60
        return start, end

    @property
    def effective_sort(self) -> Sort:
        """relevance needs words and distance needs a point; otherwise sort by name."""
        if self.sort is Sort.relevance and not self.text:
            return Sort.distance if self.near else Sort.name
        return self.sort

    def without(self, facet: Facet) -> SearchQuery:
        """This query with the filters of `facet`'s group removed."""
        cleared = {
            name: (None if not isinstance(getattr(self, name), tuple) else ())
            for name in FACET_FILTERS[facet]
        }
        return dataclasses.replace(self, **cleared)  # type: ignore[arg-type]

    def filters_facet(self, facet: Facet) -> bool:
        """Whether this query filters on the group of `facet`."""
        return any(getattr(self, name) not in (None, ()) for name in FACET_FILTERS[facet])
