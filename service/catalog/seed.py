"""Load the sample catalog in seeds/ (idempotent: ids are uuid5 of each record's key)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from service.catalog.enums import OrganizationType
from service.catalog.models import Location, Organization, Program, Taxonomy, TaxonomyTerm
from service.catalog.schemas import LocationFields, OrganizationFields, ProgramFields
from service.catalog.service import apply_program_fields
from service.db import utcnow
from service.geometry import point_element

SEED_NAMESPACE = uuid.UUID("0b4f5a52-7d0c-4a43-9d6f-3c1f8e2a9b60")


def seed_id(kind: str, key: str) -> uuid.UUID:
    return uuid.uuid5(SEED_NAMESPACE, f"{kind}:{key}")


@dataclass
class SeedSummary:
    taxonomy_terms: int
    organizations: int
    locations: int
    programs: int


async def _upsert(session: AsyncSession, model: type[Any], ident: uuid.UUID, **values: Any) -> Any:
    row = await session.get(model, ident)
    if row is None:
        row = model(id=ident)
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    return row


async def load_seed_file(session: AsyncSession, path: Path) -> SeedSummary:
    data = json.loads(await anyio.Path(path).read_text(encoding="utf-8"))
    tax = data["taxonomy"]
    taxonomy_id = seed_id("taxonomy", tax["key"])
    await _upsert(
        session,
        Taxonomy,
        taxonomy_id,
        name=tax["name"],
        description=tax.get("description", ""),
        version=tax.get("version"),
    )
    for term in data["taxonomy_terms"]:
        await _upsert(
            session,
            TaxonomyTerm,
            seed_id("term", term["code"]),
            taxonomy_id=taxonomy_id,
            code=term["code"],
            name=term["name"],
            name_es=term.get("name_es"),
            description=term.get("description", ""),
        )
    await session.flush()

    n_locations = 0
    for org in data["organizations"]:
        fields = OrganizationFields.model_validate(
            {k: org.get(k) for k in OrganizationFields.model_fields}
        )
        org_id = seed_id("organization", org["key"])
        await _upsert(
            session,
            Organization,
            org_id,
            type=OrganizationType.provider,
            verified=bool(org.get("verified")),
            external_id=f"seed:{org['key']}",
            **fields.model_dump(mode="json"),
        )
        await session.flush()
        for loc in org.get("locations", []):
            values = LocationFields.model_validate(
                {k: v for k, v in loc.items() if k in LocationFields.model_fields}
            )
            point = (
                point_element(values.latitude, values.longitude)
                if values.latitude is not None and values.longitude is not None
                else None
            )
            await _upsert(
                session,
                Location,
                seed_id("location", loc["key"]),
                organization_id=org_id,
                point=point,
                **values.model_dump(exclude={"latitude", "longitude"}),
            )
            n_locations += 1
    await session.flush()

    now = utcnow()
    for item in data["programs"]:
        program_id = seed_id("program", item["key"])
        program_fields = ProgramFields.model_validate(
            {
                **{k: v for k, v in item.items() if k in ProgramFields.model_fields},
                "location_ids": [seed_id("location", k) for k in item.get("location_keys", [])],
            }
        )
        program = await session.scalar(
            select(Program)
            .where(Program.id == program_id)
            .options(
                selectinload(Program.locations),
                selectinload(Program.taxonomy_terms),
                selectinload(Program.cost_options),
                selectinload(Program.schedules),
            )
        )
        if program is None:
            program = Program(
                id=program_id, cost_options=[], schedules=[], locations=[], taxonomy_terms=[]
            )
            session.add(program)
        program.organization_id = seed_id("organization", item["organization"])
        await apply_program_fields(session, program, program_fields)
        days = item.get("last_verified_days_ago")
        program.last_verified_at = None if days is None else now - timedelta(days=days)
    await session.flush()
    return SeedSummary(
        taxonomy_terms=len(data["taxonomy_terms"]),
        organizations=len(data["organizations"]),
        locations=n_locations,
        programs=len(data["programs"]),
    )
