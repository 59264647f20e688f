"""The search query both engines answer: validated, normalised, free of HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum
from typing import Any

from service.search.filters import BY_NAME, FACET_GROUPS, Facet

# Search reaches the first MAX_HITS hits of a query, as Meilisearch's default
# pagination.maxTotalHits does: totals stop counting there (`total_items` is then a lower
# bound) and pages beyond it are refused. Deeper reads are for the export APIs.
MAX_HITS = 1000
DAY_MINUTES = 24 * 60


class Sort(StrEnum):
    relevance = "relevance"
    distance = "distance"
    name = "name"
    recently_verified = "recently_verified"


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


Filters = tuple[tuple[str, Any], ...]


def filters(**values: Any) -> Filters:
    """Filter values in the table's order, unset ones (None, empty) left out."""
    return tuple((name, values[name]) for name in BY_NAME if values.get(name) not in (None, ()))


@dataclass(frozen=True)
class SearchQuery:
    """One search. `filters` holds the set filters of service/search/filters.py by name
    (hashable, so a query is its own cache key)."""

    text: str | None = None
    filters: Filters = ()
    near: Point | None = None
    sort: Sort = Sort.relevance
    page: int = 1
    per_page: int = 20
    facets: tuple[Facet, ...] = ()
    language: str = "en"
    today: date = field(default_factory=date.today)

    def __post_init__(self) -> None:
        unknown = [name for name, _ in self.filters if name not in BY_NAME]
        assert not unknown, f"unknown filters {unknown}"

    @property
    def values(self) -> Mapping[str, Any]:
        return dict(self.filters)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def has_window(self) -> bool:
        return self.get("time_from") is not None or self.get("time_to") is not None

    @property
    def window_minutes(self) -> tuple[int, int]:
        """The time window as minutes after midnight, open ends filled (0, 1440)."""
        start, end = self.get("time_from"), self.get("time_to")
        return (0 if start is None else start, DAY_MINUTES if end is None else end)

    @property
    def effective_sort(self) -> Sort:
        """relevance needs words and distance needs a point; otherwise sort by name."""
        if self.sort is Sort.relevance and not self.text:
            return Sort.distance if self.near else Sort.name
        return self.sort

    def without(self, facet: Facet) -> SearchQuery:
        """This query with the filters of `facet`'s group removed."""
        group = FACET_GROUPS[facet]
        return replace(self, filters=tuple((n, v) for n, v in self.filters if n not in group))

    def filters_facet(self, facet: Facet) -> bool:
        """Whether this query filters on the group of `facet`."""
        return any(name in FACET_GROUPS[facet] for name, _ in self.filters)
