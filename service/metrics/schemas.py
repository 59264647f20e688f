"""Metrics API contract."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from service.metrics.dimensions import Dimension
from service.metrics.fallback import Fallback


class MetricsRow(BaseModel):
    """One group's measures. Suppressed rows carry no numbers at all."""

    group: dict[str, str] = Field(description="Dimension -> value; a total omits its dimension")
    labels: dict[str, str] = Field(default_factory=dict, description="Names of ids in group")
    suppressed: bool
    suppression: str | None = Field(
        description="small_cell | complementary | not_published (the count stands only in "
        "a coarser form of the table: see withheld_table)"
    )
    referrals: int | None
    students: int | None
    acceptance_rate: float | None = Field(description="Accepted / answered (accepted + declined)")
    enrollment_rate: float | None = Field(description="Got help: enrolled / referrals")
    completion_rate: float | None = Field(description="Completed / enrolled")
    closed_within_30_days_rate: float | None = Field(
        description="Loop closed within 30 days / referrals sent at least 30 days ago"
    )
    closed_within_60_days_rate: float | None
    closed_within_90_days_rate: float | None
    median_days_to_first_response: float | None
    p75_days_to_first_response: float | None
    median_days_to_contact: float | None
    p75_days_to_contact: float | None
    median_days_to_enrollment: float | None
    p75_days_to_enrollment: float | None
    open_overdue: int | None
    gaps_pp: dict[str, float] = Field(
        default_factory=dict,
        description="Each rate minus the all-students rate, in percentage points",
    )
    coded: dict[str, str] = Field(
        default_factory=dict, description='Rates top/bottom coded as "<=5%" / ">=95%"'
    )
    withheld: list[str] = Field(
        default_factory=list, description="Values computed from too few students"
    )


class PooledPeriod(BaseModel):
    requested_from: date = Field(description="The start of the school year asked for")
    start: date = Field(description="The start counted: years pooled up to `end`")
    end: date


class ReferralMetrics(BaseModel):
    school_year: str = Field(description="The school year asked for, e.g. 2025-26")
    start: date = Field(description="The first sent date counted (earlier when pooled)")
    end: date
    group_by: list[Dimension] = Field(description="As counted (a coarsened one replaced)")
    min_cell: int = Field(description="Rows and values from fewer students are withheld")
    fallback: Fallback = Field(description="auto: a mostly withheld table was made coarser")
    collapsed: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Dimension -> the small categories counted together as `other`",
    )
    coarsened: dict[str, str] = Field(
        default_factory=dict, description="A dimension asked for -> the coarser one counted"
    )
    pooled: PooledPeriod | None = Field(
        default=None, description="Set when years were pooled to show more groups"
    )
    published_share: float = Field(
        description="Of the students in the table's cells, the share in published cells"
    )
    withheld_table: str | None = Field(
        default=None,
        description="Set when the table asked for is not published in this form (the "
        "release publishes one form of each two-way table): why, and what to ask instead. "
        "Rows are then empty; the totals stand.",
    )
    all_students: MetricsRow
    rows: list[MetricsRow] = Field(description="One per combination of the grouping values")
    totals: list[MetricsRow] = Field(
        description="With two dimensions: each value's total over the other dimension"
    )


class CategoryStatusCount(BaseModel):
    category: str
    status: str
    programs: int


class DirectoryHealth(BaseModel):
    by_category_and_status: list[CategoryStatusCount]
    active_programs: int
    verified_within_180_days: int
    verified_within_180_days_share: float | None = Field(
        description="Share of active programs confirmed by their provider in the last 180 days"
    )
    accepting_referrals_with_capacity: int = Field(
        description="Active programs taking referrals with seats left (or no seat limit given)"
    )


class TractAccess(BaseModel):
    tract: str = Field(description="Census tract GEOID")
    name: str
    latitude: float = Field(description="Where the tract is placed: its point on surface")
    longitude: float
    programs: int = Field(description="Active programs of the category with a site in reach")
    free_programs: int
    languages: list[str] = Field(description="ISO 639 codes offered by those programs")
    language_names: list[str]


class AccessReport(BaseModel):
    category: str | None
    distance_m: int
    placement: str = Field(
        description="How a tract is placed: point_on_surface (a point inside the tract)"
    )
    tracts: list[TractAccess]
    deserts: list[str] = Field(description="Tracts with no program of the category in reach")
