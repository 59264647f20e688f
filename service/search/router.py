"""GET /search/programs (anyone, from any origin) and GET /search/status (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel

from service.auth.principal import OPTIONAL_AUTH, Principal, PrincipalDep, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.search import service
from service.search.engines import Searching
from service.search.params import documented_parameters, search_params
from service.search.query import SearchQuery
from service.search.schemas import HitCollection, SearchPage, SearchStatus

router = APIRouter(tags=["search"])
GEOJSON = "application/geo+json"
EXTRA_SCHEMAS: list[type[BaseModel]] = [HitCollection]  # the geo+json 200 above refers to it
# search_params reads the query string itself; these are the parameters it reads, as
# FastAPI documents SearchParams, and the enums they refer to.
PARAMETERS, EXTRA_COMPONENTS = documented_parameters()

DESCRIPTION = """
Full-text, faceted and geographic search over active programs, in English and Spanish.

* **Words** (`q`) match names, descriptions, taxonomy terms and organization names in
  both languages, without accents, with synonyms (tutoring ~ homework help, soccer ~
  fútbol, ...) and typos (one in a word of 5-8 letters, two from 9).
* **Filters** combine with AND; the values of one repeatable filter with OR
  (`accessibility`: AND). Ages are years with one decimal.
* **Cost** is per month: see the README for how each period is normalised.
* **Facets** (`facets=category,language,...`) count values for the current query;
  each facet ignores its own filters, as a filter UI expects.
* **Places**: `near=lat,lng` (with `radius_m`), `zip`, `tract`, `within=city`. A
  multi-site program is one hit, at its nearest site.
* `Accept-Language: es` returns Spanish text where the provider wrote it;
  `Accept: application/geo+json` returns a GeoJSON FeatureCollection.
"""


async def searching_of(request: Request) -> Searching:
    return request.app.state.search


SearchingDep = Annotated[Searching, Depends(searching_of)]


@router.get(
    "/search/programs",
    operation_id="search_programs",
    summary="Search programs",
    description=DESCRIPTION,
    openapi_extra={**OPTIONAL_AUTH, "parameters": PARAMETERS},
    response_model=SearchPage,
    responses={
        200: {
            "content": {GEOJSON: {"schema": {"$ref": "#/components/schemas/HitCollection"}}},
        },
        **problem_responses(401),
    },
)
async def search_programs(
    session: SessionDep,
    principal: PrincipalDep,
    searching: SearchingDep,
    query: Annotated[SearchQuery, Depends(search_params)],
    accept: Annotated[str | None, Header(max_length=500)] = None,
) -> Response:
    result = await service.search(session, searching, query)
    headers = {"Content-Language": query.language, "Vary": "Accept, Accept-Language"}
    if accept and GEOJSON in accept:
        return Response(service.features(result, query), media_type=GEOJSON, headers=headers)
    body = service.page(result, query)
    return Response(body, media_type="application/json", headers=headers)


@router.get(
    "/search/status",
    operation_id="search_status",
    summary="Search index status and change log lag",
    responses=problem_responses(401, 403),
)
async def search_status(
    session: SessionDep,
    searching: SearchingDep,
    _: Annotated[Principal, require_roles(Role.admin)],
) -> SearchStatus:
    """Reports which engine serves searches, how many program documents it holds, and how
    far its index trails the catalog: the change log rows it has not applied yet and the age
    of the oldest. With the embedded engine these are the answering API process's own
    (each process follows the log itself); with Meilisearch, the worker's. Admin keys only.
    Answers 503 (`search_unavailable`) when the search server does not respond.
    """
    return await searching.status(session)
