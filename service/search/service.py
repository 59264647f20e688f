"""Search use cases: check a query's references, ask the backend, shape the answer."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.errors import FieldError, Unprocessable
from service.geo.service import LOAD_HINT, has_geodata
from service.pagination import envelope
from service.search.engines import Searching
from service.search.hits import spliced
from service.search.port import Hit, SearchResult
from service.search.query import MAX_HITS, SearchQuery

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


async def check_references(sessions: async_sessionmaker[AsyncSession], q: SearchQuery) -> None:
    """Unknown ZIPs, tracts and taxonomy terms are 422s, not silently empty results. A
    session is opened only for a query that names some."""
    zips, tracts = q.get("zip") or (), q.get("tract") or ()
    within_city, terms = bool(q.get("within")), q.get("taxonomy_term") or ()
    if not (zips or tracts or within_city or terms):
        return
    async with sessions() as session:
        await _check(session, zips, tracts, within_city, terms)


async def _check(
    session: AsyncSession,
    zips: Sequence[str],
    tracts: Sequence[str],
    within_city: bool,
    terms: Sequence[str],
) -> None:
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


async def search(
    sessions: async_sessionmaker[AsyncSession], searching: Searching, q: SearchQuery
) -> SearchResult:
    """Check what the query names, then ask the engine."""
    await check_references(sessions, q)
    return await searching.search(q)


def hit(found: Hit) -> orjson.Fragment:
    """A hit as the SearchHit schema serializes it: its fixed JSON and the query's part."""
    return spliced(
        found.fixed,
        {
            "name": found.name,
            "description": found.description,
            "language": found.language,
            "distance_m": None if found.distance_m is None else round(found.distance_m, 1),
            "nearest_location": found.site,
            "highlights": {
                "name": found.highlights.get("name"),
                "description": found.highlights.get("description"),
            },
        },
    )


def page(result: SearchResult, q: SearchQuery) -> bytes:
    """The SearchPage JSON of a result (HSDS page envelope, facets)."""
    contents = [hit(h) for h in result.hits]
    return orjson.dumps(
        {
            **envelope(result.total, q.page, q.per_page, contents),
            "total_items_exact": result.total < MAX_HITS,
            "facets": {
                facet.value: [{"value": v.value, "count": v.count} for v in values]
                for facet, values in result.facets.items()
            },
        }
    )


def features(result: SearchResult, q: SearchQuery) -> bytes:
    """The HitCollection (GeoJSON FeatureCollection) JSON of a result."""
    out = []
    for found in result.hits:
        site = found.site
        geometry = (
            {"type": "Point", "coordinates": [site["longitude"], site["latitude"]]}
            if site is not None
            else None
        )
        out.append(
            {
                "type": "Feature",
                "id": str(found.program_id),
                "geometry": geometry,
                "properties": hit(found),
            }
        )
    return orjson.dumps(
        {
            "type": "FeatureCollection",
            "features": out,
            "total_items": result.total,
            "page_number": q.page,
            "total_pages": envelope(result.total, q.page, q.per_page, out)["total_pages"],
        }
    )
