"""GET /metrics/referrals: coordination measures by group, with small cells withheld."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope as auth_scope
from service.auth.principal import Principal
from service.catalog.models import Organization
from service.db import utcnow
from service.errors import FieldError, Unprocessable
from service.local_time import zone
from service.metrics import query
from service.metrics.dimensions import Dimension, sort_key
from service.metrics.fallback import PUBLISHED_TARGET, Fallback, Plan, next_step, published_share
from service.metrics.query import CLOSED_WITHIN
from service.metrics.schemas import MetricsRow, PooledPeriod, ReferralMetrics
from service.metrics.scope import Scope
from service.metrics.suppression import Cell, coded_rate, link_totals, suppress
from service.settings import get_settings

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


def scope_for(principal: Principal, scope: Scope) -> Scope:
    """The request's scope narrowed to the referrals the principal's figures count
    (auth.scope.counted_referrals)."""
    counted = auth_scope.counted_referrals(principal)
    if counted.school_id is None and counted.provider_id is None:
        return scope
    return replace(scope, only_school=counted.school_id, only_provider=counted.provider_id)


def _check(dimensions: Sequence[Dimension], scope: Scope) -> None:
    errors = []
    if len(dimensions) > 2:
        errors.append(
            FieldError(loc=["query", "group_by"], msg="at most two dimensions", type="too_long")
        )
    if len(set(dimensions)) != len(dimensions):
        errors.append(
            FieldError(loc=["query", "group_by"], msg="a dimension twice", type="duplicate")
        )
    if scope.end < scope.start:
        errors.append(FieldError(loc=["query", "to"], msg="before from", type="invalid_range"))
    if errors:
        raise Unprocessable(
            "Invalid metrics request.", code="invalid_metrics_request", errors=errors
        )


def _entry(row: dict[str, Any], width: int) -> Cell:
    key = tuple(row[f"g{i}"] for i in range(width))
    return Cell(key=key, students=row["students"], referrals=row["referrals"])


def _measures(row: dict[str, Any], min_cell: int) -> dict[str, Any]:
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


def _row(
    entry: Cell,
    row: dict[str, Any],
    dimensions: Sequence[Dimension],
    labels: dict[str, str],
    overall: dict[str, Any] | None,
    min_cell: int,
) -> MetricsRow:
    group = {d.value: v for d, v in zip(dimensions, entry.key, strict=True) if v is not None}
    named = {d: labels[v] for d, v in group.items() if Dimension(d) in LABELLED and v in labels}
    if entry.suppressed:
        return MetricsRow(
            group=group,
            labels=named,
            suppressed=True,
            suppression=entry.reason,
            **{name: None for name in _NUMBERS},
        )
    values = _measures(row, min_cell)
    gaps = {}
    if overall is not None:
        for name in RATES:
            if values[name] is not None and overall.get(name) is not None:
                gaps[name] = round((values[name] - overall[name]) * 100, 1)
    return MetricsRow(
        group=group, labels=named, suppressed=False, suppression=None, gaps_pp=gaps, **values
    )


_NUMBERS = [
    "referrals",
    "students",
    *RATES,
    *[f"{k}_days_to_{d}" for d in DURATIONS for k in ("median", "p75")],
    "open_overdue",
]


async def _labels(
    session: AsyncSession, rows: Sequence[dict[str, Any]], width: int
) -> dict[str, str]:
    ids = set()
    for row in rows:
        for i in range(width):
            value = row[f"g{i}"]
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


async def _table(
    session: AsyncSession, plan: Plan, scope: Scope, min_cell: int
) -> tuple[list[dict[str, Any]], list[Cell]]:
    """The plan's table, suppressed: its rows and their entries."""
    tz = zone()
    start = datetime.combine(plan.start, time(0), tz)
    stop = datetime.combine(plan.end + timedelta(days=1), time(0), tz)
    counted = replace(scope, start=plan.start, end=plan.end)
    rows = await query.run(
        session,
        plan.dimensions,
        counted,
        now=utcnow(),
        start=start,
        stop=stop,
        tz=tz,
        recode=plan.recode(),
    )
    entries = [_entry(r, len(plan.dimensions)) for r in rows]
    link_totals(entries)
    suppress(entries, min_cell)
    return rows, entries


async def referral_metrics(
    session: AsyncSession,
    principal: Principal,
    dimensions: Sequence[Dimension],
    scope: Scope,
    fallback: Fallback = Fallback.auto,
) -> ReferralMetrics:
    """The table asked for; with fallback=auto, when most of it would be withheld, the
    finest coarser table that shows most students (fallback.py says how)."""
    _check(dimensions, scope)
    scope = scope_for(principal, scope)
    min_cell = get_settings().min_cell
    plan = Plan(list(dimensions), scope.start, scope.end)
    rows, entries = await _table(session, plan, scope, min_cell)
    best = (published_share(entries), plan, rows, entries)
    if fallback is Fallback.auto and best[0] < PUBLISHED_TARGET:
        earliest = await query.first_sent(session, zone())
        trying = deepcopy(plan)
        while best[0] < PUBLISHED_TARGET and next_step(trying, entries, earliest, min_cell):
            rows, entries = await _table(session, trying, scope, min_cell)
            if published_share(entries) > best[0]:
                best = (published_share(entries), deepcopy(trying), rows, entries)
    _, plan, rows, entries = best
    dimensions = plan.dimensions
    width = len(dimensions)
    by_entry = list(zip(entries, rows, strict=True))
    # GROUPING SETS always includes () and yields its row even over no referral at all.
    overall_entry, overall_row = next((e, r) for e, r in by_entry if all(k is None for k in e.key))
    labels = await _labels(session, rows, width)
    all_students = _row(overall_entry, overall_row, dimensions, labels, None, min_cell)
    reference = None if all_students.suppressed else all_students.model_dump()
    cells: list[MetricsRow] = []
    totals: list[MetricsRow] = []
    for entry, row in by_entry:
        if entry is overall_entry:
            continue
        out = _row(entry, row, dimensions, labels, reference, min_cell)
        (cells if None not in entry.key else totals).append(out)

    def order(row: MetricsRow) -> tuple[Any, ...]:
        return tuple(
            sort_key(d, row.group.get(d.value), row.labels.get(d.value)) for d in dimensions
        )

    return ReferralMetrics(
        start=plan.start,
        end=plan.end,
        group_by=list(dimensions),
        min_cell=min_cell,
        fallback=fallback,
        collapsed={d.value: values for d, values in plan.collapsed.items()},
        coarsened={d.value: c.value for d, c in plan.coarsened.items()},
        pooled=None
        if plan.pooled_from is None
        else PooledPeriod(requested_from=plan.pooled_from, start=plan.start, end=plan.end),
        published_share=round(published_share(entries), 3),
        all_students=all_students,
        rows=sorted(cells, key=order),
        totals=sorted(totals, key=order),
    )
