"""Publishing small numbers safely: primary and complementary suppression, rate coding.

Pure functions over one table: its cells (one or two grouping dimensions) and the totals
published with them (the all-students row, and with two dimensions each row's and
column's total). A total is the sum of its cells, so the table is a system of equations.

* Primary: an entry computed from fewer than `min_cell` students is suppressed (all its
  values withheld).
* Complementary: a withheld entry is exposed when the published entries determine it:
  when its unit vector lies in the row space of the table's equations (subtraction in
  any combination works it out), or when a total leaves its withheld parts one referral each (every
  listed entry has at least one). While an entry is exposed, the smallest published
  entry sharing an equation with it is withheld too.
* Coding: a rate over a small denominator near 0% or 100% says too much about each
  person in it, so it is reported as "<=5%" or ">=95%" instead of a number, as state
  education agencies do.

What this does not cover: combining responses (a one-dimension request beside a
two-dimension one, or the same table under other filters) can expose what each response
withholds on its own. The README says so.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

CODING_DENOMINATOR = 100  # rates over fewer than this many are top/bottom coded
LOW, HIGH = 0.05, 0.95


@dataclass(eq=False)
class Cell:
    """One published entry: a cell (every key part set) or a total (None for the
    dimensions it sums over)."""

    key: tuple[Hashable | None, ...]
    students: int
    referrals: int
    suppressed: bool = False
    reason: str | None = None  # small_cell | complementary
    parts: list[Cell] = field(default_factory=list)  # for a total: the cells it sums


def link_totals(entries: Sequence[Cell]) -> None:
    """Give every total the cells it sums (keys with None are totals)."""
    cells = [e for e in entries if None not in e.key]
    for total in entries:
        if None in total.key:
            total.parts = [
                c
                for c in cells
                if all(t is None or t == v for t, v in zip(total.key, c.key, strict=True))
            ]


def _exposed(entries: Sequence[Cell]) -> list[Cell]:
    """Withheld entries the published ones determine."""
    hidden = [e for e in entries if e.suppressed]
    if not hidden:
        return []
    column = {id(e): i for i, e in enumerate(hidden)}
    rows, pinned = [], []
    for total in (e for e in entries if e.parts):
        members = [p for p in total.parts if p.suppressed]
        if not members and not total.suppressed:
            continue
        row = np.zeros(len(hidden))
        for p in members:
            row[column[id(p)]] = -1.0
        if total.suppressed:
            row[column[id(total)]] = 1.0
        rows.append(row)
        if not total.suppressed and members:
            rest = total.referrals - sum(p.referrals for p in total.parts if not p.suppressed)
            if rest < len(members) + 1:
                pinned += members
    if rows:
        # x_i is determined iff e_i lies in the row space: its projection there has norm 1.
        _, singular, vt = np.linalg.svd(np.array(rows), full_matrices=False)
        basis = vt[: int((singular > 1e-9).sum())]
        determined = (basis**2).sum(axis=0) > 1 - 1e-9
        pinned += [e for e, known in zip(hidden, determined, strict=True) if known]
    return list({id(e): e for e in pinned}.values())


def suppress(entries: Sequence[Cell], min_cell: int) -> None:
    """Mark entries suppressed in place: primary, then complementary until nothing
    withheld can be worked out from what is published. Call link_totals first."""
    for entry in entries:
        if 0 < entry.students < min_cell:  # nobody at all discloses nothing
            entry.suppressed, entry.reason = True, "small_cell"
    totals = [e for e in entries if e.parts]
    containing: dict[int, list[Cell]] = {id(e): [] for e in entries}
    for total in totals:
        containing[id(total)].append(total)
        for part in total.parts:
            containing[id(part)].append(total)
    while True:
        exposed = _exposed(entries)
        if not exposed:
            return
        # One partner for every exposed entry per round: a round costs a decomposition.
        added = False
        for target in exposed:
            neighbours = {id(e): e for t in containing[id(target)] for e in (t, *t.parts)}
            candidates = [e for e in neighbours.values() if not e.suppressed] or [
                e for e in entries if not e.suppressed
            ]
            if not candidates:
                continue
            partner = min(candidates, key=lambda e: (e.referrals, len(e.parts), str(e.key)))
            partner.suppressed, partner.reason = True, "complementary"
            added = True
        if not added:
            return  # everything that could help is withheld already


def coded_rate(numerator: int, denominator: int) -> tuple[float | None, str | None]:
    """(rate, None), or (None, "<=5%" / ">=95%") for an extreme rate over a small group,
    or (None, None) when there is no denominator."""
    if denominator <= 0:
        return None, None
    rate = numerator / denominator
    if denominator < CODING_DENOMINATOR:
        if rate <= LOW:
            return None, f"<={LOW:.0%}"
        if rate >= HIGH:
            return None, f">={HIGH:.0%}"
    return round(rate, 4), None
