"""The HSDS 3.0 fields import reads, as pydantic models.

Types, required fields and enums follow the HSDS 3.0 schemas for the fields we use; every
other field is allowed and ignored (HSDS objects are open).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    """HSDS objects are open: fields we do not read are allowed and ignored."""

    model_config = ConfigDict(extra="allow")


class TaxonomyIn(_Open):
    id: uuid.UUID
    name: str
    description: str | None = None
    uri: str | None = None
    version: str | None = None


class TermIn(_Open):
    id: uuid.UUID
    name: str
    description: str | None = None
    code: str | None = None
    parent_id: uuid.UUID | None = None
    taxonomy: str | None = None
    taxonomy_id: uuid.UUID | None = None
    taxonomy_detail: TaxonomyIn | None = None


class AttributeIn(_Open):
    id: uuid.UUID
    taxonomy_term_id: uuid.UUID | None = None
    taxonomy_term: TermIn | None = None


class ScheduleIn(_Open):
    id: uuid.UUID
    freq: Literal["WEEKLY", "MONTHLY"] | None = None
    interval: int | None = None
    byday: str | None = None
    opens_at: str | None = None
    closes_at: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    description: str | None = None


class CostIn(_Open):
    id: uuid.UUID
    option: str | None = None
    amount: float | None = None
    currency: str | None = None
    amount_description: str | None = None


class LanguageIn(_Open):
    id: uuid.UUID
    code: str | None = None
    name: str | None = None


class AreaIn(_Open):
    id: uuid.UUID
    extent: str | None = None
    extent_type: str | None = None


class AddressIn(_Open):
    id: uuid.UUID
    address_1: str
    city: str
    state_province: str
    postal_code: str
    country: str


class LocationIn(_Open):
    id: uuid.UUID
    location_type: Literal["physical", "postal", "virtual"]
    organization_id: uuid.UUID | None = None
    name: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    addresses: list[AddressIn] = []


class ServiceAtLocationIn(_Open):
    id: uuid.UUID
    location_id: uuid.UUID | None = None
    location: LocationIn | None = None


class PhoneIn(_Open):
    id: uuid.UUID
    number: str


class OrganizationIn(_Open):
    id: uuid.UUID
    name: str
    description: str
    email: str | None = None
    website: str | None = None
    phones: list[PhoneIn] = []


class ServiceIn(_Open):
    id: uuid.UUID
    name: str
    status: Literal["active", "inactive", "defunct", "temporarily closed"]
    organization_id: uuid.UUID | None = None
    description: str | None = None
    url: str | None = None
    email: str | None = None
    minimum_age: float | None = None
    maximum_age: float | None = None
    assured_date: date | None = None
    organization: OrganizationIn | None = None
    service_at_locations: list[ServiceAtLocationIn] = []
    schedules: list[ScheduleIn] = []
    cost_options: list[CostIn] = []
    languages: list[LanguageIn] = []
    service_areas: list[AreaIn] = []
    attributes: list[AttributeIn] = []
