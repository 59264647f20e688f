"""A metrics request's numbers: every cell and every total of its table.

The columns are loaded once per data version (columns.py) and tabulated in numpy
(tabulate.py), off the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.metrics import columns, tabulate
from service.metrics.dimensions import TRACT_ZIP, Dimension
from service.metrics.scope import Scope

CLOSED_WITHIN = tabulate.CLOSED_WITHIN


async def run(
    session: AsyncSession,
    dimensions: Sequence[Dimension],
    scope: Scope,
    *,
    now: datetime,
    start: datetime,
    stop: datetime,
    tz: ZoneInfo,
    recode: Mapping[Dimension, Mapping[str, str]] | None = None,
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
        recode=recode,
    )
