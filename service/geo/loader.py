"""Read geodata layers from a directory: GeoJSON files or Census TIGER/Line shapefile zips.

Layers are recognised by file name:

| layer  | GeoJSON                        | TIGER/Line zip                  |
|--------|--------------------------------|---------------------------------|
| city   | *boundary.geojson              | tl_<year>_<state>_place.zip (*) |
| tract  | *tract*.geojson                | tl_<year>_<state>_tract.zip     |
| zip    | *zcta*.geojson, *zip*.geojson  | tl_<year>_us_zcta5*.zip         |
| school | *school*.geojson (points)      | -                               |

(*) a statewide place file holds many places: city_geoid picks the city.

TIGER files cover a whole state (or the nation), so tracts and ZCTAs read from zips are
kept only where they overlap the city boundary (tracts: at least half their area inside,
ZCTAs: at least 1%, the rule the shipped Norwalk files were cut with).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import shapefile
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from service.geo.models import AreaKind
from service.geometry import as_multipolygon

TRACT_SHARE_INSIDE = 0.5
ZCTA_SHARE_INSIDE = 0.01


class GeodataError(ValueError):
    """A geodata file that cannot be used, with the reason."""


@dataclass
class AreaRecord:
    kind: AreaKind
    code: str
    name: str
    geometry: BaseGeometry
    properties: dict[str, Any]
    source: str


@dataclass
class SchoolRecord:
    code: str
    name: str
    point: Point
    properties: dict[str, Any]
    source: str


@dataclass
class Layers:
    areas: list[AreaRecord] = field(default_factory=list)
    schools: list[SchoolRecord] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _layer_of(path: Path) -> tuple[str, str] | None:
    """(layer, format) for a file name, or None when the file is not a layer."""
    name = path.name.lower()
    if name.endswith((".geojson", ".json")):
        if "cartographic" in name:
            return None  # display-only outlines; the legal boundary is the city layer
        for layer, pattern in (
            ("school", r"school"),
            ("tract", r"tract"),
            ("zip", r"zcta|zip"),
            ("city", r"boundary|place|city"),
        ):
            if re.search(pattern, name):
                return layer, "geojson"
        return None
    if name.endswith(".zip") and name.startswith("tl_"):
        if name.endswith("_place.zip"):
            return "city", "tiger"
        if name.endswith("_tract.zip"):
            return "tract", "tiger"
        if "zcta5" in name:
            return "zip", "tiger"
    return None


def _geojson_features(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GeodataError(f"{path.name}: not readable GeoJSON ({exc})") from exc
    if data.get("type") != "FeatureCollection":
        raise GeodataError(f"{path.name}: expected a GeoJSON FeatureCollection")
    for feature in data.get("features", []):
        yield feature.get("geometry") or {}, feature.get("properties") or {}


def _tiger_features(path: Path) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    try:
        reader = shapefile.Reader(str(path))
    except (shapefile.ShapefileException, OSError) as exc:
        raise GeodataError(f"{path.name}: not a readable shapefile zip ({exc})") from exc
    with reader:
        for record in reader.iterShapeRecords():
            yield record.shape.__geo_interface__, record.record.as_dict()


def _first(props: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = props.get(key)
        if value not in (None, ""):
            return str(value)
    return None


def _area(kind: AreaKind, geom: dict[str, Any], props: dict[str, Any], source: str) -> AreaRecord:
    if kind is AreaKind.zip:
        code = _first(props, "zcta", "ZCTA5CE20", "ZCTA5CE10", "GEOID20", "GEOID10", "GEOID")
        name = f"ZIP {code}"
    else:
        code = _first(props, "GEOID", "GEOID20", "geoid")
        name = _first(props, "NAMELSAD", "NAME", "name") or str(code)
    if code is None:
        raise GeodataError(f"{source}: a {kind.value} feature has no GEOID/ZCTA code")
    try:
        geometry = as_multipolygon(shape(geom))
    except (ValueError, AttributeError, KeyError) as exc:
        raise GeodataError(f"{source}: {kind.value} {code}: {exc}") from exc
    if not geometry.is_valid:
        geometry = as_multipolygon(geometry.buffer(0))
    clean = {k: v for k, v in props.items() if isinstance(v, str | int | float | bool | list)}
    return AreaRecord(kind, code, name, geometry, clean, source)


def _school(geom: dict[str, Any], props: dict[str, Any], source: str) -> SchoolRecord:
    point = shape(geom)
    if not isinstance(point, Point):
        raise GeodataError(f"{source}: school features must be points")
    name = _first(props, "name", "NAME", "SCH_NAME")
    if name is None:
        raise GeodataError(f"{source}: a school has no name")
    code = _first(props, "ct_org_code", "NCESSCH", "school_id", "id") or name
    clean = {k: v for k, v in props.items() if isinstance(v, str | int | float | bool | list)}
    return SchoolRecord(code=code, name=name, point=point, properties=clean, source=source)


def _share_inside(geom: BaseGeometry, city: BaseGeometry) -> float:
    if geom.area == 0 or not geom.intersects(city):
        return 0.0
    return float(geom.intersection(city).area / geom.area)


def read_directory(directory: Path, city_geoid: str | None = None) -> Layers:
    """Every layer found in `directory`, clipped to the city for statewide TIGER files."""
    if not directory.is_dir():
        raise GeodataError(f"{directory} is not a directory")
    layers = Layers()
    tiger_pending: list[tuple[str, Path]] = []
    for path in sorted(directory.iterdir()):
        kind = _layer_of(path)
        if kind is None:
            if path.is_file() and path.suffix.lower() in {".geojson", ".json", ".zip"}:
                layers.skipped.append(path.name)
            continue
        layer, fmt = kind
        if fmt == "tiger":
            tiger_pending.append((layer, path))
            continue
        for geom, props in _geojson_features(path):
            if layer == "school":
                layers.schools.append(_school(geom, props, path.name))
            else:
                layers.areas.append(_area(AreaKind(layer), geom, props, path.name))

    # TIGER places first: tracts and ZCTAs are clipped to the city they define.
    tiger_pending.sort(key=lambda item: item[0] != "city")
    for layer, path in tiger_pending:
        if layer == "city":
            places = [
                _area(AreaKind.city, g, p, path.name)
                for g, p in _tiger_features(path)
                if city_geoid is None or _first(p, "GEOID") == city_geoid
            ]
            if len(places) != 1:
                raise GeodataError(
                    f"{path.name} holds {len(places)} places matching; set "
                    "YOUTHLINK_CITY_GEOID to the city's 7-digit place GEOID (Norwalk: 0955990)"
                )
            layers.areas.append(places[0])
            continue
        cities = [a.geometry for a in layers.areas if a.kind is AreaKind.city]
        if not cities:
            raise GeodataError(f"{path.name}: load a city boundary too, to clip statewide layers")
        city = cities[0]
        threshold = TRACT_SHARE_INSIDE if layer == "tract" else ZCTA_SHARE_INSIDE
        minx, miny, maxx, maxy = city.bounds
        for geom, props in _tiger_features(path):
            if not geom.get("coordinates"):
                continue
            candidate = _area(AreaKind(layer), geom, props, path.name)
            bx0, by0, bx1, by1 = candidate.geometry.bounds
            if bx1 < minx or bx0 > maxx or by1 < miny or by0 > maxy:
                continue
            if _share_inside(candidate.geometry, city) >= threshold:
                layers.areas.append(candidate)
    return layers
