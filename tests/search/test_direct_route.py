"""GET /search/programs is served by a plain Starlette route in front of FastAPI's
(service/search/router.py `direct_routes`): it must answer exactly as the documented
operation would, with what FastAPI's dependencies did for it done by hand."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from service.search.router import search_programs
from tests.conftest import Callers


async def test_it_is_the_route_that_serves(client: httpx.AsyncClient) -> None:
    app = client._transport.app  # type: ignore[attr-defined]
    served = next(r for r in app.router.routes if getattr(r, "path", "") == "/search/programs")
    assert served.endpoint is search_programs and type(served).__name__ == "Route"


async def test_unknown_parameters_and_nul_are_refused(client: httpx.AsyncClient) -> None:
    misspelt = await client.get("/search/programs", params={"catgory": "out_of_school_time"})
    assert misspelt.status_code == 422
    assert misspelt.headers["content-type"].startswith("application/problem+json")
    assert misspelt.json()["code"] == "unknown_query_parameter"
    nul = await client.get("/search/programs", params={"q": "soc\x00cer"})
    assert nul.status_code == 422 and nul.json()["errors"][0]["loc"] == ["query", "q"]


async def test_a_key_must_be_valid_when_sent(
    client: httpx.AsyncClient, callers: Callers, session: AsyncSession
) -> None:
    keyed = await client.get("/search/programs", headers=callers.provider_a.headers)
    assert keyed.status_code == 200, keyed.text
    bad = await client.get("/search/programs", headers={"Authorization": "Bearer yl_x_y"})
    assert bad.status_code == 401 and bad.json()["code"] == "invalid_api_key"
    assert bad.headers["www-authenticate"] == "Bearer"
    other_scheme = await client.get("/search/programs", headers={"Authorization": "Basic eDp5"})
    assert other_scheme.status_code == 200  # not a bearer credential: anonymous, as before


async def test_headers_are_validated_as_documented(client: httpx.AsyncClient) -> None:
    long_accept = await client.get("/search/programs", headers={"Accept": "a" * 501})
    assert long_accept.status_code == 422
    assert long_accept.json()["errors"][0]["loc"] == ["header", "accept"]
    long_language = await client.get("/search/programs", headers={"Accept-Language": "e" * 201})
    assert long_language.status_code == 422
    assert long_language.json()["errors"][0]["loc"] == ["header", "accept-language"]
    geojson = await client.get("/search/programs", headers={"Accept": "application/geo+json"})
    assert geojson.status_code == 200
    assert geojson.headers["content-type"].startswith("application/geo+json")
    assert geojson.headers["vary"].startswith("Accept, Accept-Language")


async def test_only_get_is_served(client: httpx.AsyncClient) -> None:
    assert (await client.head("/search/programs")).status_code == 405
    assert (await client.post("/search/programs")).status_code == 405


async def test_its_latency_is_observed_under_its_template(client: httpx.AsyncClient) -> None:
    await client.get("/search/programs", params={"q": "soccer"})
    body = (await client.get("/metrics")).text
    assert (
        'youthlink_http_request_duration_seconds_count{method="GET",route="/search/programs",'
        'status="200"}' in body
    )
