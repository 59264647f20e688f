"""A metrics response's rows: each group's measures from its counts, or nothing when
the group is withheld, with the names of the organizations in it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.catalog.models import Organization
from service.metrics.dimensions import Dimension
from service.metrics.joint import Cell
from service.metrics.schemas import MetricsRow
from service.metrics.suppression import coded_rate
from service.metrics.tabulate import CLOSED_WITHIN

# rate name -> (numerator, denominator, students behind the denominator)
RATES: dict[str, tuple[str, str, str]] = {
    "acceptance_rate": ("accepted", "answered", "responded_students"),
    "enrollment_rate": ("enrolled", "referrals", "students"),
    "completion_rate": ("completed", "enrolled", "enrolled_students"),
    **{
        f"closed_within_{d}_days_rate": (f"closed_{d}", f"eligible_{d}", f"eligible_students_{d}")
        for d in CLOSED_WITHIN
    },
}
# duration name -> students behind it
DURATIONS = {
    "first_response": "responded_students",
    "contact": "contacted_students",
    "enrollment": "enrolled_students",
}
LABELLED = (Dimension.provider, Dimension.school)


def measures(row: dict[str, Any], min_cell: int) -> dict[str, Any]:
    values: dict[str, Any] = {"coded": {}, "withheld": []}
    row = {**row, "answered": row["accepted"] + row["declined"]}
    for name, (numerator, denominator, students) in RATES.items():
        if row[denominator] and row[students] < min_cell:
            values[name] = None
            values["withheld"].append(name)
            continue
        rate, code = coded_rate(row[numerator], row[denominator])
        values[name] = rate
        if code:
            values["coded"][name] = code
    for name, students in DURATIONS.items():
        median, p75 = row[f"days_{name}"] or (None, None)
        if median is not None and row[students] < min_cell:
            median = p75 = None
            values["withheld"] += [f"median_days_to_{name}", f"p75_days_to_{name}"]
        values[f"median_days_to_{name}"] = None if median is None else round(median, 1)
        values[f"p75_days_to_{name}"] = None if p75 is None else round(p75, 1)
    values["referrals"] = row["referrals"]
    values["students"] = row["students"]
    values["open_overdue"] = row["open_overdue"]
    return values


def metrics_row(
    entry: Cell,
    row: dict[str, Any],
    group: dict[str, str],
    labels: dict[str, str],
    overall: dict[str, Any] | None,
    min_cell: int,
) -> MetricsRow:
    named = {d: labels[v] for d, v in group.items() if Dimension(d) in LABELLED and v in labels}
    if entry.suppressed:
        return MetricsRow(
            group=group,
            labels=named,
            suppressed=True,
            suppression=entry.reason,
            **{name: None for name in NUMBERS},
        )
    values = measures(row, min_cell)
    gaps = {}
    if overall is not None:
        for name in RATES:
            if values[name] is not None and overall.get(name) is not None:
                gaps[name] = round((values[name] - overall[name]) * 100, 1)
    return MetricsRow(
        group=group, labels=named, suppressed=False, suppression=None, gaps_pp=gaps, **values
    )


# The counts of a slice with no referral at all.
EMPTY: dict[str, Any] = {
    **{name: 0 for rate in RATES.values() for name in rate if name != "answered"},
    **{name: 0 for name in DURATIONS.values()},
    **{f"days_{name}": None for name in DURATIONS},
    "accepted": 0,
    "declined": 0,
    "open_overdue": 0,
}

NUMBERS = [
    "referrals",
    "students",
    *RATES,
    *[f"{k}_days_to_{d}" for d in DURATIONS for k in ("median", "p75")],
    "open_overdue",
]


async def organization_names(
    session: AsyncSession, groups: Sequence[dict[str, str]]
) -> dict[str, str]:
    ids = set()
    for group in groups:
        for value in group.values():
            try:
                ids.add(uuid.UUID(value))
            except (TypeError, ValueError):
                continue
    if not ids:
        return {}
    names = await session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(ids))
    )
    return {str(i): n for i, n in names.all()}
