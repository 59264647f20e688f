"""HSDS 3.0 service records -> our catalog's inputs (pure: no I/O).

A record is an HSDS service with its organization, service_at_locations (with their
locations), schedules, cost_options, languages, service_areas and attributes (taxonomy
terms) nested, as in the `service` shape. `parse` checks it against the HSDS fields we
read (types, required fields, enums: a wrong one rejects the record with its errors) and
against our own rules (the same pydantic schemas the API uses). Parts our model cannot
hold are dropped with a warning, never silently: a schedule without hours, coordinates
out of range, an extent that is not GeoJSON, a non-US postal code.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pydantic import BaseModel, ValidationError

from service.catalog import languages
from service.catalog.enums import Category, OrganizationType, ProgramStatus
from service.catalog.schemas import LocationFields, OrganizationCreate, ProgramFields
from service.hsds.mapping import EXTENSION
from service.hsds.shapes import (
    CostIn,
    OrganizationIn,
    ServiceAtLocationIn,
    ServiceIn,
    TaxonomyIn,
    TermIn,
)

STATUS_IN = {
    "active": ProgramStatus.active,
    "inactive": ProgramStatus.inactive,
    "defunct": ProgramStatus.defunct,
    "temporarily closed": ProgramStatus.temporarily_closed,
}
_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])(:([0-5][0-9]))?(Z|[+-][0-9]{2}:?[0-9]{2})?$")
_PHONE_KEEP = re.compile(r"[^0-9+()\-. x]")


class RecordError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Site:
    id: uuid.UUID
    organization_id: uuid.UUID
    link_id: uuid.UUID
    fields: LocationFields


@dataclass
class Parsed:
    """One service, ready to upsert: our inputs, plus what could not be kept."""

    program_id: uuid.UUID
    organization_id: uuid.UUID
    organization: OrganizationCreate | None
    program: ProgramFields
    sites: list[Site]
    taxonomies: list[TaxonomyIn]
    terms: list[TermIn]
    term_ids: list[uuid.UUID]
    schedule_ids: list[uuid.UUID]
    cost_ids: list[uuid.UUID]
    verified_on: date | None = None
    warnings: list[str] = field(default_factory=list)


def _messages(exc: ValidationError, prefix: str = "") -> list[str]:
    return [
        f"{prefix}{'.'.join(map(str, e['loc'])) or '(record)'}: {e['msg']}" for e in exc.errors()
    ]


def _clock(value: str | None, name: str, warnings: list[str]) -> str | None:
    if value is None:
        return None
    match = _TIME.match(value)
    if match is None:
        raise RecordError([f"schedules: {name} '{value}' is not a time (HH:MM)"])
    if match.group(5):
        warnings.append(f"{name} {value}: the UTC offset is dropped (times are local)")
    return f"{match.group(1)}:{match.group(2)}"


def _extension(obj: BaseModel) -> dict[str, Any]:
    extra = (obj.model_extra or {}).get(EXTENSION)
    return extra if isinstance(extra, dict) else {}


def _schedules(
    service: ServiceIn, warnings: list[str]
) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    out, ids = [], []
    for s in service.schedules:
        opens, closes = (
            _clock(s.opens_at, "opens_at", warnings),
            _clock(s.closes_at, "closes_at", warnings),
        )
        if opens is None or closes is None:
            warnings.append(f"schedule {s.id}: no opens_at/closes_at, not imported")
            continue
        unsupported = [
            k
            for k in ("byweekno", "bymonthday", "byyearday", "count", "until")
            if (s.model_extra or {}).get(k)
        ]
        if unsupported:
            warnings.append(f"schedule {s.id}: {', '.join(unsupported)} not supported, ignored")
        out.append(
            {
                "freq": s.freq or "WEEKLY",
                "interval": s.interval or 1,
                "byday": [d.strip() for d in (s.byday or "").split(",") if d.strip()],
                "opens_at": opens,
                "closes_at": closes,
                "valid_from": s.valid_from,
                "valid_to": s.valid_to,
                "description": s.description,
            }
        )
        ids.append(s.id)
    return out, ids


# Words of an HSDS amount_description, and the period each means in our model.
_PERIOD_WORDS = (
    ("session", ("session", "class", "lesson", "visit", "hour")),
    ("day", ("day", "daily")),
    ("week", ("week", "weekly")),
    ("month", ("month", "monthly")),
    ("term", ("term", "semester", "quarter")),
    ("year", ("year", "annual", "yearly")),
    ("once", ("once", "one-time", "one time", "registration")),
)


def _period(c: CostIn, warnings: list[str]) -> str:
    text = (c.amount_description or "").lower()
    for period, words in _PERIOD_WORDS:
        if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words):
            return period
    warnings.append(f"cost_option {c.id}: no period in '{c.amount_description}', stored as once")
    return "once"


def _costs(service: ServiceIn, warnings: list[str]) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
    out, ids = [], []
    for c in service.cost_options:
        ext = _extension(c)
        free = bool(ext.get("free", c.amount == 0))
        period = ext.get("period")
        if period is None and not free and c.amount is not None:
            period = _period(c, warnings)
        out.append(
            {
                "free": free,
                "amount": None if free else c.amount,
                "currency": None if free or c.currency is None else c.currency.upper(),
                "period": period,
                "sliding_scale": bool(ext.get("sliding_scale", False)),
                "scholarships": bool(ext.get("scholarships", False)),
                "description": None if c.option == "Free" and free else c.option,
            }
        )
        ids.append(c.id)
    return out, ids


def _languages(service: ServiceIn, warnings: list[str]) -> list[str]:
    codes: list[str] = []
    for lang in service.languages:
        try:
            code = languages.normalize(lang.code or "")
        except ValueError:
            warnings.append(f"language {lang.id}: '{lang.code}' is not an ISO 639 code, skipped")
            continue
        if code not in codes:
            codes.append(code)
    return codes


def _service_area(service: ServiceIn, warnings: list[str]) -> dict[str, Any] | None:
    for area in service.service_areas:
        if (area.extent_type or "").lower() != "geojson" or not area.extent:
            warnings.append(f"service_area {area.id}: only GeoJSON extents are kept")
            continue
        try:
            geometry = json.loads(area.extent)
        except ValueError:
            warnings.append(f"service_area {area.id}: extent is not valid GeoJSON, skipped")
            continue
        if isinstance(geometry, dict) and geometry.get("type") in ("Polygon", "MultiPolygon"):
            return geometry
        warnings.append(f"service_area {area.id}: extent is not a polygon, skipped")
    return None


def _site(sal: ServiceAtLocationIn, organization_id: uuid.UUID, warnings: list[str]) -> Site | None:
    loc = sal.location
    if loc is None:
        warnings.append(f"service_at_location {sal.id}: no nested location, skipped")
        return None
    lat, lng = loc.latitude, loc.longitude
    if lat is not None and lng is not None and not (-90 <= lat <= 90 and -180 <= lng <= 180):
        warnings.append(
            f"location {loc.id}: latitude/longitude ({lat}, {lng}) out of range, dropped"
        )
        lat = lng = None
    virtual = loc.location_type == "virtual" or bool(_extension(loc).get("is_virtual"))
    if not virtual and (lat is None or lng is None):
        warnings.append(f"location {loc.id}: a physical location without coordinates, skipped")
        return None
    fields: dict[str, Any] = {
        "name": loc.name,
        "is_virtual": virtual,
        "latitude": lat,
        "longitude": lng,
    }
    address = loc.addresses[0] if loc.addresses else None
    if address is not None:
        fields |= {
            "address_1": address.address_1,
            "city": address.city,
            "state": address.state_province[:50],
            "country": address.country.upper(),
        }
        if re.fullmatch(r"[0-9]{5}(-[0-9]{4})?", address.postal_code):
            fields["postal_code"] = address.postal_code
        else:
            warnings.append(
                f"address {address.id}: '{address.postal_code}' is not a US ZIP code, dropped"
            )
    try:
        parsed = LocationFields.model_validate(fields)
    except ValidationError as exc:
        raise RecordError(_messages(exc, f"location {loc.id}: ")) from None
    return Site(
        id=loc.id,
        organization_id=loc.organization_id or organization_id,
        link_id=sal.id,
        fields=parsed,
    )


def _terms(service: ServiceIn) -> tuple[list[TaxonomyIn], list[TermIn], list[uuid.UUID]]:
    taxonomies: dict[uuid.UUID, TaxonomyIn] = {}
    terms: dict[uuid.UUID, TermIn] = {}
    ids: list[uuid.UUID] = []
    for attribute in service.attributes:
        term = attribute.taxonomy_term
        term_id = term.id if term is not None else attribute.taxonomy_term_id
        if term_id is None:
            continue  # an attribute without a taxonomy term carries nothing we keep
        if term is not None:
            terms[term.id] = term
            if term.taxonomy_detail is not None:
                taxonomies[term.taxonomy_detail.id] = term.taxonomy_detail
        if term_id not in ids:
            ids.append(term_id)
    return list(taxonomies.values()), list(terms.values()), ids


def services_in(record: Any) -> list[Any]:
    """The service records in `record`: a service itself; each service of an organization
    (organization shape, with the organization nested into each); the service of a
    service_at_location (with that link nested); each item of a Page envelope."""
    if not isinstance(record, dict):
        return [record]
    if isinstance(record.get("contents"), list) and "total_items" in record:
        return [s for item in record["contents"] for s in services_in(item)]
    if isinstance(record.get("services"), list) and "status" not in record:
        organization = {
            k: v for k, v in record.items() if k not in ("services", "locations", "programs")
        }
        return [
            {**s, "organization": organization} for s in record["services"] if isinstance(s, dict)
        ]
    if isinstance(record.get("service"), dict) and isinstance(record.get("location"), dict):
        link = {
            "id": record.get("id"),
            "location_id": record["location"].get("id"),
            "location": record["location"],
        }
        return [{**record["service"], "service_at_locations": [link]}]
    return [record]


def parse(record: Any, default_category: Category) -> Parsed:
    """Our inputs for one HSDS service record, or RecordError with every problem."""
    if not isinstance(record, dict):
        raise RecordError(["a service record must be a JSON object"])
    try:
        service = ServiceIn.model_validate(record)
    except ValidationError as exc:
        raise RecordError(_messages(exc)) from None
    warnings: list[str] = []
    organization_id = service.organization.id if service.organization else service.organization_id
    if organization_id is None:
        raise RecordError(["organization_id: a service needs its organization (id or nested)"])
    ext = _extension(service)
    schedules, schedule_ids = _schedules(service, warnings)
    costs, cost_ids = _costs(service, warnings)
    sites = [
        s for sal in service.service_at_locations if (s := _site(sal, organization_id, warnings))
    ]
    taxonomies, terms, term_ids = _terms(service)
    program = {
        "name": service.name,
        "description": service.description or "",
        "url": service.url,
        "email": service.email,
        "status": STATUS_IN[service.status].value,
        "min_age": service.minimum_age,
        "max_age": service.maximum_age,
        "category": ext.get("category", default_category.value),
        "languages": _languages(service, warnings),
        "schedules": schedules,
        "cost_options": costs,
        "service_area": _service_area(service, warnings),
        "location_ids": [s.id for s in sites],
        "taxonomy_terms": [],  # set by the importer once terms are resolved to codes
        **{k: ext[k] for k in _PROGRAM_EXTENSION if ext.get(k) is not None},
    }
    if isinstance(ext.get("capacity"), dict) and ext["capacity"].get("seats_available") is not None:
        program["seats_available"] = ext["capacity"]["seats_available"]
    try:
        fields = ProgramFields.model_validate(program)
    except ValidationError as exc:
        raise RecordError(_messages(exc)) from None
    organization = None
    if service.organization is not None:
        organization = _organization(service.organization, warnings)
    return Parsed(
        program_id=service.id,
        organization_id=organization_id,
        organization=organization,
        program=fields,
        sites=sites,
        taxonomies=taxonomies,
        terms=terms,
        term_ids=term_ids,
        schedule_ids=schedule_ids,
        cost_ids=cost_ids,
        verified_on=service.assured_date,
        warnings=warnings,
    )


_PROGRAM_EXTENSION = (
    "min_grade",
    "max_grade",
    "season",
    "starts_on",
    "ends_on",
    "enrollment_status",
    "registration_deadline",
    "transportation_provided",
    "accessibility",
    "accepting_referrals",
    "translations",
)


def _organization(org: OrganizationIn, warnings: list[str]) -> OrganizationCreate:
    ext = _extension(org)
    phone = None
    if org.phones:
        cleaned = _PHONE_KEEP.sub("", org.phones[0].number).strip()
        if 3 <= len(cleaned) <= 40:
            phone = cleaned
        else:
            warnings.append(
                f"phone {org.phones[0].id}: '{org.phones[0].number}' is not a phone number"
            )
    fields = {
        "name": org.name,
        "description": org.description or None,
        "email": org.email,
        "website": org.website,
        "phone": phone,
        "type": ext.get("type", OrganizationType.provider.value),
        "verified": bool(ext.get("verified", False)),
    }
    try:
        return OrganizationCreate.model_validate(fields)
    except ValidationError as exc:
        raise RecordError(_messages(exc, f"organization {org.id}: ")) from None
