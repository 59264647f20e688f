"""The finest safe answer when a table is mostly withheld (`fallback=auto`).

At pilot scale most cells of a two-way table such as race x school hold fewer than
`min_cell` students, and suppression then withholds nearly everything. State education
agencies answer instead with a coarser table, saying what they did:

1. **collapse** the small categories of a demographic dimension into one documented
   `other` group (as SEAs fold small race groups into "other" / "two or more");
2. **coarsen** geography: home tract -> home ZIP code area;
3. **pool** periods: the three school years ending with the one asked for, the
   multi-year averaging SEAs use for small schools and subgroups (ESSA n-size practice;
   NCES, *SLDS Technical Brief 3: Statistical Methods for Protecting Personally
   Identifiable Information in Aggregate Reporting*, 2010, on recoding, collapsing and
   aggregating).

Each step is taken only while fewer than PUBLISHED_TARGET of the table's students stand
in published cells, and the answer is the table, among those tried, that shows the most
of them. Every table tried is one the release publishes anyway, withheld as the release
withholds it (release.py): choosing among them reveals nothing more. The response names
every step in it (`collapsed`, `coarsened`, `pooled`). The one-way tables keep every
category: a group folded into `other` by school still has its own row in the table by
that dimension alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from service.metrics.dimensions import Dimension
from service.metrics.periods import Period
from service.metrics.release import (
    FINE,
    GROUP,
    GROUPED,
    PUBLISHED_TARGET,
    ZIP,
    ZIP_MARK,
    Key,
    Release,
    forms,
    published_share,
)
from service.metrics.release import base as release_base

__all__ = ["PUBLISHED_TARGET", "Fallback", "Plan", "plans", "published_share"]


class Fallback(StrEnum):
    auto = "auto"
    none = "none"


@dataclass(frozen=True)
class Plan:
    """Which table of the release answers: its period and each dimension's level."""

    period: Period
    levels: tuple[str, ...]  # per release dimension
    asked: Period

    def keys(
        self, release: Release, filters: Mapping[Dimension, str], among: Iterable[Key]
    ) -> list[Key]:
        """The response's entries among `among`: every key of the slice, cells and totals."""
        out = []
        for key in among:
            if key[0] != self.period:
                continue
            if all(
                _fits(key[i + 1], d, self.levels[i], release, filters.get(d))
                for i, d in enumerate(release.dimensions)
            ):
                out.append(key)
        return out


def _fits(value: str | None, d: Dimension, level: str, release: Release, only: str | None) -> bool:
    if only is not None:
        return value == only
    if value is None:
        return True
    if level == ZIP:
        return value.startswith(ZIP_MARK)
    if value.startswith(ZIP_MARK):
        return False
    if level == GROUPED:
        return value == GROUP or value not in release.groups[d]
    return value != GROUP


def plans(release: Release, asked: Period, grouped: Sequence[Dimension]) -> Iterator[Plan]:
    """The table asked for, then each coarser one in turn (release.forms: collapse,
    coarsen, pool); a filter's dimension keeps its categories."""
    start = [ZIP if d is Dimension.zip else FINE for d in _bases(release, grouped)]
    pooled = block_of(release, asked)
    free = [release_base(d) for d in grouped]
    for levels, pool in forms(release, start, free):
        if not pool:
            yield Plan(asked, levels, asked)
        elif asked.years == 1 and pooled is not None:
            yield Plan(pooled, levels, asked)


def block_of(release: Release, asked: Period) -> Period | None:
    """The pooled block published with the school year asked (the latest years)."""
    return next(
        (
            p
            for p in release.periods
            if p.years > 1 and asked.last in range(p.start.year, p.last + 1)
        ),
        None,
    )


def _bases(release: Release, grouped: Sequence[Dimension]) -> list[Dimension]:
    """Each release dimension as the request names it (zip for a tract asked by ZIP)."""
    return [
        Dimension.zip if d is Dimension.tract and Dimension.zip in grouped else d
        for d in release.dimensions
    ]
