"""The /hsds read API's filters, formats and CORS on a small known catalog."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.models import Taxonomy, TaxonomyTerm
from tests.conftest import Callers
from tests.factories import create_location, create_program


async def _ids(client: httpx.AsyncClient, path: str, **params: Any) -> set[str]:
    response = await client.get(path, params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    return {item["id"] for item in response.json()["contents"]}


async def _catalog(client: httpx.AsyncClient, callers: Callers) -> dict[str, dict[str, Any]]:
    a, b = callers.provider_a, callers.provider_b
    site = await create_location(client, a)  # in Norwalk, ZIP 06851
    return {
        "homework": await create_program(client, a, location_ids=[site["id"]]),
        "teens": await create_program(
            client,
            b,
            name="Teen Robotics",
            description="Build robots.",
            min_age=13,
            max_age=18,
            min_grade="7",
            max_grade="12",
            schedules=[{"byday": ["SA"], "opens_at": "10:00", "closes_at": "12:00"}],
        ),
        "closed": await create_program(client, a, name="Old Club", status="inactive"),
    }


async def test_filters_combine_with_and(client: httpx.AsyncClient, callers: Callers) -> None:
    p = await _catalog(client, callers)
    home, teens = p["homework"]["id"], p["teens"]["id"]
    assert await _ids(client, "/hsds/services") == {home, teens}  # active only
    assert await _ids(client, "/hsds/services", search="robot") == {teens}
    org_b = str(callers.provider_b.organization_id)
    assert await _ids(client, "/hsds/services", organization_id=org_b) == {teens}
    assert await _ids(client, "/hsds/services", organization_id=org_b, search="homework") == set()
    assert await _ids(client, "/hsds/services", minimum_age=14) == {teens}
    assert await _ids(client, "/hsds/services", maximum_age=8) == {home}
    assert await _ids(client, "/hsds/services", day="SA") == {teens}
    assert await _ids(client, "/hsds/services", day="MO", start_time="14:30", end_time="17:30") == {
        home
    }
    assert await _ids(client, "/hsds/services", day="MO", start_time="15:30") == set()
    assert await _ids(client, "/hsds/services", modified_after="2999-01-01T00:00:00Z") == set()
    missing = await client.get(f"/hsds/services/{p['closed']['id']}")
    assert missing.status_code == 404


async def test_taxonomy_filters(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    taxonomy = Taxonomy(name="Test taxonomy", description="For tests")
    session.add(taxonomy)
    await session.flush()
    term = TaxonomyTerm(taxonomy_id=taxonomy.id, code="test-chess", name="Chess", description="")
    session.add(term)
    await session.commit()
    term_id, taxonomy_id = str(term.id), str(taxonomy.id)
    tagged = await create_program(
        client, callers.provider_a, name="Tagged", taxonomy_terms=["test-chess"]
    )
    await create_program(client, callers.provider_a, name="Untagged", taxonomy_terms=[])
    assert await _ids(client, "/hsds/services", taxonomy_term_id=term_id) == {tagged["id"]}
    assert tagged["id"] in await _ids(client, "/hsds/services", taxonomy_id=taxonomy_id)
    terms = await client.get("/hsds/taxonomy_terms", params={"taxonomy_id": taxonomy_id})
    assert terms.json()["total_items"] >= 1


async def test_postcode_and_proximity(client: httpx.AsyncClient, callers: Callers) -> None:
    p = await _catalog(client, callers)
    links = await client.get("/hsds/service_at_locations", params={"postcode": "06851"})
    assert links.status_code == 200, links.text
    assert {i["service_id"] for i in links.json()["contents"]} == {p["homework"]["id"]}
    near = await _ids(client, "/hsds/service_at_locations", postcode="06854", proximity=20_000)
    far = await _ids(client, "/hsds/service_at_locations", postcode="06854", proximity=10)
    assert len(near) == 1 and far == set()
    unknown = await client.get("/hsds/service_at_locations", params={"postcode": "99999"})
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_reference"
    alone = await client.get("/hsds/service_at_locations", params={"proximity": 100})
    assert alone.status_code == 422


async def test_ndjson_streams_the_whole_set(client: httpx.AsyncClient, callers: Callers) -> None:
    await _catalog(client, callers)
    response = await client.get("/hsds/services", params={"format": "ndjson", "per_page": 1})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    records = [json.loads(line) for line in response.text.splitlines()]
    assert len(records) == 2 and all("contents" not in r for r in records)
    minimal = await client.get("/hsds/services", params={"minimal": "true"})
    assert set(minimal.json()["contents"][0]) == {"id", "name", "status", "last_modified"}


async def test_cors_is_open_whatever_the_allow_list(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/hsds/services",
        headers={"Origin": "https://civic.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    response = await client.get("/hsds/taxonomies", headers={"Origin": "https://civic.example"})
    assert response.headers["access-control-allow-origin"] == "*"


async def test_bad_parameters_are_problems(client: httpx.AsyncClient) -> None:
    for params in (
        {"format": "xml"},
        {"minimum_age": "old"},
        {"day": "Monday"},
        {"taxonomy_term_id": "not-a-uuid"},
        {"per_page": 1000},
        {"frobnicate": 1},
        {"modified_after": "0.5"},
        {"search": "nul\x00byte"},
        {"modified_after": "2026-01-01"},
    ):
        response = await client.get("/hsds/services", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
