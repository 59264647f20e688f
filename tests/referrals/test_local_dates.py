"""Consent dates are the partnership's dates, whatever the clock of the server or database.

Between midnight UTC and midnight in the partnership's zone the two calendars disagree for
hours every night; a check written with the server's date passes by day and fails at night.
These tests pick a zone whose date differs from UTC's *now*, so the disagreement is always on.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.local_time import today as local_today
from service.settings import Settings
from tests.referrals.conftest import World, consent_body, post


@pytest.fixture
def far_zone(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # UTC-12 is a day behind UTC before noon UTC; UTC+14 is a day ahead after 10:00 UTC.
    zone = "Etc/GMT+12" if datetime.now(UTC).hour < 11 else "Pacific/Kiritimati"
    monkeypatch.setattr(settings, "timezone", zone)
    assert local_today() != datetime.now(UTC).date()
    yield


async def test_a_consent_signed_and_expiring_today_counts_in_local_dates(
    world: World, far_zone: None
) -> None:
    today = local_today()
    consent = await post(
        world.client,
        world.callers.school_a,
        f"/students/{world.student['id']}/consents",
        consent_body(signed_on=str(today), expires_on=str(today + timedelta(days=1))),
    )
    assert consent["state"] == "active"


async def test_a_consent_that_expired_yesterday_locally_covers_nothing(
    world: World, session: AsyncSession, far_zone: None
) -> None:
    today = local_today()
    await session.execute(
        text("UPDATE consents SET expires_on = :expired, signed_on = :signed"),
        {"expired": today - timedelta(days=1), "signed": today - timedelta(days=30)},
    )
    refused = await world.refer()
    assert refused.status_code == 422 and refused.json()["code"] == "consent_required"
