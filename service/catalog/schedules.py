"""Expand RFC 5545 style schedules into concrete sessions with python-dateutil's rrule."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil import rrule

from service.catalog.enums import Frequency

_BYDAY = re.compile(r"^([+-]?[1-5])?(MO|TU|WE|TH|FR|SA|SU)$")
_WEEKDAYS = {
    "MO": rrule.MO,
    "TU": rrule.TU,
    "WE": rrule.WE,
    "TH": rrule.TH,
    "FR": rrule.FR,
    "SA": rrule.SA,
    "SU": rrule.SU,
}
MAX_OCCURRENCES = 1000
_FREQ: dict[Frequency, Literal[0, 1, 2, 3, 4, 5, 6]] = {
    Frequency.WEEKLY: rrule.WEEKLY,
    Frequency.MONTHLY: rrule.MONTHLY,
}


def parse_byday(value: str, freq: Frequency) -> rrule.weekday:
    """`MO` for weekly; `MO`, `1MO` (first Monday) or `-1FR` (last Friday) for monthly."""
    match = _BYDAY.match(value)
    if not match:
        raise ValueError(f"'{value}' is not an RFC 5545 BYDAY value such as MO or 1MO")
    ordinal, day = match.groups()
    if ordinal and freq is not Frequency.MONTHLY:
        raise ValueError(f"'{value}': an ordinal BYDAY is only meaningful with FREQ=MONTHLY")
    weekday = _WEEKDAYS[day]
    return weekday(int(ordinal)) if ordinal else weekday


@dataclass(frozen=True)
class ScheduleRule:
    freq: Frequency
    interval: int
    byday: list[str]
    opens_at: time
    closes_at: time
    valid_from: date | None
    valid_to: date | None


@dataclass(frozen=True)
class Occurrence:
    starts_at: datetime
    ends_at: datetime


def expand(rules: Iterable[ScheduleRule], start: date, end: date, tz: ZoneInfo) -> list[Occurrence]:
    """Every session between `start` and `end` (inclusive), in order, at most MAX_OCCURRENCES."""
    found: list[Occurrence] = []
    for rule in rules:
        found.extend(_expand_one(rule, start, end, tz))
    found.sort(key=lambda o: o.starts_at)
    return found[:MAX_OCCURRENCES]


def _expand_one(rule: ScheduleRule, start: date, end: date, tz: ZoneInfo) -> Iterator[Occurrence]:
    first = max(start, rule.valid_from) if rule.valid_from else start
    last = min(end, rule.valid_to) if rule.valid_to else end
    if first > last:
        return
    anchor = rule.valid_from or first
    byday = [parse_byday(d, rule.freq) for d in rule.byday] or None
    recurrence = rrule.rrule(
        _FREQ[rule.freq],
        interval=rule.interval,
        byweekday=byday,
        dtstart=datetime.combine(anchor, rule.opens_at),
        until=datetime.combine(last, rule.opens_at),
    )
    duration = datetime.combine(date.min, rule.closes_at) - datetime.combine(
        date.min, rule.opens_at
    )
    window_start = datetime.combine(first, time.min)
    for count, local in enumerate(recurrence.xafter(window_start, inc=True)):
        if count >= MAX_OCCURRENCES:
            break
        starts = local.replace(tzinfo=tz)
        yield Occurrence(starts_at=starts, ends_at=starts + duration)
