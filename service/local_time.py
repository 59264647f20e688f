"""The partnership's local time (settings.timezone): dates of consents, windows, schedules."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from service.settings import get_settings


def zone() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def now() -> datetime:
    return datetime.now(zone())


def today() -> date:
    return now().date()
