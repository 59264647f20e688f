"""Areas from geodata: the city, census tracts and ZIP code tabulation areas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from service.db import SessionDep
from service.errors import problem_responses
from service.geo import service
from service.geo.models import AreaKind
from service.geo.schemas import AreaFeature, AreaOut
from service.pagination import Page, PageParams, page_params

router = APIRouter(tags=["areas"])
GEOJSON = "application/geo+json"


@router.get(
    "/areas",
    operation_id="areas_list",
    summary="List loaded areas",
    description="Areas loaded with `python -m service load-geodata`. An empty list means no "
    "geodata is loaded yet; the service works without it (no tract/ZIP labels).",
    responses=problem_responses(422),
)
async def areas_list(
    session: SessionDep,
    pages: Annotated[PageParams, Depends(page_params)],
    kind: AreaKind | None = None,
) -> Page[AreaOut]:
    rows, total = await service.list_areas(session, pages, kind)
    return Page[AreaOut].build([AreaOut.model_validate(a) for a in rows], total, pages)


@router.get(
    "/areas/{kind}/{code}",
    operation_id="areas_get",
    summary="An area as a GeoJSON Feature",
    response_model=AreaFeature,
    responses={
        200: {"content": {GEOJSON: {"schema": {"$ref": "#/components/schemas/AreaFeature"}}}},
        **problem_responses(404, 422),
    },
)
async def areas_get(
    session: SessionDep,
    kind: AreaKind,
    code: Annotated[str, Path(max_length=20, pattern=r"^[0-9A-Za-z]+$")],
) -> JSONResponse:
    """Returns one loaded area (city, census tract or ZCTA) by kind and code as a GeoJSON Feature
    with media type `application/geo+json`; its properties hold the name, the source and the area's
    own attributes. No API key needed. An unknown code answers 404 (`area_not_found`), with a hint
    when no geodata is loaded at all.
    """
    area, geometry = await service.get_area(session, kind, code)
    feature = AreaFeature(
        id=f"{area.kind.value}/{area.code}",
        geometry=geometry,
        properties={
            "kind": area.kind.value,
            "code": area.code,
            "name": area.name,
            "source": area.source,
            **area.properties,
        },
    )
    return JSONResponse(feature.model_dump(), media_type=GEOJSON)
