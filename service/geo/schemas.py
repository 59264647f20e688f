"""Area API schemas."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from service.geo.models import AreaKind
from service.schema_types import OutSchema


class AreaOut(OutSchema):
    kind: AreaKind
    code: str
    name: str
    source: str


class AreaFeature(BaseModel):
    """A GeoJSON Feature (RFC 7946) of one area."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any]
    properties: dict[str, Any]
