"""GET /metrics/referrals: coordination measures by group, with small cells withheld."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.auth import scope as auth_scope
from service.auth.principal import Principal
from service.db import utcnow
from service.errors import FieldError, Unprocessable
from service.local_time import today, zone
from service.metrics import columns, release
from service.metrics.dimensions import TRACT_ZIP, Dimension, sort_key
from service.metrics.fallback import (
    PUBLISHED_TARGET,
    Fallback,
    Plan,
    block_of,
    plans,
    published_share,
)
from service.metrics.periods import BLOCK_YEARS, Period, school_year_of
from service.metrics.rows import EMPTY, metrics_row, organization_names
from service.metrics.schemas import MetricsRow, PooledPeriod, ReferralMetrics
from service.metrics.scope import Scope
from service.metrics.suppression import Cell
from service.settings import get_settings


def scope_for(principal: Principal, scope: Scope) -> Scope:
    """The request's scope narrowed to the referrals the principal's figures count
    (auth.scope.counted_referrals)."""
    counted = auth_scope.counted_referrals(principal)
    if counted.school_id is None and counted.provider_id is None:
        return scope
    return replace(scope, only_school=counted.school_id, only_provider=counted.provider_id)


def _invalid(loc: str, msg: str, kind: str) -> Unprocessable:
    return Unprocessable(
        "Invalid metrics request.",
        code="invalid_metrics_request",
        errors=[FieldError(loc=["query", loc], msg=msg, type=kind)],
    )


def _check(dimensions: Sequence[Dimension], period: Period) -> None:
    if len(dimensions) > 2:
        raise _invalid("group_by", "at most two dimensions", "too_long")
    if len(set(dimensions)) != len(dimensions):
        raise _invalid("group_by", "a dimension twice", "duplicate")
    if {Dimension.tract, Dimension.zip} <= set(dimensions):
        raise _invalid("group_by", "zip is the coarser level of tract: one of them", "nested")
    if period.years not in (1, BLOCK_YEARS):
        raise _invalid("years", f"1, or {BLOCK_YEARS} (a pooled block)", "not_published")


def _filters(scope: Scope) -> dict[Dimension, str]:
    """The request's filters and the caller's own organization, as dimension values;
    NOBODY where they contradict (another school's figures asked by a school's key)."""
    out: dict[Dimension, str] = {}
    for d, asked, own in (
        (Dimension.program_category, scope.program_category, None),
        (Dimension.provider, scope.provider_id, scope.only_provider),
        (Dimension.school, scope.school_id, scope.only_school),
    ):
        if asked is not None and own is not None and asked != own:
            out[d] = NOBODY
        elif (value := asked if asked is not None else own) is not None:
            out[d] = str(value)
    return out


NOBODY = ""  # a filter value no referral has


async def _context(session: AsyncSession, dimensions: Sequence[Dimension]) -> release.Context:
    zips = {}
    if Dimension.tract in dimensions:
        zips = {row.tract: row.zip for row in await session.execute(text(TRACT_ZIP))}
    return release.Context(
        tz=zone(),
        now=utcnow(),
        zips=zips,
        current=school_year_of(today()),
        min_cell=get_settings().min_cell,
    )


def _choose(
    published: release.Release,
    asked: Period,
    dimensions: Sequence[Dimension],
    filters: dict[Dimension, str],
    fallback: Fallback,
) -> tuple[Plan, bool]:
    """The table that answers, and whether the release publishes it."""
    options = plans(published, asked, dimensions)
    exact = next(options)
    if published.form is not None:  # two dimensions: the release's one form, or nothing
        levels, pooled = published.form
        period = block_of(published, asked) if pooled else asked
        if not pooled and asked.years > 1:
            period = None  # the pair publishes single years only
        form = Plan(period or asked, levels, asked)
        fine = all(levels[published.dimensions.index(d)] == release.FINE for d in filters)
        if period is None or not fine or (fallback is Fallback.none and form != exact):
            return exact, False
        return form, True

    def share(plan: Plan) -> float:
        keys = plan.keys(published, filters, published.entries)
        return published_share({k: published.entries[k] for k in keys}, len(dimensions))

    best = (share(exact), exact)
    for plan in options:
        if fallback is Fallback.none or best[0] >= PUBLISHED_TARGET:
            break
        if (shown := share(plan)) > best[0]:
            best = (shown, plan)
    return best[1], True


async def referral_metrics(
    session: AsyncSession,
    principal: Principal,
    dimensions: Sequence[Dimension],
    scope: Scope,
    period: Period,
    fallback: Fallback = Fallback.auto,
) -> ReferralMetrics:
    """A slice of one release (release.py): the table asked for, or with fallback=auto,
    when most of it would be withheld, the finest coarser table of the release that
    shows most students (fallback.py says how)."""
    _check(dimensions, period)
    filters = _filters(scope_for(principal, scope))
    bases = release.canonical([*dimensions, *filters])
    if len(bases) > 2:
        raise _invalid(
            "group_by",
            "group_by and the filters (a school's or provider's key filters on its own "
            "organization) name at most two dimensions together",
            "too_many_dimensions",
        )
    if period.last > school_year_of(today()):
        raise _invalid("school_year", "a school year still to come", "future")
    loaded = await columns.current(session)
    context = await _context(session, bases)
    published = await asyncio.to_thread(release.release, loaded.columns, context, bases)
    everything = published.parents[0].periods if published.parents else published.periods
    if period.years > 1 and period not in everything:
        latest = release.school_year_label(context.current)
        raise _invalid(
            "years",
            f"the pooled block published is the latest {BLOCK_YEARS} school years: "
            f"years={BLOCK_YEARS} with school_year={latest}",
            "not_published",
        )
    plan, shown = _choose(published, period, dimensions, filters, fallback)
    tabulated = await asyncio.to_thread(
        release.table,
        loaded.columns,
        context,
        published.dimensions,
        plan.levels,
        plan.period,
        published.groups,
        sizes_only=False,
    )
    rows = dict(tabulated)
    keys = set(plan.keys(published, filters, rows))
    if not shown:  # the totals other releases publish, no cell (nor a lone one's count)
        keys = {
            k
            for k in keys
            if not dimensions or len(_group(published, plan, dimensions, k)) < len(dimensions)
        }
    entries = {k: _decided(published, k, shown) for k in keys}
    answer = await _answer(
        session, published, plan, dimensions, filters, fallback, rows, entries, context
    )
    if not shown:
        answer.published_share = 0.0
        answer.withheld_table = _why_not(published)
    return answer


def _why_not(published: release.Release) -> str:
    assert published.form is not None
    levels, pooled = published.form
    coarser = [
        f"{d.value} {'with small groups as other' if lv == release.GROUPED else 'by ZIP area'}"
        for d, lv in zip(published.dimensions, levels, strict=True)
        if lv != release.FINE
    ]
    if pooled:
        coarser.append(f"the latest {BLOCK_YEARS} school years pooled")
    return (
        "This table is published only in a coarser form ("
        + ", ".join(coarser or ["single school years"])
        + "): its cells here would give away cells that form withholds. Ask with "
        "fallback=auto (and without years=3 for single years)."
    )


def _decided(published: release.Release, key: release.Key, shown: bool) -> Cell:
    """How the release publishes an entry: its own, a total from the release it borders,
    or a cell of a form it does not publish (withheld: not_published)."""
    if shown and key in published.entries:
        return published.entries[key]
    if key[0].last < published.first:  # before the first referral: nothing counted
        return Cell(key, 0, 0)
    values = key[1:]
    kept = tuple(i for i, v in enumerate(values) if v is not None)
    if len(kept) < len(values):
        for parent in published.parents:
            if parent.dimensions == tuple(published.dimensions[i] for i in kept):
                return parent.entries[(key[0], *(values[i] for i in kept))]
        if key in published.entries:
            return published.entries[key]
    return Cell(key, 0, 0, suppressed=True, reason="not_published")


def _group(
    published: release.Release, plan: Plan, dimensions: Sequence[Dimension], key: release.Key
) -> dict[str, str]:
    out = {}
    for d in dimensions:
        i = published.dimensions.index(release.base(d))
        value = release.outward(key[i + 1], plan.levels[i])
        if value is not None:  # named as counted: a tract asked by ZIP area is a zip
            out[Dimension.zip.value if plan.levels[i] == release.ZIP else d.value] = value
    return out


async def _answer(
    session: AsyncSession,
    published: release.Release,
    plan: Plan,
    dimensions: Sequence[Dimension],
    filters: dict[Dimension, str],
    fallback: Fallback,
    rows: dict[release.Key, dict[str, Any]],
    entries: dict[release.Key, Cell],
    context: release.Context,
) -> ReferralMetrics:
    width = len(dimensions)
    min_cell = context.min_cell
    listed = sorted(entries, key=str)
    groups = {k: _group(published, plan, dimensions, k) for k in listed}
    labels = await organization_names(session, list(groups.values()))
    # All students of the slice: every dimension open but those a filter fixes.
    fixed = {d.value for d in dimensions if d in filters}
    everyone = next((k for k in listed if set(groups[k]) <= fixed), None)
    if everyone is None:  # a slice with no referral at all
        all_students = metrics_row(Cell((), 0, 0), EMPTY, {}, {}, None, min_cell)
    else:
        all_students = metrics_row(entries[everyone], rows[everyone], {}, labels, None, min_cell)
    reference = None if all_students.suppressed else all_students.model_dump()
    cells: list[MetricsRow] = []
    totals: list[MetricsRow] = []
    for key in listed:
        if key == everyone:
            continue
        out = metrics_row(entries[key], rows[key], groups[key], labels, reference, min_cell)
        (cells if len(groups[key]) == width else totals).append(out)
    counted = [
        Dimension.zip
        if release.base(d) is Dimension.tract
        and plan.levels[published.dimensions.index(Dimension.tract)] == release.ZIP
        else d
        for d in dimensions
    ]

    def order(row: MetricsRow) -> tuple[Any, ...]:
        return tuple(sort_key(d, row.group.get(d.value), row.labels.get(d.value)) for d in counted)

    collapsed = {
        d.value: published.groups[d]
        for d, level in zip(published.dimensions, plan.levels, strict=True)
        if level == release.GROUPED
    }
    shown = published_share(entries, width)
    return ReferralMetrics(
        school_year=plan.asked.label,
        start=plan.period.start,
        end=plan.period.end,
        group_by=counted,
        min_cell=min_cell,
        fallback=fallback,
        collapsed=collapsed,
        coarsened={"tract": "zip"}
        if Dimension.tract in dimensions and Dimension.zip in counted
        else {},
        pooled=None
        if plan.period == plan.asked
        else PooledPeriod(
            requested_from=plan.asked.start, start=plan.period.start, end=plan.period.end
        ),
        published_share=round(shown, 3),
        all_students=all_students,
        rows=sorted(cells, key=order),
        totals=sorted(totals, key=order),
    )
