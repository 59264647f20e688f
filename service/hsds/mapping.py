"""Our catalog as Open Referral HSDS 3.0 records: pure functions from ORM rows to dicts.

One mapping serves the read API, the ndjson stream and the CSV data package. HSDS's
schemas type optional fields as plain strings or numbers (null is not allowed), so
absent values are left out rather than sent as null.

Fields of ours that HSDS has no home for travel in an extra object, `youthlink`, which
HSDS's open schemas allow; import reads it back, so an export re-imports whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from service.catalog import languages
from service.catalog.enums import Grade, ProgramStatus
from service.catalog.models import (
    CostOption,
    Location,
    Organization,
    Program,
    Schedule,
    Taxonomy,
    TaxonomyTerm,
)
from service.db import rfc3339
from service.geometry import point_coords, to_geojson
from service.hsds.ids import derived

EXTENSION = "youthlink"

# HSDS spells it with a space; our enum value uses an underscore.
STATUS_OUT = {s: s.value.replace("_", " ") for s in ProgramStatus}


def compact(value: Any) -> Any:
    """Drop None values (and empty extension objects) recursively."""
    if isinstance(value, dict):
        return {k: compact(v) for k, v in value.items() if v is not None and v != {}}
    if isinstance(value, list):
        return [compact(v) for v in value]
    return value


def _num(value: Decimal | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _clock(value: time) -> str:
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


# ---------------------------------------------------------------- taxonomy


def taxonomy(t: Taxonomy) -> dict[str, Any]:
    return compact(
        {
            "id": str(t.id),
            "name": t.name,
            "description": t.description or t.name,
            "uri": t.uri,
            "version": t.version,
        }
    )


def taxonomy_term(term: TaxonomyTerm, owner: Taxonomy) -> dict[str, Any]:
    return compact(
        {
            "id": str(term.id),
            "code": term.code,
            "name": term.name,
            "description": term.description or term.name,
            "parent_id": None if term.parent_id is None else str(term.parent_id),
            "taxonomy": owner.name,
            "taxonomy_id": str(owner.id),
            "taxonomy_detail": taxonomy(owner),
            "language": "en",
            EXTENSION: {"name_es": term.name_es},
        }
    )


def attributes(program: Program, taxonomies: dict[Any, Taxonomy]) -> list[dict[str, Any]]:
    """A service's taxonomy terms, as HSDS attributes carrying the term."""
    return [
        compact(
            {
                "id": str(derived("attribute", program.id, term.id)),
                "link_id": str(program.id),
                "link_type": "taxonomy_term",
                "link_entity": "service",
                "taxonomy_term_id": str(term.id),
                "value": term.code,
                "taxonomy_term": taxonomy_term(term, taxonomies[term.taxonomy_id]),
            }
        )
        for term in sorted(program.taxonomy_terms, key=lambda t: t.code)
    ]


# ---------------------------------------------------------------- organizations


def organization(org: Organization) -> dict[str, Any]:
    """The one-to-one fields (organization_list shape)."""
    return compact(
        {
            "id": str(org.id),
            "name": org.name,
            "description": org.description or "",
            "email": org.email,
            "website": org.website,
            "phones": [
                {
                    "id": str(derived("phone", org.id)),
                    "organization_id": str(org.id),
                    "number": org.phone,
                }
            ]
            if org.phone
            else None,
            EXTENSION: {"type": org.type.value, "verified": org.verified},
        }
    )


def organization_full(
    org: Organization, services: Sequence[dict[str, Any]], locations: Sequence[Location]
) -> dict[str, Any]:
    out = organization(org)
    out["services"] = list(services)
    out["locations"] = [location(loc) for loc in locations]
    return out


# ---------------------------------------------------------------- locations


def location(loc: Location) -> dict[str, Any]:
    coords = point_coords(loc.point)
    out: dict[str, Any] = {
        "id": str(loc.id),
        "location_type": "virtual" if loc.is_virtual and coords is None else "physical",
        "organization_id": str(loc.organization_id),
        "name": loc.name,
        "latitude": coords[0] if coords else None,
        "longitude": coords[1] if coords else None,
    }
    address = [loc.address_1, loc.city, loc.state, loc.postal_code]
    if all(address):
        out["addresses"] = [
            {
                "id": str(derived("address", loc.id)),
                "location_id": str(loc.id),
                "address_1": loc.address_1,
                "city": loc.city,
                "state_province": loc.state,
                "postal_code": loc.postal_code,
                "country": loc.country,
                "address_type": "physical",
            }
        ]
    out[EXTENSION] = {
        "is_virtual": loc.is_virtual,
        # The address lines as stored, complete or not (HSDS needs all five for an address).
        "address": None
        if all(address)
        else {
            "address_1": loc.address_1,
            "city": loc.city,
            "state": loc.state,
            "postal_code": loc.postal_code,
        },
    }
    return compact(out)


# ---------------------------------------------------------------- services


def _languages(program: Program) -> list[dict[str, Any]]:
    return [
        {
            "id": str(derived("language", program.id, code)),
            "service_id": str(program.id),
            "code": code,
            "name": languages.name(code),
        }
        for code in program.languages
    ]


def _schedules(program: Program) -> list[dict[str, Any]]:
    out = []
    for s in sorted(program.schedules, key=lambda s: s.position):
        out.append(schedule(program, s))
    return out


def schedule(program: Program, s: Schedule) -> dict[str, Any]:
    """opens_at/closes_at are local wall-clock times in the service's time zone (no UTC
    offset: a weekly schedule that spans a daylight-saving change has no single offset)."""
    return compact(
        {
            "id": str(s.id),
            "service_id": str(program.id),
            "freq": s.freq.value,
            "interval": s.interval,
            "byday": ",".join(s.byday) or None,
            "opens_at": _clock(s.opens_at),
            "closes_at": _clock(s.closes_at),
            "valid_from": _day(s.valid_from),
            "valid_to": _day(s.valid_to),
            "description": s.description,
        }
    )


def cost_option(program: Program, c: CostOption) -> dict[str, Any]:
    amount = Decimal(0) if c.free else c.amount
    return compact(
        {
            "id": str(c.id),
            "service_id": str(program.id),
            "option": c.description or ("Free" if c.free else None),
            "amount": _num(amount),
            "currency": c.currency or ("USD" if amount is not None else None),
            "amount_description": None if c.period is None else f"per {c.period.value}",
            EXTENSION: {
                "free": c.free,
                "period": None if c.period is None else c.period.value,
                "sliding_scale": c.sliding_scale,
                "scholarships": c.scholarships,
            },
        }
    )


def service_area(program: Program) -> list[dict[str, Any]]:
    geometry = to_geojson(program.service_area)
    if geometry is None:
        return []
    return [
        {
            "id": str(derived("service_area", program.id)),
            "service_id": str(program.id),
            "name": f"Service area of {program.name}",
            "extent": json.dumps(geometry, separators=(",", ":")),
            "extent_type": "geojson",
        }
    ]


def _grade(rank: int | None) -> str | None:
    return None if rank is None else Grade.from_rank(rank).value


def service(program: Program) -> dict[str, Any]:
    """The one-to-one fields and the organization (service_list shape)."""
    return compact(
        {
            "id": str(program.id),
            "organization_id": str(program.organization_id),
            "name": program.name,
            "description": program.description,
            "url": program.url,
            "email": program.email,
            "status": STATUS_OUT[program.status],
            "minimum_age": _num(program.min_age),
            "maximum_age": _num(program.max_age),
            "assured_date": None
            if program.last_verified_at is None
            else program.last_verified_at.date().isoformat(),
            "last_modified": _stamp(program.updated_at),
            "organization": organization(program.organization),
            EXTENSION: {
                "category": program.category.value,
                "min_grade": _grade(program.min_grade),
                "max_grade": _grade(program.max_grade),
                "season": program.season.value,
                "starts_on": _day(program.starts_on),
                "ends_on": _day(program.ends_on),
                "enrollment_status": program.enrollment_status.value,
                "capacity": {"seats_available": program.seats_available}
                if program.seats_available is not None
                else None,
                "registration_deadline": _day(program.registration_deadline),
                "transportation_provided": program.transportation_provided,
                "accessibility": list(program.accessibility),
                "accepting_referrals": program.accepting_referrals,
                "translations": program.translations or None,
            },
        }
    )


def service_full(
    program: Program, taxonomies: dict[Any, Taxonomy], links: dict[Any, Any]
) -> dict[str, Any]:
    """Every related record (service shape). `links` maps location id -> the
    service_at_location id of this program at that location."""
    out = service(program)
    out["languages"] = _languages(program)
    out["schedules"] = _schedules(program)
    out["cost_options"] = [
        cost_option(program, c) for c in sorted(program.cost_options, key=lambda c: c.position)
    ]
    out["service_areas"] = service_area(program)
    out["attributes"] = attributes(program, taxonomies)
    out["service_at_locations"] = [
        service_at_location(program, loc, links[loc.id], with_service=False)
        for loc in sorted(program.locations, key=lambda loc: str(loc.id))
    ]
    return out


def service_at_location(
    program: Program, loc: Location, link_id: Any, *, with_service: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(link_id),
        "service_id": str(program.id),
        "location_id": str(loc.id),
        "location": location(loc),
    }
    if with_service:
        out["service"] = service(program)
    return out


def ndjson_lines(records: Iterable[dict[str, Any]]) -> Iterable[str]:
    for record in records:
        yield json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n"
