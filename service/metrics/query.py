"""A metrics request's numbers: every cell and every total of its table.

The columns are loaded once per data version (columns.py) and tabulated in numpy
(tabulate.py), off the event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.metrics import columns, tabulate
from service.metrics.dimensions import TRACT_ZIP, Dimension

CLOSED_WITHIN = tabulate.CLOSED_WITHIN


@dataclass(frozen=True)
class Scope:
    """Which referrals count: the period (sent date, local) and the filters."""

    start: date
    end: date  # inclusive
    program_category: str | None = None
    provider_id: uuid.UUID | None = None
    school_id: uuid.UUID | None = None
    # The caller's own organization, for school and provider roles.
    only_school: uuid.UUID | None = None
    only_provider: uuid.UUID | None = None


async def run(
    session: AsyncSession,
    dimensions: Sequence[Dimension],
    scope: Scope,
    *,
    now: datetime,
    start: datetime,
    stop: datetime,
    tz: ZoneInfo,
) -> list[dict[str, Any]]:
    loaded = await columns.current(session)
    zips = None
    if Dimension.zip in dimensions:
        zips = {row.tract: row.zip for row in await session.execute(text(TRACT_ZIP))}
    return await asyncio.to_thread(
        tabulate.tabulate,
        loaded.columns,
        dimensions,
        scope,
        now=now,
        start=start,
        stop=stop,
        tz=tz,
        zips=zips,
    )
