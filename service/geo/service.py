"""Geodata in the database: loading layers, listing areas, labelling locations."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog import places
from service.catalog.places import AddressParts
from service.errors import NotFound
from service.geo.loader import Layers, read_directory
from service.geo.models import Area, AreaKind
from service.geometry import multipolygon_element, to_geojson
from service.pagination import PageParams, fetch_page

LOAD_HINT = (
    "No geodata is loaded. Run `python -m service load-geodata DIR` with a directory of "
    "GeoJSON files or Census TIGER/Line zips (see geodata/README.md)."
)


@dataclass
class LoadSummary:
    areas: dict[str, int]
    schools: int
    locations_labelled: int
    skipped: list[str]


async def load_layers(session: AsyncSession, layers: Layers) -> LoadSummary:
    counts: dict[str, int] = {}
    for record in layers.areas:
        stmt = insert(Area).values(
            id=uuid.uuid4(),
            kind=record.kind,
            code=record.code,
            name=record.name,
            geom=multipolygon_element(record.geometry),
            properties=record.properties,
            source=record.source,
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["kind", "code"],
                set_={
                    "name": stmt.excluded.name,
                    "geom": stmt.excluded.geom,
                    "properties": stmt.excluded.properties,
                    "source": stmt.excluded.source,
                    "loaded_at": func.now(),
                },
            )
        )
        counts[record.kind.value] = counts.get(record.kind.value, 0) + 1

    for school in layers.schools:
        props = school.properties
        await places.upsert_school(
            session,
            code=school.code,
            name=school.name,
            phone=str(props["phone"]) if props.get("phone") else None,
            address=AddressParts(
                address_1=props.get("address"),
                city=props.get("city"),
                state=props.get("state"),
                postal_code=props.get("zip"),
            ),
            latitude=school.point.y,
            longitude=school.point.x,
        )
    await session.flush()
    labelled = await places.relabel_locations(session)
    return LoadSummary(counts, len(layers.schools), labelled, layers.skipped)


async def load_directory(
    session: AsyncSession, directory: Path, city_geoid: str | None = None
) -> LoadSummary:
    return await load_layers(session, read_directory(directory, city_geoid))


async def has_geodata(session: AsyncSession) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(Area)))


async def list_areas(
    session: AsyncSession, params: PageParams, kind: AreaKind | None
) -> tuple[Sequence[Area], int]:
    query = select(Area)
    if kind is not None:
        query = query.where(Area.kind == kind)
    return await fetch_page(session, query, params, Area.kind, Area.code)


async def get_area(session: AsyncSession, kind: AreaKind, code: str) -> tuple[Area, dict]:  # type: ignore[type-arg]
    area = await session.scalar(select(Area).where(Area.kind == kind, Area.code == code))
    if area is None:
        detail = f"No {kind.value} area with code {code}."
        if not await has_geodata(session):
            detail += " " + LOAD_HINT
        raise NotFound(detail, code="area_not_found")
    geometry = to_geojson(area.geom)
    assert geometry is not None
    return area, geometry


async def postgis_version(session: AsyncSession) -> str:
    return str(await session.scalar(text("SELECT postgis_lib_version()")))
