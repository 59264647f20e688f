"""Response windows: when a provider's first response and first contact are due.

Business days are Monday to Friday in the partnership's time zone (dateutil's rrule);
public holidays are not counted out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, FR, MO, TH, TU, WE, rrule


def add_business_days(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The same local time of day, `days` business days after `start`."""
    local = start.astimezone(tz)
    following = rrule(
        DAILY,
        byweekday=(MO, TU, WE, TH, FR),
        dtstart=datetime.combine(local.date() + timedelta(days=1), datetime.min.time()),
        count=days,
    )
    due_day = list(following)[-1].date()
    return datetime.combine(due_day, local.timetz().replace(tzinfo=None), tz)


def due_dates(
    sent_at: datetime, response_business_days: int, contact_days: int, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """(first response due, first contact due) for a referral sent at `sent_at`."""
    return (
        add_business_days(sent_at, response_business_days, tz).astimezone(UTC),
        (sent_at + timedelta(days=contact_days)).astimezone(UTC),
    )
