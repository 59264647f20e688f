"""GET /search/programs (anyone, from any origin) and GET /search/status (administrators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from service import direct
from service.auth.principal import OPTIONAL_AUTH, Principal, bearer, require_roles
from service.auth.roles import Role
from service.db import SessionDep
from service.errors import problem_responses
from service.search import service
from service.search.engines import Searching
from service.search.params import accept_header, documented_parameters, search_params
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
    dependencies=[Depends(bearer)],  # documents the optional key; read below
    openapi_extra={**OPTIONAL_AUTH, "parameters": PARAMETERS},
    response_model=SearchPage,
    responses={
        200: {
            "content": {GEOJSON: {"schema": {"$ref": "#/components/schemas/HitCollection"}}},
        },
        **problem_responses(401),
    },
)
async def search_programs(request: Request) -> Response:
    """FastAPI documents this operation; a plain route serves it (service/direct.py), so
    it checks the caller, the query and the headers itself."""
    await direct.caller(request)
    query = await search_params(request)
    accept = accept_header(request)
    state = request.app.state
    result = await service.search(state.sessionmaker, state.search, query)
    headers = {"Content-Language": query.language, "Vary": "Accept, Accept-Language"}
    if accept and GEOJSON in accept:
        return Response(service.features(result, query), media_type=GEOJSON, headers=headers)
    return Response(service.page(result, query), media_type="application/json", headers=headers)


DIRECT = [direct.route("/search/programs", search_programs, "search_programs")]


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
