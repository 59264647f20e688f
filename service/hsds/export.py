"""Exporting the catalog as HSDS 3.0: ndjson of full services, or the tabular data package.

Both are built from the read API's mapping (hsds/mapping.py), in batches, so memory stays
flat however large the catalog. `import-hsds` reads both back; export followed by import
into an empty database reproduces the catalog (tests/hsds/test_roundtrip.py).
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.hsds import mapping, queries
from service.hsds.mapping import EXTENSION
from service.hsds.queries import ServiceFilter
from service.hsds.reader import NUMERIC

# Table -> its columns (HSDS field names; `youthlink` holds our extension as JSON).
TABLES: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "description", "email", "website", EXTENSION),
    "phones": ("id", "organization_id", "number"),
    "services": (
        "id", "organization_id", "name", "description", "url", "email", "status",
        "minimum_age", "maximum_age", "assured_date", "last_modified", EXTENSION,
    ),
    "locations": (
        "id", "location_type", "organization_id", "name", "latitude", "longitude", EXTENSION,
    ),
    "addresses": (
        "id", "location_id", "address_1", "city", "state_province", "postal_code", "country",
        "address_type",
    ),
    "service_at_location": ("id", "service_id", "location_id"),
    "schedules": (
        "id", "service_id", "freq", "interval", "byday", "opens_at", "closes_at", "valid_from",
        "valid_to", "description",
    ),
    "cost_options": (
        "id", "service_id", "option", "amount", "currency", "amount_description", EXTENSION,
    ),
    "languages": ("id", "service_id", "code", "name"),
    "service_areas": ("id", "service_id", "name", "extent", "extent_type"),
    "attributes": ("id", "link_id", "link_type", "link_entity", "taxonomy_term_id", "value"),
    "taxonomy_terms": (
        "id", "code", "name", "description", "parent_id", "taxonomy", "taxonomy_id", "language",
        EXTENSION,
    ),
    "taxonomies": ("id", "name", "description", "uri", "version"),
}  # fmt: skip


async def full_services(session: AsyncSession) -> AsyncIterator[dict[str, Any]]:
    async for batch in queries.stream_services(session, ServiceFilter()):
        taxonomies, links = await queries.context_of(session, batch)
        for program in batch:
            yield mapping.service_full(program, taxonomies, links[program.id])


async def write_ndjson(session: AsyncSession, out: IO[str]) -> int:
    count = 0
    async for service in full_services(session):
        out.write(json.dumps(service, separators=(",", ":"), ensure_ascii=False) + "\n")
        count += 1
    return count


class _Tables:
    """CSV writers for each table, writing each record once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.files = {
            t: (directory / f"{t}.csv").open("w", newline="", encoding="utf-8") for t in TABLES
        }
        self.writers = {
            t: csv.DictWriter(f, fieldnames=TABLES[t], extrasaction="ignore")
            for t, f in self.files.items()
        }
        for writer in self.writers.values():
            writer.writeheader()
        self.seen: set[tuple[str, str]] = set()

    def add(self, table: str, record: dict[str, Any]) -> None:
        key = (table, record["id"])
        if key in self.seen:
            return
        self.seen.add(key)
        row = {k: v for k, v in record.items() if not isinstance(v, dict | list) or k == EXTENSION}
        if EXTENSION in row:
            row[EXTENSION] = json.dumps(row[EXTENSION], separators=(",", ":"), ensure_ascii=False)
        self.writers[table].writerow(row)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def _descriptor() -> dict[str, Any]:
    return {
        "name": "youthlink-hsds",
        "profile": "tabular-data-package",
        "title": "Youthlink catalog in Open Referral HSDS 3.0",
        "resources": [
            {
                "name": table,
                "path": f"{table}.csv",
                "profile": "tabular-data-resource",
                "schema": {
                    "fields": [
                        {
                            "name": c,
                            "type": "number"
                            if c in NUMERIC
                            else "object"
                            if c == EXTENSION
                            else "string",
                        }
                        for c in columns
                    ]
                },
            }
            for table, columns in TABLES.items()
        ],
    }


async def write_package(session: AsyncSession, directory: Path) -> int:
    """Write the CSV files and datapackage.json into `directory`; returns the services.

    File writes block: this runs from the CLI, never on the API's event loop."""
    directory.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - CLI only
    tables = _Tables(directory)
    count = 0
    try:
        for taxonomy in (await queries.taxonomies_by_id(session)).values():
            tables.add("taxonomies", mapping.taxonomy(taxonomy))
        async for service in full_services(session):
            count += 1
            organization = service["organization"]
            tables.add("organizations", organization)
            for phone in organization.get("phones", []):
                tables.add("phones", phone)
            tables.add("services", service)
            for link in service["service_at_locations"]:
                location = link["location"]
                tables.add("locations", location)
                for address in location.get("addresses", []):
                    tables.add("addresses", address)
                tables.add("service_at_location", link)
            for name in ("schedules", "cost_options", "languages", "service_areas"):
                for child in service[name]:
                    tables.add(name, child)
            for attribute in service["attributes"]:
                tables.add("attributes", attribute)
                tables.add("taxonomy_terms", attribute["taxonomy_term"])
    finally:
        tables.close()
    (directory / "datapackage.json").write_text(json.dumps(_descriptor(), indent=2) + "\n")
    return count
