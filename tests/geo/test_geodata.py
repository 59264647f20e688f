"""Geodata: areas from files, tract and ZIP labels on locations, the loader's formats."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import httpx
import pytest
import shapefile
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.enums import OrganizationType
from service.catalog.models import Organization
from service.geo.loader import GeodataError, read_directory
from service.geo.models import AreaKind
from tests.conftest import Callers
from tests.factories import create_location


async def test_areas_list_every_loaded_layer(client: httpx.AsyncClient) -> None:
    tracts = (await client.get("/areas", params={"kind": "tract", "per_page": 100})).json()
    assert tracts["total_items"] == 22
    assert {a["code"] for a in tracts["contents"]} >= {"09001042500", "09001044600"}
    zips = (await client.get("/areas", params={"kind": "zip"})).json()
    assert sorted(a["code"] for a in zips["contents"]) == [
        "06850",
        "06851",
        "06853",
        "06854",
        "06855",
        "06856",
    ]
    city = (await client.get("/areas", params={"kind": "city"})).json()
    assert [a["code"] for a in city["contents"]] == ["0955990"]


async def test_area_is_a_geojson_feature(client: httpx.AsyncClient) -> None:
    response = await client.get("/areas/tract/09001043900")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    feature = response.json()
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] == "MultiPolygon"
    assert feature["properties"]["name"] == "Census Tract 439"
    missing = await client.get("/areas/zip/99999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_location_gets_its_tract_and_zip(client: httpx.AsyncClient, callers: Callers) -> None:
    # Norwalk City Hall, 125 East Ave.
    site = await create_location(client, callers.provider_a, lat=41.1126, lng=-73.4087)
    assert site["tract_geoid"] is not None and site["tract_geoid"].startswith("090010")
    assert site["zcta"] in {"06850", "06851", "06853", "06854", "06855", "06856"}
    elsewhere = await create_location(client, callers.provider_a, lat=40.7128, lng=-74.0060)
    assert elsewhere["tract_geoid"] is None and elsewhere["zcta"] is None


async def test_schools_became_school_organizations(session: AsyncSession) -> None:
    names = set(
        await session.scalars(
            select(Organization.name).where(Organization.type == OrganizationType.school)
        )
    )
    assert "Brien McMahon High School" in names
    assert len(names) >= 20


def _write_shapefile_zip(
    path: Path,
    name: str,
    fields: list[str],
    features: list[tuple[list[list[tuple[float, float]]], list[str]]],
) -> None:
    base = path.parent / name
    with shapefile.Writer(str(base), shapeType=shapefile.POLYGON) as writer:
        for field in fields:
            writer.field(field, "C", size=20)
        for rings, values in features:
            writer.poly(rings)
            writer.record(*values)
    with zipfile.ZipFile(path, "w") as archive:
        for ext in ("shp", "shx", "dbf"):
            archive.write(f"{base}.{ext}", f"{name}.{ext}")


def _square(x: float, y: float, size: float) -> list[list[tuple[float, float]]]:
    return [[(x, y), (x, y + size), (x + size, y + size), (x + size, y), (x, y)]]


def test_tiger_zips_are_clipped_to_the_city(tmp_path: Path) -> None:
    _write_shapefile_zip(
        tmp_path / "tl_2020_09_place.zip",
        "tl_2020_09_place",
        ["GEOID", "NAMELSAD"],
        [
            (_square(0, 0, 1), ["0900001", "Testville city"]),
            (_square(5, 5, 1), ["0900002", "Elsewhere town"]),
        ],
    )
    _write_shapefile_zip(
        tmp_path / "tl_2020_09_tract.zip",
        "tl_2020_09_tract",
        ["GEOID", "NAMELSAD"],
        [
            (_square(0, 0, 0.5), ["09001000100", "Tract 1"]),  # inside
            (_square(0.8, 0.8, 0.5), ["09001000200", "Tract 2"]),  # 16% inside: dropped
            (_square(5, 5, 0.5), ["09001000300", "Tract 3"]),
        ],  # elsewhere
    )
    with pytest.raises(GeodataError, match="YOUTHLINK_CITY_GEOID"):
        read_directory(tmp_path)
    layers = read_directory(tmp_path, city_geoid="0900001")
    kept = {(a.kind, a.code) for a in layers.areas}
    assert kept == {(AreaKind.city, "0900001"), (AreaKind.tract, "09001000100")}


def test_broken_geojson_is_reported_by_name(tmp_path: Path) -> None:
    (tmp_path / "city_boundary.geojson").write_text("{not json")
    with pytest.raises(GeodataError, match=r"city_boundary\.geojson"):
        read_directory(tmp_path)
    (tmp_path / "city_boundary.geojson").write_text(json.dumps({"type": "Feature"}))
    with pytest.raises(GeodataError, match="FeatureCollection"):
        read_directory(tmp_path)
