"""The attacker: many responses, combined, must give no withheld count away.

On the pilot-sized database the attacker asks what an analyst's key may ask over three
dimensions: every grouping of them, each school year and the pooled block, fallback
auto and none, and each value of the filter dimension as a filter (a school's own
figures, as a school's key sees them; one program category). Every referral count
published becomes an equation over the unknown counts of the finest cells (school year
x the three dimensions); every row a published table does not list is one too (it
counted nobody). A withheld count is recovered exactly when its cell's vector lies in
the row space of all those equations together: differencing, intersection and any other
linear combination of the responses. None may be.

Two attacks: race x school x gender (filters by school), and race x tract x program
category (tracts also asked by ZIP area, filters by category).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from service.metrics.dimensions import TRACT_ZIP
from tests.conftest import Caller

Response = dict[str, Any]


@dataclass(frozen=True)
class Attack:
    dimensions: tuple[str, str, str]
    filter: str  # one of them, asked as a filter with each of its values
    grouped: tuple[tuple[str, ...], ...]  # what is grouped beside a filter
    extra: tuple[tuple[str, ...], ...] = ()  # more groupings (a coarser level)


ATTACKS = {
    "race x school x gender": Attack(
        ("race_ethnicity", "school", "gender"),
        "school",
        ((), ("race_ethnicity",), ("gender",)),
    ),
    "race x tract x category": Attack(
        ("race_ethnicity", "tract", "program_category"),
        "program_category",
        ((), ("race_ethnicity",), ("tract",), ("zip",)),
        (("zip",), ("race_ethnicity", "zip"), ("zip", "program_category")),
    ),
}


async def _responses(pilot: tuple[Any, Caller], attack: Attack) -> list[Response]:
    client, analyst = pilot

    async def get(**params: Any) -> Response:
        response = await client.get("/metrics/referrals", params=params, headers=analyst.headers)
        assert response.status_code == 200, (params, response.text)
        return {**response.json(), "_filter": {attack.filter: params.get(attack.filter)}}

    current = int((await get())["school_year"][:4])
    years = [f"{y}-{(y + 1) % 100:02d}" for y in range(current - 2, current + 1)]
    groupings = [list(g) for n in range(3) for g in itertools.combinations(attack.dimensions, n)]
    groupings += [list(g) for g in attack.extra]
    periods = [(year, 1) for year in years] + [(years[-1], 3)]  # the pooled block
    out = []
    for (year, pooled), fallback, grouping in itertools.product(
        periods, ("auto", "none"), groupings
    ):
        out.append(await get(school_year=year, years=pooled, fallback=fallback, group_by=grouping))
    values = [r["group"][attack.filter] for r in (await get(group_by=attack.filter))["rows"]]
    for (year, pooled), value, grouping in itertools.product(periods, values, attack.grouped):
        out.append(
            await get(
                school_year=year, years=pooled, group_by=list(grouping), **{attack.filter: value}
            )
        )
    return out


def _rows(response: Response) -> list[dict[str, Any]]:
    return [response["all_students"], *response["rows"], *response["totals"]]


def _years(response: Response) -> set[int]:
    start, end = date.fromisoformat(response["start"]), date.fromisoformat(response["end"])
    return set(range(start.year, end.year))


class Cells:
    """The finest cells: one unknown per school year x each of the three dimensions."""

    def __init__(self, attack: Attack, responses: Sequence[Response], zips: dict[str, str]) -> None:
        self.dimensions = attack.dimensions
        self.zips = zips
        found: dict[str, set[str]] = {d: set() for d in self.dimensions}
        years: set[int] = set()
        for response in responses:
            years |= _years(response)
            for row in _rows(response):
                for d, v in row["group"].items():
                    if d in found and v != "other":
                        found[d].add(v)
        self.values = {d: sorted(v) for d, v in found.items()}
        self.keys = list(itertools.product(sorted(years), *self.values.values()))

    def members(self, response: Response, d: str, value: str) -> tuple[str, set[str]]:
        """The finest values a group's value stands for, and its dimension."""
        if d == "zip":
            return "tract", {
                t for t in self.values["tract"] if self.zips.get(t, "not_reported") == value
            }
        if value == "other":
            return d, set(response["collapsed"][d])
        return d, {value}

    def vector(self, response: Response, group: dict[str, str]) -> np.ndarray:
        """Which finest cells a response's row counts."""
        years = _years(response)
        wanted: dict[str, set[str]] = {}
        for d, value in [*group.items(), *response["_filter"].items()]:
            if value is not None:
                dimension, values = self.members(response, d, value)
                wanted[dimension] = values
        return np.array(
            [
                float(
                    key[0] in years
                    and all(
                        key[1 + i] in wanted.get(d, {key[1 + i]})
                        for i, d in enumerate(self.dimensions)
                    )
                )
                for key in self.keys
            ]
        )

    def unlisted(self, response: Response) -> list[dict[str, str]]:
        """The groups a published table does not list: they counted nobody."""
        grouped = response["group_by"]
        if not grouped or response["withheld_table"]:
            return []  # (a table not published lists no row: that says nothing)
        listed = {tuple(sorted(r["group"].items())) for r in response["rows"]}
        choices = []
        for d in grouped:
            if d == "zip":
                values = sorted({self.zips.get(t, "not_reported") for t in self.values["tract"]})
            else:
                folded = set(response["collapsed"].get(d, []))
                values = [v for v in self.values[d] if v not in folded]
                values += ["other"] if folded else []
            choices.append(values)
        out = []
        for combination in itertools.product(*choices):
            group = dict(zip(grouped, combination, strict=True))
            if tuple(sorted(group.items())) not in listed:
                out.append(group)
        return out


def _system(
    cells: Cells, responses: Sequence[Response]
) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """Equations from everything published and every row not listed; the vectors of
    everything withheld, and what each was."""
    known, withheld, what = [], [], []
    for response in responses:
        for row in _rows(response):
            vector = cells.vector(response, row["group"])
            if row["suppressed"]:
                withheld.append(vector)
                asked = {k: response[k] for k in ("school_year", "group_by", "fallback", "_filter")}
                what.append(f"{row['group']} ({row['suppression']}) of {asked}")
            else:
                known.append(vector)
        known += [cells.vector(response, group) for group in cells.unlisted(response)]
    return known, withheld, what


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_no_withheld_count_is_recovered_from_all_responses(
    pilot: tuple[Any, Caller], pilot_database: str, name: str
) -> None:
    attack = ATTACKS[name]
    engine = create_async_engine(pilot_database, poolclass=NullPool)
    async with engine.connect() as conn:
        zips = {row.tract: row.zip for row in await conn.execute(text(TRACT_ZIP))}
    await engine.dispose()
    responses = await _responses(pilot, attack)
    cells = Cells(attack, responses, zips)
    known, withheld, what = _system(cells, responses)
    assert len(withheld) > 100, "the attacker needs withheld counts to attack"
    matrix = np.array(known)
    _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
    basis = vt[: int((singular > 1e-8 * singular[0]).sum())]
    targets = np.array(withheld)
    residual = targets - (targets @ basis.T) @ basis
    recovered = np.linalg.norm(residual, axis=1) < 1e-6
    found = [w for w, r in zip(what, recovered, strict=True) if r]
    assert not found, f"{len(found)} of {len(withheld)} recovered, e.g. " + "; ".join(found[:8])
    # The attacker is not toothless: its system holds every published count, so every
    # sum of them (a withheld cell's row minus the published cells beside it) too.
    residual_known = matrix - (matrix @ basis.T) @ basis
    assert np.abs(residual_known).max() < 1e-6
    print(
        f"\n{name}: {len(responses)} responses, {len(known)} equations over "
        f"{len(cells.keys)} cells; none of {len(withheld)} withheld recovered"
    )
