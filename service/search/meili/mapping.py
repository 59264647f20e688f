"""The Meilisearch side of the mapping, with no I/O: index settings, documents, filters.

Meilisearch holds one `_geo` point per document, so a program becomes one document per
physical site (one without `_geo` when it has none), and `program_id` is the index's
distinct attribute: a multi-site program is one hit, at its best-ranked (under a
_geoPoint sort: nearest) site, and facet counts count programs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from service.search.document import WEEKDAYS, SearchDocument, seasons_on
from service.search.filters import FACET_FIELDS, FILTERS, Facet, Kind
from service.search.port import MARK_END, MARK_START
from service.search.query import MAX_HITS, SearchQuery, Sort
from service.search.text import Synonyms

MAX_SLOTS = 21  # weekly (day, opens, closes) slots stored per document
NO_DEADLINE = 99991231

SEARCHABLE = [
    "name",
    "name_es",
    "terms",
    "terms_es",
    "organization_name",
    "description",
    "description_es",
]
FACET_ATTRIBUTE = FACET_FIELDS  # Meilisearch attributes are the document's field names
SLOT_FIELDS = [f"slot_{i}_{part}" for i in range(MAX_SLOTS) for part in ("day", "open", "close")]
FILTERABLE = [
    "program_id",
    "site",
    "category",
    "term_codes",
    "age_lo",
    "age_hi",
    "age_bands",
    "grade_lo",
    "grade_hi",
    "monthly_cost",
    "cost_band",
    "languages",
    "days",
    *SLOT_FIELDS,
    "season",
    "runs_from",
    "runs_to",
    "enrollment_status",
    "registration_deadline",
    "accepting_referrals",
    "transportation",
    "accessibility",
    "virtual",
    "in_person",
    "last_verified_at",
    "zips",
    "tracts",
    "in_city",
    "_geo",
]
SORTABLE = ["name_sort", "program_id", "last_verified_at", "_geo"]
# "sort" first: an explicit sort (name, distance, recently verified) orders the hits as it
# does on postgres; without one, the usual relevance rules apply.
RANKING_RULES = ["sort", "words", "typo", "proximity", "attribute", "exactness"]


def settings(synonyms: Synonyms, stop_words: Iterable[str] = ()) -> dict[str, Any]:
    """Index settings, from the same synonyms file as the postgres adapter."""
    table: dict[str, list[str]] = {}
    for phrase, group in synonyms.by_phrase.items():
        table[" ".join(phrase)] = [" ".join(p) for p in group if p != phrase]
    return {
        "searchableAttributes": SEARCHABLE,
        "filterableAttributes": FILTERABLE,
        "sortableAttributes": SORTABLE,
        "displayedAttributes": ["*"],
        "distinctAttribute": "program_id",
        "rankingRules": RANKING_RULES,
        "synonyms": table,
        "stopWords": sorted(stop_words),
        "typoTolerance": {
            "enabled": True,
            "minWordSizeForTypos": {"oneTypo": 5, "twoTypos": 9},
        },
        "faceting": {"maxValuesPerFacet": 100},
        "pagination": {"maxTotalHits": MAX_HITS},
        "localizedAttributes": [
            {"attributePatterns": ["*_es"], "locales": ["spa"]},
            {"attributePatterns": ["name", "description", "terms"], "locales": ["eng"]},
        ],
    }


def settings_differ(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether an index's settings (as Meilisearch reports them) differ from ours in any
    key we set. Lists whose order carries no meaning compare as sets."""
    unordered = {"filterableAttributes", "sortableAttributes", "stopWords"}
    for key, value in wanted.items():
        have = current.get(key)
        if key in unordered and isinstance(have, list):
            if sorted(map(str, have)) != sorted(map(str, value)):
                return True
        elif key == "synonyms" and isinstance(have, dict):
            if {k: sorted(v) for k, v in have.items()} != {k: sorted(v) for k, v in value.items()}:
                return True
        elif key == "typoTolerance" and isinstance(have, dict):
            if any(have.get(k) != v for k, v in value.items()):
                return True
        elif key == "faceting" and isinstance(have, dict):
            if have.get("maxValuesPerFacet") != value["maxValuesPerFacet"]:
                return True
        elif key == "pagination" and isinstance(have, dict):
            if have.get("maxTotalHits") != value["maxTotalHits"]:
                return True
        elif have != value:
            return True
    return False


def _day_int(d: date) -> int:
    return d.year * 10_000 + d.month * 100 + d.day


def _json_number(value: Decimal) -> float:
    return float(value)


def documents(doc: SearchDocument) -> list[dict[str, Any]]:
    """The Meilisearch documents of one program: one per physical site."""
    base: dict[str, Any] = {
        "program_id": str(doc.program_id),
        "name": doc.name,
        "name_es": doc.name_es,
        "description": doc.description,
        "description_es": doc.description_es,
        "terms": doc.terms,
        "terms_es": doc.terms_es,
        "organization_name": doc.organization_name,
        "name_sort": doc.name.casefold(),
        "term_codes": list(doc.term_codes),
        "category": doc.category,
        "age_lo": _json_number(doc.age_lo),
        "age_hi": _json_number(doc.age_hi),
        "age_bands": list(doc.age_bands),
        "grade_lo": doc.grade_lo,
        "grade_hi": doc.grade_hi,
        "cost_band": doc.cost_band,
        "languages": list(doc.languages),
        "days": list(doc.days),
        "season": doc.season,
        "runs_from": _day_int(doc.runs_from),
        "runs_to": _day_int(doc.runs_to),
        "enrollment_status": doc.enrollment_status,
        "registration_deadline": (
            _day_int(doc.registration_deadline) if doc.registration_deadline else NO_DEADLINE
        ),
        "accepting_referrals": doc.accepting_referrals,
        "transportation": doc.transportation,
        "accessibility": list(doc.accessibility),
        "virtual": doc.virtual,
        "in_person": doc.in_person,
        "last_verified_at": int(doc.last_verified_at.timestamp()) if doc.last_verified_at else 0,
        "zips": list(doc.zips),
        "tracts": list(doc.tracts),
        "in_city": doc.in_city,
        "display": doc.display,
    }
    if doc.monthly_cost is not None:
        base["monthly_cost"] = _json_number(doc.monthly_cost)
    for i, (day, opens, closes) in enumerate(doc.slots[:MAX_SLOTS]):
        base |= {f"slot_{i}_day": day, f"slot_{i}_open": opens, f"slot_{i}_close": closes}
    points = doc.points or ((None, None),)
    return [
        {
            **base,
            "id": f"{doc.program_id}-{i}",
            "site": i,
            **({"_geo": {"lat": lat, "lng": lng}} if lat is not None else {}),
        }
        for i, (lat, lng) in enumerate(points)
    ]


def quote(value: str) -> str:
    """A Meilisearch filter string literal."""
    return json.dumps(value, ensure_ascii=False)


def _in(attribute: str, values: Iterable[str]) -> str:
    return f"{attribute} IN [{', '.join(quote(v) for v in values)}]"


def slot_filter(q: SearchQuery, days: Iterable[str]) -> str:
    """Some stored slot on one of `days` (any when empty) inside q's time window."""
    opens, closes = q.window_minutes
    wanted = [[w.value for w in WEEKDAYS].index(d) for d in days]
    alternatives = []
    for i in range(MAX_SLOTS):
        parts = [f"slot_{i}_open >= {opens}", f"slot_{i}_close <= {closes}"]
        if wanted:
            parts.insert(0, f"slot_{i}_day IN [{', '.join(map(str, wanted))}]")
        alternatives.append("(" + " AND ".join(parts) + ")")
    return "(" + " OR ".join(alternatives) + ")"


def _number(value: Any) -> Any:
    """A filter value as Meilisearch compares it (dates and instants are numbers here)."""
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, date):
        return _day_int(value)
    return value


def _flag(attribute: str, value: bool) -> str:
    return f"{attribute} = {'true' if value else 'false'}"


def _on_date(fields: tuple[str, ...], value: date, q: SearchQuery) -> str:
    season, runs_from, runs_to = fields
    day = _day_int(value)
    seasons = _in(season, [s.value for s in seasons_on(value)])
    return f"{seasons} AND {runs_from} <= {day} AND {runs_to} >= {day}"


def _open(fields: tuple[str, ...], value: bool, q: SearchQuery) -> str:
    status, deadline = fields
    is_open = f'({status} = "open" AND {deadline} >= {_day_int(q.today)})'
    return is_open if value else f"NOT {is_open}"


def _radius(fields: tuple[str, ...], value: int, q: SearchQuery) -> str | None:
    if q.near is None:
        return None
    return f"_geoRadius({q.near.lat}, {q.near.lng}, {value})"


_KINDS: dict[Kind, Callable[[tuple[str, ...], Any, SearchQuery], str | None]] = {
    Kind.ANY: lambda f, v, q: _in(f[0], v),
    Kind.ALL: lambda f, v, q: " AND ".join(f"{f[0]} = {quote(x)}" for x in v),
    Kind.FLAG: lambda f, v, q: _flag(f[0], bool(v)),
    Kind.AT_LEAST: lambda f, v, q: f"{f[0]} >= {_number(v)}",
    Kind.AT_MOST: lambda f, v, q: f"{f[0]} <= {_number(v)}",
    Kind.COVERS: lambda f, v, q: f"{f[0]} <= {_number(v)} AND {f[1]} >= {_number(v)}",
    Kind.ZERO: lambda f, v, q: f"{f[0]} = 0" if v else f"{f[0]} > 0",
    Kind.EITHER: lambda f, v, q: _flag(f[0] if v else f[1], True),
    Kind.ON_DATE: _on_date,
    Kind.OPEN: _open,
    Kind.RADIUS: _radius,
    Kind.WINDOW: lambda f, v, q: slot_filter(q, q.get("day") or ()),
}
assert set(_KINDS) == set(Kind)


def filters(q: SearchQuery) -> list[str]:
    """q's filters as Meilisearch filter expressions (ANDed by the caller)."""
    out: list[str] = []
    for spec in FILTERS:
        value = q.get(spec.name)
        if value is None:
            continue
        if spec.kind is Kind.WINDOW and spec.name != "time_from" and q.get("time_from") is not None:
            continue  # one window expression for time_from and time_to
        if (expression := _KINDS[spec.kind](spec.fields, value, q)) is not None:
            out.append(expression)
    return out


def sort(q: SearchQuery) -> list[str] | None:
    by_name = ["name_sort:asc", "program_id:asc"]
    chosen = q.effective_sort
    if chosen is Sort.relevance:
        return None
    if chosen is Sort.distance and q.near is not None:
        return [f"_geoPoint({q.near.lat}, {q.near.lng}):asc", *by_name]
    if chosen is Sort.recently_verified:
        return ["last_verified_at:desc", *by_name]
    return by_name


def search_request(index: str, q: SearchQuery) -> dict[str, Any]:
    """The main multi-search query: one page of hits, highlighted."""
    request: dict[str, Any] = {
        "indexUid": index,
        "q": q.text or "",
        "filter": filters(q),
        "page": q.page,
        "hitsPerPage": q.per_page,
        "matchingStrategy": "all",
        "attributesToHighlight": ["name", "name_es", "description", "description_es"],
        "highlightPreTag": MARK_START,
        "highlightPostTag": MARK_END,
        "attributesToCrop": ["description", "description_es"],
        "cropLength": 24,
        "cropMarker": " … ",
    }
    if (order := sort(q)) is not None:
        request["sort"] = order
    facets_here = [FACET_ATTRIBUTE[f] for f in q.facets if not _separate(q, f)]
    if facets_here:
        request["facets"] = facets_here
    return request


def _separate(q: SearchQuery, facet: Facet) -> bool:
    """A facet needs its own query when q filters its group or (day) has a time window."""
    return q.filters_facet(facet) or (facet is Facet.day and q.has_window)


def facet_requests(index: str, q: SearchQuery) -> list[tuple[Facet, str | None, dict[str, Any]]]:
    """Extra count queries for disjunctive facets: (facet, value or None, request)."""
    out: list[tuple[Facet, str | None, dict[str, Any]]] = []
    for facet in q.facets:
        if not _separate(q, facet):
            continue
        free = q.without(facet)
        base = {"indexUid": index, "q": q.text or "", "matchingStrategy": "all", "hitsPerPage": 0}
        if facet is Facet.day and q.has_window:
            for day in WEEKDAYS:
                day_filter = [*filters(free), _in("days", [day.value]), slot_filter(q, [day.value])]
                out.append((facet, day.value, {**base, "page": 1, "filter": day_filter}))
        else:
            request = {
                **base,
                "page": 1,
                "filter": filters(free),
                "facets": [FACET_ATTRIBUTE[facet]],
            }
            out.append((facet, None, request))
    return out
