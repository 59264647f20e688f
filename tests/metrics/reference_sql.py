"""The GROUPING SETS statement GET /metrics/referrals ran before the columnar tabulation
(service/metrics/tabulate.py), kept as the reference the tabulation must equal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from service.metrics.dimensions import NOT_REPORTED, TRACT_ZIP, Dimension
from service.metrics.scope import Scope
from service.metrics.tabulate import CLOSED_WITHIN
from service.referrals.states import AWAITING_RESPONSE

DURATIONS = {
    "first_response": "r.responded_at",
    "contact": "r.contacted_at",
    "enrollment": "r.enrolled_at",
}
RACE_ETHNICITY = f"""CASE
    WHEN s.hispanic_latino THEN 'hispanic_latino'
    WHEN cardinality(s.races) > 1 THEN 'two_or_more_races'
    WHEN cardinality(s.races) = 1 THEN s.races[1]
    ELSE '{NOT_REPORTED}' END"""
GRADE_BAND = """CASE
    WHEN s.grade <= 0 THEN 'PK-K'
    WHEN s.grade <= 5 THEN '1-5'
    WHEN s.grade <= 8 THEN '6-8'
    ELSE '9-12' END"""
SQL: dict[Dimension, str] = {
    Dimension.provider: "r.provider_id::text",
    Dimension.program_category: "p.category",
    Dimension.school: "r.school_id::text",
    Dimension.tract: f"coalesce(s.home_tract, '{NOT_REPORTED}')",
    Dimension.zip: f"coalesce(tz.zip, '{NOT_REPORTED}')",
    Dimension.grade_band: GRADE_BAND,
    Dimension.gender: f"coalesce(s.gender, '{NOT_REPORTED}')",
    Dimension.race_ethnicity: RACE_ETHNICITY,
    Dimension.home_language: f"coalesce(s.home_language, '{NOT_REPORTED}')",
    Dimension.english_learner: f"""CASE s.english_learner WHEN true THEN 'yes'
        WHEN false THEN 'no' ELSE '{NOT_REPORTED}' END""",
    Dimension.month: "to_char(r.sent_at AT TIME ZONE :tz, 'YYYY-MM')",
}


def _measures() -> list[str]:
    awaiting = ", ".join(f"'{s.value}'" for s in sorted(AWAITING_RESPONSE))
    out = [
        "count(*) AS referrals",
        "count(DISTINCT r.student_id) AS students",
        "count(*) FILTER (WHERE r.responded_at IS NOT NULL AND r.status <> 'declined') AS accepted",
        "count(*) FILTER (WHERE r.status = 'declined') AS declined",
        "count(*) FILTER (WHERE r.enrolled_at IS NOT NULL) AS enrolled",
        "count(*) FILTER (WHERE r.status = 'completed') AS completed",
        *[
            f"count(DISTINCT r.student_id) FILTER (WHERE r.{s}_at IS NOT NULL) AS {s}_students"
            for s in ("responded", "contacted", "enrolled")
        ],
        f"""count(*) FILTER (WHERE (r.status IN ({awaiting}) AND r.response_due_at < :now)
             OR (r.status = 'accepted' AND r.contact_due_at < :now)) AS open_overdue""",
    ]
    for window in CLOSED_WITHIN:
        ready = f"r.sent_at <= :now - interval '{window} days'"
        out += [
            f"count(*) FILTER (WHERE {ready}) AS eligible_{window}",
            f"count(DISTINCT r.student_id) FILTER (WHERE {ready}) AS eligible_students_{window}",
            f"count(*) FILTER (WHERE {ready}"
            f" AND r.closed_at <= r.sent_at + interval '{window} days') AS closed_{window}",
        ]
    for name, column in DURATIONS.items():
        days = f"extract(epoch FROM {column} - r.sent_at) / 86400.0"
        out.append(
            f"percentile_cont(ARRAY[0.5, 0.75]) WITHIN GROUP (ORDER BY {days}) AS days_{name}"
        )
    return out


def statement(dimensions: Sequence[Dimension], scope: Scope) -> tuple[str, dict[str, Any]]:
    keys = [f"{SQL[d]} AS g{i}" for i, d in enumerate(dimensions)]
    groups = [f"g{i}" for i in range(len(dimensions))]
    if len(groups) == 2:
        sets = "GROUPING SETS ((g0, g1), (g0), (g1), ())"
    elif groups:
        sets = "GROUPING SETS ((g0), ())"
    else:
        sets = "()"
    where = ["r.sent_at >= :start", "r.sent_at < :stop"]
    params: dict[str, Any] = {}
    for column, value in (
        ("p.category", scope.program_category),
        ("r.provider_id", scope.provider_id or scope.only_provider),
        ("r.school_id", scope.school_id or scope.only_school),
    ):
        if value is not None:
            name = column.split(".")[1]
            where.append(f"{column} = :{name}")
            params[name] = value
    if scope.only_provider and scope.provider_id and scope.provider_id != scope.only_provider:
        where.append("false")
    if scope.only_school and scope.school_id and scope.school_id != scope.only_school:
        where.append("false")
    zip_join = (
        f"LEFT JOIN ({TRACT_ZIP}) tz ON tz.tract = s.home_tract"
        if Dimension.zip in dimensions
        else ""
    )
    sql = f"""
        SELECT {", ".join([*keys, *_measures()])}
          FROM referrals r
          JOIN students s ON s.id = r.student_id
          JOIN programs p ON p.id = r.program_id
          {zip_join}
         WHERE {" AND ".join(where)}
         GROUP BY {sets}
    """
    return sql, params


async def run(
    session: AsyncSession,
    dimensions: Sequence[Dimension],
    scope: Scope,
    *,
    now: datetime,
    start: datetime,
    stop: datetime,
    tz: str,
) -> list[dict[str, Any]]:
    sql, params = statement(dimensions, scope)
    bind = {**params, "now": now, "start": start, "stop": stop}
    if Dimension.month in dimensions:
        bind["tz"] = tz
    rows = await session.execute(text(sql), bind)
    return [dict(row._mapping) for row in rows]
