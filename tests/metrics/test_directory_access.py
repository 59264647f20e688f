"""Directory health and access by census tract."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tests.conftest import Callers
from tests.factories import create_location, create_program


async def test_directory_health(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    a = callers.provider_a
    await create_program(client, a, name="Open", seats_available=5)
    await create_program(client, a, name="Full", seats_available=0)
    await create_program(client, a, name="Closed", status="inactive")
    verified = await create_program(client, a, name="Checked", category="family_support")
    await client.post(f"/programs/{verified['id']}/verify", headers=a.headers)
    body = (await client.get("/metrics/directory", headers=callers.analyst.headers)).json()
    counts = {(c["category"], c["status"]): c["programs"] for c in body["by_category_and_status"]}
    assert counts[("out_of_school_time", "active")] == 2
    assert counts[("out_of_school_time", "inactive")] == 1
    assert body["active_programs"] == 3
    assert body["verified_within_180_days"] == 1
    assert body["verified_within_180_days_share"] == round(1 / 3, 4)
    assert body["accepting_referrals_with_capacity"] == 2  # "Full" has no seats left
    csv = await client.get(
        "/metrics/directory", headers={**callers.analyst.headers, "Accept": "text/csv"}
    )
    assert csv.text.splitlines()[0] == "category,status,programs"


async def test_access_by_tract_and_deserts(client: httpx.AsyncClient, callers: Callers) -> None:
    a = callers.provider_a
    site = await create_location(client, a)  # Norwalk Green
    await create_program(client, a, name="Near", location_ids=[site["id"]], languages=["en", "es"])
    await create_program(
        client, a, name="Paid", location_ids=[site["id"]],
        cost_options=[{"amount": 40, "currency": "USD", "period": "month"}],
    )  # fmt: skip
    await create_program(
        client, a, name="Other kind", category="family_support", location_ids=[site["id"]]
    )
    params = {"category": "out_of_school_time", "distance_m": 1600}
    body = (
        await client.get("/metrics/access", params=params, headers=callers.analyst.headers)
    ).json()
    assert body["placement"] == "point_on_surface"
    reached = [t for t in body["tracts"] if t["programs"] > 0]
    assert reached, "the Green's own tract reaches its programs"
    for tract in reached:
        assert tract["programs"] == 2 and tract["free_programs"] == 1
        assert tract["languages"] == ["en", "es"] and tract["language_names"] == [
            "English",
            "Spanish",
        ]
    assert set(body["deserts"]) == {t["tract"] for t in body["tracts"] if t["programs"] == 0}
    assert len(body["deserts"]) > 0  # Norwalk's far tracts are more than a mile away
    geo = await client.get(
        "/metrics/access",
        params=params,
        headers={**callers.analyst.headers, "Accept": "application/geo+json"},
    )
    assert geo.headers["content-type"].startswith("application/geo+json")
    features = geo.json()["features"]
    assert len(features) == len(body["tracts"])
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in features)
    assert {f["id"] for f in features if f["properties"]["desert"]} == set(body["deserts"])
    csv = await client.get(
        "/metrics/access", params=params, headers={**callers.analyst.headers, "Accept": "text/csv"}
    )
    assert csv.text.splitlines()[0].startswith("tract,name,latitude,longitude,programs")
    assert len(csv.text.strip().splitlines()) == 1 + len(body["tracts"])


async def test_tracts_are_placed_inside_themselves(session: AsyncSession) -> None:
    outside = await session.scalar(
        text(
            "SELECT count(*) FROM areas WHERE kind = 'tract' "
            "AND NOT ST_Covers(geom, ST_PointOnSurface(geom))"
        )
    )
    assert outside == 0
