"""The search port: what every engine answers, and the values it answers with."""

from __future__ import annotations

import html
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from service.errors import AppError
from service.search.document import AGE_BANDS, COST_BAND_NAMES, WEEKDAYS, SearchDocument
from service.search.filters import Facet
from service.search.query import Point, SearchQuery

# Backends mark matches with these private-use characters; `render_highlight` escapes the
# text for HTML and turns them into <mark> tags, so a hit is safe to put in a page.
MARK_START = "\ue000"
MARK_END = "\ue001"
EARTH_RADIUS_M = 6_371_008.8


class SearchUnavailable(AppError):
    """The search server did not answer (down, restarting, timed out): a 503 to retry.
    Writes do not need it: their changes wait in the outbox meanwhile."""

    status = 503
    code = "search_unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The search service is not reachable right now; retry shortly.",
            headers={"Retry-After": "5"},
        )


def render_highlight(marked: str | None) -> str | None:
    if not marked or MARK_START not in marked:
        return None
    return html.escape(marked).replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def haversine_m(a: Point, lat: float, lng: float) -> float:
    p1, p2 = math.radians(a.lat), math.radians(lat)
    dp, dl = p2 - p1, math.radians(lng - a.lng)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


@dataclass
class Hit:
    """One program found: its fixed JSON (service/search/hits.py) and what the query
    decided (the text's language, the nearest site and its distance, highlights)."""

    program_id: uuid.UUID
    fixed: bytes
    name: str
    description: str
    language: str
    site: dict[str, Any] | None = None
    distance_m: float | None = None
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass
class FacetValue:
    value: str
    count: int


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[Facet, list[FacetValue]] = field(default_factory=dict)


@dataclass
class IndexStats:
    backend: str
    documents: int


class Rebuild(Protocol):
    """A whole new index being filled, made live at once by `finish` (or dropped)."""

    async def add(self, documents: Sequence[SearchDocument]) -> None:
        """Add one batch of documents. A rebuild's documents come in name order
        (document.name_key), batch after batch, so that an engine can number them."""

    async def finish(self) -> None:
        """Make the new index the live one."""

    async def abort(self) -> None:
        """Drop the new index; the live one stays."""


class SearchEngine(Protocol):
    """A search engine over program documents: the embedded tantivy index, or
    Meilisearch. It owns its resources and takes plain values; documents come from the
    change log's followers (service/search/follower.py)."""

    name: str

    async def search(self, query: SearchQuery) -> SearchResult:
        """Answer `query`."""

    async def apply(
        self, documents: Sequence[SearchDocument], removed: Sequence[uuid.UUID]
    ) -> None:
        """Store `documents` and remove `removed`; raise if that did not happen."""

    async def rebuild(self) -> Rebuild:
        """Start a full rebuild."""

    async def stats(self) -> IndexStats:
        """How many documents the live index holds."""


def ordered_facets(counts: dict[str, int], order: Sequence[str] | None = None) -> list[FacetValue]:
    """Facet values by count (then value), or in a fixed order when the facet has one."""
    if order is not None:
        return [FacetValue(v, counts[v]) for v in order if counts.get(v)]
    return [FacetValue(v, c) for v, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def facet_order(facet: Facet) -> list[str] | None:
    """Facets with a natural order keep it (bands, weekdays); the others sort by count."""
    return {
        Facet.age_band: [b[0] for b in AGE_BANDS],
        Facet.cost_band: list(COST_BAND_NAMES),
        Facet.day: [d.value for d in WEEKDAYS],
    }.get(facet)
