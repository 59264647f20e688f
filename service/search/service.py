"""Search use cases: check a query's references, ask the backend, shape the answer."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.views import grade_of
from service.errors import FieldError, Unprocessable
from service.geo.service import LOAD_HINT, has_geodata
from service.pagination import PageParams
from service.search.engines import Searching
from service.search.port import SearchResult, nearest_location
from service.search.query import MAX_HITS, SearchQuery
from service.search.schemas import (
    FacetCount,
    HitCollection,
    HitFeature,
    SearchHit,
    SearchPage,
)

_KNOWN = text(
    """
    SELECT 'zip' AS kind, code FROM areas WHERE kind = 'zip' AND code = ANY(:zips)
    UNION ALL
    SELECT 'tract', code FROM areas WHERE kind = 'tract' AND code = ANY(:tracts)
    UNION ALL
    SELECT 'city', code FROM areas WHERE kind = 'city' AND :city
    UNION ALL
    SELECT 'taxonomy_term', code FROM taxonomy_terms WHERE code = ANY(:terms)
    """
)


async def check_references(session: AsyncSession, q: SearchQuery) -> None:
    """Unknown ZIPs, tracts and taxonomy terms are 422s, not silently empty results."""
    zips, tracts = q.get("zip") or (), q.get("tract") or ()
    within_city, terms = bool(q.get("within")), q.get("taxonomy_term") or ()
    if not (zips or tracts or within_city or terms):
        return
    rows = await session.execute(
        _KNOWN,
        {"zips": list(zips), "tracts": list(tracts), "city": within_city, "terms": list(terms)},
    )
    known = {(r.kind, r.code) for r in rows}
    has_city = any(kind == "city" for kind, _ in known)
    errors = [
        FieldError(loc=["query", param], msg=f"unknown {kind} {value}", type="unknown_reference")
        for param, kind, values in (
            ("zip", "zip", zips),
            ("tract", "tract", tracts),
            ("taxonomy_term", "taxonomy_term", terms),
        )
        for value in values
        if (kind, value) not in known
    ]
    if within_city and not has_city:
        errors.append(
            FieldError(
                loc=["query", "within"], msg="no city boundary is loaded", type="unknown_reference"
            )
        )
    if errors:
        place_errors = any(e.loc[1] in ("zip", "tract", "within") for e in errors)
        detail = "The search names areas or taxonomy terms that do not exist."
        if place_errors and not await has_geodata(session):
            detail += " " + LOAD_HINT
        raise Unprocessable(detail, code="unknown_reference", errors=errors)


async def search(session: AsyncSession, searching: Searching, q: SearchQuery) -> SearchResult:
    await check_references(session, q)
    return await searching.search(q)


def hits(result: SearchResult, q: SearchQuery) -> list[SearchHit]:
    out = []
    for hit in result.hits:
        d = hit.display
        out.append(
            SearchHit.model_validate(
                {
                    **d,
                    "name": hit.name,
                    "description": hit.description,
                    "language": hit.language,
                    "min_grade": grade_of(d["min_grade"]),
                    "max_grade": grade_of(d["max_grade"]),
                    "distance_m": None if hit.distance_m is None else round(hit.distance_m, 1),
                    "nearest_location": nearest_location(d, q.near),
                    "locations_count": len(d["locations"]),
                    "highlights": hit.highlights,
                }
            )
        )
    return out


def page(result: SearchResult, q: SearchQuery) -> SearchPage:
    base = SearchPage.build(hits(result, q), result.total, PageParams(q.page, q.per_page))
    return SearchPage(
        **base.model_dump(exclude={"contents", "facets", "total_items_exact"}),
        total_items_exact=result.total < MAX_HITS,
        contents=base.contents,
        facets={
            facet.value: [FacetCount(value=v.value, count=v.count) for v in values]
            for facet, values in result.facets.items()
        },
    )


def features(result: SearchResult, q: SearchQuery) -> HitCollection:
    listed = page(result, q)
    out = []
    for hit in listed.contents:
        site = hit.nearest_location
        geometry = (
            {"type": "Point", "coordinates": [site.longitude, site.latitude]}
            if site is not None and site.latitude is not None
            else None
        )
        out.append(
            HitFeature(id=str(hit.id), geometry=geometry, properties=hit.model_dump(mode="json"))
        )
    return HitCollection(
        features=out,
        total_items=listed.total_items,
        page_number=listed.page_number,
        total_pages=listed.total_pages,
    )
