"""The finest safe answer when a table is mostly withheld (`fallback=auto`).

At pilot scale most cells of a two-way table such as race x school hold fewer than
`min_cell` students, and suppression then withholds nearly everything. State education
agencies answer instead with a coarser table, saying what they did:

1. **collapse** the smallest categories of a demographic dimension into one documented
   `other` group (as SEAs fold small race groups into "other" / "two or more");
2. **coarsen** geography: home tract -> home ZIP code area;
3. **pool** periods: up to three years ending at `to`, the multi-year averaging SEAs use
   for small schools and subgroups (ESSA n-size practice; NCES, *SLDS Technical Brief 3:
   Statistical Methods for Protecting Personally Identifiable Information in Aggregate
   Reporting*, 2010, on recoding, collapsing and aggregating).

Each step is taken only while fewer than PUBLISHED_TARGET of the table's students stand
in published cells, and the answer is the table, among those tried, that shows the most
of them (a step can make things worse: an `other` that stays small everywhere). The
response names every step in it (`collapsed`, `coarsened`, `pooled`). Suppression still
runs on the result: a coarser table is never a less protected one. The one-way tables
keep every category: a group folded into `other` by school still has its own row in the
table by that dimension alone. This module decides; service.py tabulates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from service.metrics.dimensions import OTHER, Dimension
from service.metrics.suppression import Cell

PUBLISHED_TARGET = 0.8  # of the students in a table's cells, the share that should show
POOL_YEARS = 3
KEEP_NAMED = 2  # collapsing stops with this many named categories left (besides other)
# Dimensions whose small categories collapse into `other`, in the order tried. Schools,
# providers and places are what the partnership asks about, so they are not folded.
COLLAPSIBLE = (
    Dimension.race_ethnicity,
    Dimension.home_language,
    Dimension.gender,
    Dimension.grade_band,
    Dimension.program_category,
)
COARSER = {Dimension.tract: Dimension.zip}


class Fallback(StrEnum):
    auto = "auto"
    none = "none"


@dataclass
class Plan:
    """What the request's table became."""

    dimensions: list[Dimension]
    start: date
    end: date
    collapsed: dict[Dimension, list[str]] = field(default_factory=dict)
    coarsened: dict[Dimension, Dimension] = field(default_factory=dict)
    pooled_from: date | None = None  # the requested start, when pooled

    def recode(self) -> dict[Dimension, dict[str, str]]:
        return {d: dict.fromkeys(values, OTHER) for d, values in self.collapsed.items()}


def published_share(entries: Sequence[Cell]) -> float:
    """Of the students in the table's cells (totals aside), the share in published ones.
    (Cells of a student dimension hold each student once; across providers a student in
    two cells counts twice, as the cells do.)"""
    cells = [e for e in entries if None not in e.key]
    if not any(None in e.key for e in entries):  # no dimension: the one row is the table
        cells = list(entries)
    total = sum(c.students for c in cells)
    if total == 0:
        return 1.0
    return sum(c.students for c in cells if not c.suppressed) / total


def _collapse_one(plan: Plan, entries: Sequence[Cell], min_cell: int) -> bool:
    """Fold the smallest category too small to show in most cells (its students spread
    over the other dimension's values average under min_cell a cell) of the first
    collapsible dimension, keeping KEEP_NAMED named; False when there is none."""
    width = len(plan.dimensions)
    for dimension in COLLAPSIBLE:
        if dimension not in plan.dimensions:
            continue
        position = plan.dimensions.index(dimension)
        sizes: dict[str, int] = {}
        across: set[object] = set()  # the other dimension's values
        for e in entries:
            fixed = [i for i, part in enumerate(e.key) if part is not None]
            if fixed == [position]:  # the dimension's one-way totals (or rows, alone)
                sizes[str(e.key[position])] = e.students
            elif width == 2 and len(fixed) == 1:
                across.add(e.key[fixed[0]])
        spread = max(len(across), 1)
        named = {v: n for v, n in sizes.items() if v != OTHER}
        small = {v: n for v, n in named.items() if n / spread < min_cell}
        if len(named) <= KEEP_NAMED or not small:
            continue
        smallest = min(small, key=lambda v: (small[v], v))
        plan.collapsed.setdefault(dimension, []).append(smallest)
        return True
    return False


def next_step(plan: Plan, entries: Sequence[Cell], earliest: date | None, min_cell: int) -> bool:
    """Take the next coarsening step in place; False when there is none left.
    `earliest`: the first day any referral was sent (pooling goes no further back)."""
    if _collapse_one(plan, entries, min_cell):
        return True
    for i, dimension in enumerate(plan.dimensions):
        coarser = COARSER.get(dimension)
        if coarser is not None and coarser not in plan.dimensions:
            plan.dimensions[i] = coarser
            plan.coarsened[dimension] = coarser
            return True
    if plan.pooled_from is None:
        pooled = plan.end - relativedelta(years=POOL_YEARS) + relativedelta(days=1)
        if pooled < plan.start and (earliest is None or earliest < plan.start):
            plan.pooled_from = plan.start
            plan.start = max(pooled, earliest) if earliest else pooled
            return True
    return False
