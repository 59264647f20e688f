"""The periods metrics publish: school years (July to June) and three-year blocks.

Any other period would be a differencing channel: two periods a day apart, subtracted,
give that day's referrals group by group, however each table is suppressed. So the API
counts whole school years only, as state report cards do, and pools small groups over
the block of three school years ending at the one asked for (metrics/release.py
protects the years and the blocks together).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from service.errors import FieldError, Unprocessable

FIRST_MONTH = 7  # a school year starts on July 1
BLOCK_YEARS = 3
_LABEL = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Period:
    """`years` school years ending with the one starting in July of `last`."""

    last: int
    years: int = 1

    @property
    def start(self) -> date:
        return date(self.last - self.years + 1, FIRST_MONTH, 1)

    @property
    def end(self) -> date:  # inclusive
        return date(self.last + 1, FIRST_MONTH - 1, 30)

    @property
    def label(self) -> str:
        return school_year_label(self.last)

    def school_years(self) -> list[Period]:
        return [Period(y) for y in range(self.last - self.years + 1, self.last + 1)]


def school_year_label(first: int) -> str:
    """2025 -> "2025-26"."""
    return f"{first}-{(first + 1) % 100:02d}"


def school_year_of(day: date) -> int:
    """The calendar year a day's school year starts in."""
    return day.year if day.month >= FIRST_MONTH else day.year - 1


def parse_school_year(text: str) -> int:
    """ "2025-26" -> 2025; a clear 422 for anything else."""
    match = _LABEL.match(text)
    if match is None or (int(match[1]) + 1) % 100 != int(match[2]):
        raise Unprocessable(
            "A school year is written like 2025-26 (July 2025 to June 2026).",
            code="invalid_metrics_request",
            errors=[
                FieldError(loc=["query", "school_year"], msg="not a school year", type="format")
            ],
        )
    return int(match[1])


def periods_for(first: int | None, current: int) -> list[Period]:
    """Every period published: each school year from the first with a referral to the
    current one, and the block of the BLOCK_YEARS latest when there is an earlier year.
    One block only: two blocks a year apart, subtracted, would give a year's difference
    cell by cell."""
    if first is None or first > current:
        first = current
    years = [Period(y) for y in range(first, current + 1)]
    return years + ([Period(current, BLOCK_YEARS)] if first < current else [])
