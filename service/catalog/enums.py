"""Every closed list of the catalog, in one place. They appear as enums in OpenAPI."""

from __future__ import annotations

from enum import StrEnum


class OrganizationType(StrEnum):
    provider = "provider"
    school = "school"
    city = "city"
    backbone = "backbone"


class Category(StrEnum):
    """Initiative areas of the partnership."""

    out_of_school_time = "out_of_school_time"
    social_emotional_health = "social_emotional_health"
    college_workforce_readiness = "college_workforce_readiness"
    early_childhood = "early_childhood"
    family_support = "family_support"


class Grade(StrEnum):
    PK = "PK"
    K = "K"
    G1 = "1"
    G2 = "2"
    G3 = "3"
    G4 = "4"
    G5 = "5"
    G6 = "6"
    G7 = "7"
    G8 = "8"
    G9 = "9"
    G10 = "10"
    G11 = "11"
    G12 = "12"

    @property
    def rank(self) -> int:
        """Ordinal stored in the database: PK = -1, K = 0, 1..12."""
        special = {"PK": -1, "K": 0}
        return special[self.value] if self.value in special else int(self.value)

    @classmethod
    def from_rank(cls, rank: int) -> Grade:
        special = {-1: cls.PK, 0: cls.K}
        return special[rank] if rank in special else cls(str(rank))


class CostPeriod(StrEnum):
    once = "once"
    session = "session"
    day = "day"
    week = "week"
    month = "month"
    term = "term"
    year = "year"


class Season(StrEnum):
    school_year = "school_year"
    summer = "summer"
    year_round = "year_round"
    dates = "dates"


class EnrollmentStatus(StrEnum):
    open = "open"
    waitlist = "waitlist"
    closed = "closed"


class ProgramStatus(StrEnum):
    """HSDS service.status values (HSDS spells the last one "temporarily closed")."""

    active = "active"
    inactive = "inactive"
    defunct = "defunct"
    temporarily_closed = "temporarily_closed"


class Accessibility(StrEnum):
    wheelchair_accessible = "wheelchair_accessible"
    accessible_restroom = "accessible_restroom"
    elevator = "elevator"
    asl_interpretation = "asl_interpretation"
    sensory_friendly = "sensory_friendly"
    visual_supports = "visual_supports"
    hearing_assistance = "hearing_assistance"
    adaptive_equipment = "adaptive_equipment"
    special_needs_support = "special_needs_support"
    service_animals_welcome = "service_animals_welcome"


class Weekday(StrEnum):
    """RFC 5545 BYDAY codes."""

    MO = "MO"
    TU = "TU"
    WE = "WE"
    TH = "TH"
    FR = "FR"
    SA = "SA"
    SU = "SU"


class Frequency(StrEnum):
    """RFC 5545 FREQ values HSDS 3.0 allows on a schedule."""

    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
