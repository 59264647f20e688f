"""Literal lists of student records, as enums (they appear as enums in OpenAPI)."""

from __future__ import annotations

from enum import StrEnum


class Race(StrEnum):
    """The five federal race categories (OMB 1997, as collected by U.S. schools).

    Hispanic/Latino ethnicity is asked separately; a student may have several races.
    """

    american_indian_or_alaska_native = "american_indian_or_alaska_native"
    asian = "asian"
    black_or_african_american = "black_or_african_american"
    native_hawaiian_or_other_pacific_islander = "native_hawaiian_or_other_pacific_islander"
    white = "white"


class Gender(StrEnum):
    female = "female"
    male = "male"
    nonbinary = "nonbinary"
    another = "another"
    declined = "declined"


class Relationship(StrEnum):
    """The guardian's relationship to the student."""

    parent = "parent"
    grandparent = "grandparent"
    legal_guardian = "legal_guardian"
    foster_parent = "foster_parent"
    relative = "relative"
    other = "other"
