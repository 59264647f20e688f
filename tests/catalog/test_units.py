"""Pure helpers: language codes, schedule expansion, grade ordering."""

from __future__ import annotations

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from service.catalog import languages
from service.catalog.enums import Frequency, Grade
from service.catalog.schedules import ScheduleRule, expand

NY = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("es", "es"),
        ("SPA", "es"),
        ("fre", "fr"),
        ("ht", "ht"),
        ("yue", "yue"),
    ],
)
def test_language_codes_are_normalised(code: str, expected: str) -> None:
    assert languages.normalize(code) == expected


@pytest.mark.parametrize("code", ["xx", "e", "engl", "zzz", "e1"])
def test_unknown_language_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 639"):
        languages.normalize(code)


def test_grades_order_pk_k_then_numbers() -> None:
    ranks = [g.rank for g in Grade]
    assert ranks == sorted(ranks) and ranks[:3] == [-1, 0, 1]
    assert all(Grade.from_rank(g.rank) is g for g in Grade)


def test_monthly_first_saturday_across_the_dst_change() -> None:
    rule = ScheduleRule(Frequency.MONTHLY, 1, ["1SA"], time(10), time(12), date(2026, 10, 1), None)
    found = expand([rule], date(2026, 10, 1), date(2026, 12, 31), NY)
    assert [o.starts_at.isoformat() for o in found] == [
        "2026-10-03T10:00:00-04:00",
        "2026-11-07T10:00:00-05:00",
        "2026-12-05T10:00:00-05:00",
    ]


def test_expansion_respects_valid_range_and_interval() -> None:
    biweekly = ScheduleRule(
        Frequency.WEEKLY, 2, ["TU"], time(16), time(17), date(2026, 9, 1), date(2026, 9, 30)
    )
    found = expand([biweekly], date(2026, 8, 1), date(2026, 12, 1), NY)
    assert [o.starts_at.day for o in found] == [1, 15, 29]
    assert all((o.ends_at - o.starts_at).seconds == 3600 for o in found)
