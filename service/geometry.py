"""The one place where geometry changes form: GeoJSON <-> shapely <-> PostGIS (WKB/EWKT)."""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

SRID = 4326


class GeometryError(ValueError):
    """Input that is not a usable geometry."""


def point_element(latitude: float, longitude: float) -> WKTElement:
    """A lon/lat point ready for a geography(Point, 4326) column."""
    return WKTElement(f"POINT({longitude} {latitude})", srid=SRID)


def point_coords(element: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a stored point, or None."""
    if element is None:
        return None
    geom = to_shape(element)
    assert isinstance(geom, Point)
    return geom.y, geom.x


def as_multipolygon(geom: BaseGeometry) -> MultiPolygon:
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    if isinstance(geom, MultiPolygon):
        return geom
    raise GeometryError(f"expected a Polygon or MultiPolygon, got {geom.geom_type}")


def geojson_to_multipolygon(geojson: dict[str, Any]) -> MultiPolygon:
    """Parse a GeoJSON Polygon/MultiPolygon, refusing invalid or out-of-range shapes."""
    try:
        geom = shape(geojson)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise GeometryError(f"not a GeoJSON geometry: {exc}") from exc
    except shapely.errors.ShapelyError as exc:
        raise GeometryError(str(exc)) from exc
    multi = as_multipolygon(geom)
    if multi.is_empty:
        raise GeometryError("the geometry is empty")
    minx, miny, maxx, maxy = multi.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeometryError("coordinates must be longitude, latitude in degrees")
    if not multi.is_valid:
        raise GeometryError(f"invalid geometry: {shapely.is_valid_reason(multi)}")
    return multi


def multipolygon_element(geom: MultiPolygon) -> WKBElement:
    return from_shape(geom, srid=SRID)


def to_geojson(element: Any) -> dict[str, Any] | None:
    """GeoJSON geometry (RFC 7946) of a stored geometry (an ORM element, or the hex EWKB
    text the driver returns for a geometry column), or None."""
    if element is None:
        return None
    if isinstance(element, str | bytes):
        return dict(mapping(shapely.from_wkb(element)))
    return dict(mapping(to_shape(element)))
