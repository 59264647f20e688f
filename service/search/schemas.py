"""Search API schemas: hits, facets, the page, the GeoJSON form and the index status."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.catalog.enums import Category, EnrollmentStatus, Grade, Season
from service.pagination import Page


class OrganizationRef(BaseModel):
    id: uuid.UUID
    name: str


class HitLocation(BaseModel):
    id: uuid.UUID
    name: str | None
    address_1: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    is_virtual: bool
    latitude: float | None
    longitude: float | None


class CostSummary(BaseModel):
    monthly: float | None = Field(
        description="Cheapest option per month in USD (see README: how costs are normalised)"
    )
    band: str = Field(description="free, up_to_50, 50_to_150, over_150 or unknown")
    sliding_scale: bool
    scholarships: bool


class Highlights(BaseModel):
    """Matched words wrapped in <mark>; the rest of the text is HTML-escaped."""

    name: str | None = None
    description: str | None = None


class HitContact(BaseModel):
    """How a family reaches the program (its next steps)."""

    phone: str | None
    website: str | None
    email: str | None


class Session(BaseModel):
    """A weekly meeting time, local time."""

    day: str = Field(description="RFC 5545 day: MO, TU, ...")
    opens: str = Field(description="HH:MM")
    closes: str = Field(description="HH:MM")


class SearchHit(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    language: Literal["en", "es"] = Field(description="Language of name and description")
    organization: OrganizationRef
    category: Category
    taxonomy_terms: list[str]
    min_age: float | None
    max_age: float | None
    min_grade: Grade | None
    max_grade: Grade | None
    languages: list[str]
    days: list[str]
    season: Season
    starts_on: date | None
    ends_on: date | None
    cost: CostSummary
    enrollment_status: EnrollmentStatus
    seats_available: int | None
    registration_deadline: date | None
    accepting_referrals: bool
    transportation_provided: bool
    accessibility: list[str]
    last_verified_at: datetime | None
    distance_m: float | None = Field(
        description="Meters from `near` to the nearest site (null without near or for "
        "programs with no physical site)"
    )
    nearest_location: HitLocation | None = Field(
        description="The site nearest to `near` (the first site without near)"
    )
    locations_count: int
    contact: HitContact
    sessions: list[Session] = Field(description="When it meets each week (local time)")
    highlights: Highlights


class FacetCount(BaseModel):
    value: str
    count: int


class SearchPage(Page[SearchHit]):
    total_items_exact: bool = Field(
        default=True,
        description="false when the query has more hits than search reaches (1000): "
        "total_items is then that limit, a lower bound",
    )
    facets: dict[str, list[FacetCount]] = Field(
        default_factory=dict,
        description="Counts per value for the requested facets; each facet ignores its own "
        "filters (disjunctive), so its counts are what selecting another value would add.",
    )


class HitFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class HitCollection(BaseModel):
    """Hits as a GeoJSON FeatureCollection (RFC 7946) at their nearest site."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[HitFeature]
    total_items: int
    page_number: int
    total_pages: int


class FollowerStatus(BaseModel):
    followed_by: str = Field(description="Who keeps the index current from the change log")
    pending_changes: int = Field(description="Change log rows the index has not applied yet")
    oldest_pending_seconds: float | None = Field(
        description="How long the oldest of them has waited (the index's lag)"
    )
    built_at: datetime | None = Field(default=None, description="Last full build")
    last_rebuild_seconds: float | None = None
    applied_at: datetime | None = Field(
        default=None, description="Last time the index was checked current, or made so"
    )
    last_error: str | None = None


class SearchStatus(BaseModel):
    engine: Literal["tantivy", "meilisearch"]
    documents: int
    follower: FollowerStatus
