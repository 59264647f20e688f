"""Areas loaded from geodata: the city boundary, census tracts, ZIP code tabulation areas."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import Enum, Index, String, UniqueConstraint, Uuid, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class AreaKind(StrEnum):
    city = "city"
    tract = "tract"
    zip = "zip"


class Area(Base):
    __tablename__ = "areas"
    __table_args__ = (
        UniqueConstraint("kind", "code"),
        Index("ix_areas_geom", "geom", postgresql_using="gist"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[AreaKind] = mapped_column(
        Enum(AreaKind, native_enum=False, create_constraint=True, length=10)
    )
    code: Mapped[str] = mapped_column(String(20), comment="GEOID of a tract/city, ZIP of a ZCTA")
    name: Mapped[str] = mapped_column(String(200))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=False))
    properties: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    source: Mapped[str] = mapped_column(String(300))
    loaded_at: Mapped[datetime] = mapped_column(server_default=func.now())
