"""Directory health and geographic access: what the catalog offers, and where.

Access places each census tract at its point on surface (ST_PointOnSurface: a point
guaranteed inside the tract, unlike the centroid of a concave or multi-part tract) and
counts the active programs of a category with a site within the distance of it.
Tracts with none are "program deserts".
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth.scope import public_program_sql
from service.catalog import languages as language_names
from service.db import utcnow
from service.metrics.schemas import (
    AccessReport,
    CategoryStatusCount,
    DirectoryHealth,
    TractAccess,
)

VERIFIED_WITHIN = timedelta(days=180)
PLACEMENT = "point_on_surface"


async def directory_health(session: AsyncSession) -> DirectoryHealth:
    counts = await session.execute(
        text(
            "SELECT category, status, count(*) AS programs FROM programs "
            "GROUP BY category, status ORDER BY category, status"
        )
    )
    summary = (
        await session.execute(
            text(
                """SELECT count(*) AS active,
                          count(*) FILTER (WHERE last_verified_at >= :since) AS verified,
                          count(*) FILTER (WHERE accepting_referrals
                              AND (seats_available IS NULL OR seats_available > 0)) AS open_seats
                     FROM programs WHERE """  # noqa: S608 - our own predicate
                + public_program_sql()
            ),
            {"since": utcnow() - VERIFIED_WITHIN},
        )
    ).one()
    return DirectoryHealth(
        by_category_and_status=[
            CategoryStatusCount(category=r.category, status=r.status, programs=r.programs)
            for r in counts
        ],
        active_programs=summary.active,
        verified_within_180_days=summary.verified,
        verified_within_180_days_share=round(summary.verified / summary.active, 4)
        if summary.active
        else None,
        accepting_referrals_with_capacity=summary.open_seats,
    )


ACCESS_SQL = """
WITH t AS (
    SELECT code, name, geom, ST_PointOnSurface(geom)::geography AS place
      FROM areas WHERE kind = 'tract'
), p AS (
    SELECT DISTINCT ON (p.id, l.id) p.id, p.languages, l.point,
           EXISTS (SELECT 1 FROM cost_options c WHERE c.program_id = p.id AND c.free) AS free
      FROM programs p
      JOIN program_locations pl ON pl.program_id = p.id
      JOIN locations l ON l.id = pl.location_id
     WHERE {public} AND l.point IS NOT NULL
       AND (CAST(:category AS text) IS NULL OR p.category = :category)
), m AS (
    SELECT t.code, p.id, p.free, p.languages
      FROM t JOIN p ON ST_DWithin(p.point, t.place, :distance)
)
SELECT t.code, t.name,
       count(DISTINCT m.id) AS programs,
       count(DISTINCT m.id) FILTER (WHERE m.free) AS free_programs,
       coalesce((SELECT array_agg(DISTINCT lang ORDER BY lang)
                   FROM m AS m2, unnest(m2.languages) AS lang
                  WHERE m2.code = t.code), '{}') AS languages,
       ST_Y(t.place::geometry) AS latitude, ST_X(t.place::geometry) AS longitude,
       CASE WHEN :geometry THEN ST_AsGeoJSON(t.geom, 6) END AS geometry
  FROM t LEFT JOIN m ON m.code = t.code
 GROUP BY t.code, t.name, t.geom, t.place
 ORDER BY t.code
""".replace("{public}", public_program_sql("p"))


async def access(
    session: AsyncSession, category: str | None, distance_m: int, with_geometry: bool
) -> tuple[AccessReport, dict[str, Any]]:
    """The report, and each tract's GeoJSON geometry (when asked) by tract code."""
    rows = await session.execute(
        text(ACCESS_SQL),
        {"category": category, "distance": distance_m, "geometry": with_geometry},
    )
    tracts, shapes = [], {}
    for r in rows:
        tracts.append(
            TractAccess(
                tract=r.code,
                name=r.name,
                latitude=round(r.latitude, 6),
                longitude=round(r.longitude, 6),
                programs=r.programs,
                free_programs=r.free_programs,
                languages=list(r.languages),
                language_names=[language_names.name(c) for c in r.languages],
            )
        )
        if r.geometry:
            shapes[r.code] = json.loads(r.geometry)
    report = AccessReport(
        category=category,
        distance_m=distance_m,
        placement=PLACEMENT,
        tracts=tracts,
        deserts=[t.tract for t in tracts if t.programs == 0],
    )
    return report, shapes


def access_features(report: AccessReport, shapes: dict[str, Any]) -> dict[str, Any]:
    """Tract polygons with the measures as properties, ready to colour on a map."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": t.tract,
                "geometry": shapes.get(t.tract),
                "properties": {
                    **t.model_dump(mode="json"),
                    "desert": t.programs == 0,
                    "category": report.category,
                    "distance_m": report.distance_m,
                },
            }
            for t in report.tracts
        ],
    }
