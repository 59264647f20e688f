"""Publishing small numbers safely: primary and complementary suppression, rate coding.

Pure functions over one table: its cells (one or two grouping dimensions) and the totals
published with them (the all-students row, and with two dimensions each row's and
column's total). A total is the sum of its cells, so the table is a system of equations.

* Primary: an entry computed from fewer than `min_cell` students is suppressed (all its
  values withheld).
* Complementary: a withheld entry is exposed when the published entries determine it:
  when its unit vector lies in the row space of the table's equations (subtraction in
  any combination works it out), or when a published total leaves its withheld parts
  only one way to share the rest, given what each part's reason says of it (every
  listed entry has a student and a referral; a small cell fewer than min_cell students;
  a complementary one min_cell or more, or it would have been small). While an entry is
  exposed, the smallest published entry sharing an equation with it is withheld too.
  For a two-way table the row-space test is a graph test (bridges, linear in the table's
  size; see determined_by_graph), exactly equivalent to the rank computation it replaces
  (kept for other shapes).
* Coding: a rate over a small denominator near 0% or 100% says too much about each
  person in it, so it is reported as "<=5%" or ">=95%" instead of a number, as state
  education agencies do.

What this does not cover: combining responses (a one-dimension request beside a
two-dimension one, or the same table under other filters) can expose what each response
withholds on its own. Nor can it hide what listing a row says: a group of fewer than
min_cell students split into min_cell-1 listed rows has one student in each, whatever is
withheld. The README says so.
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
    # The cells under each projection of their keys onto the positions a total fixes.
    groups: dict[tuple[int, ...], dict[tuple[Hashable, ...], list[Cell]]] = {}
    for total in entries:
        if None not in total.key:
            continue
        fixed = tuple(i for i, part in enumerate(total.key) if part is not None)
        if fixed not in groups:
            groups[fixed] = {}
            for cell in cells:
                groups[fixed].setdefault(tuple(cell.key[i] for i in fixed), []).append(cell)
        total.parts = list(groups[fixed].get(tuple(total.key[i] for i in fixed), []))


def _bridges(edges: Sequence[tuple[Hashable, Hashable]]) -> set[int]:
    """Indices of the edges on no cycle (Tarjan's lowlink, iteratively)."""
    adjacent: dict[Hashable, list[tuple[Hashable, int]]] = {}
    for i, (a, b) in enumerate(edges):
        adjacent.setdefault(a, []).append((b, i))
        adjacent.setdefault(b, []).append((a, i))
    found: set[int] = set()
    order: dict[Hashable, int] = {}
    low: dict[Hashable, int] = {}
    for root in adjacent:
        if root in order:
            continue
        order[root] = low[root] = len(order)
        stack = [(root, -1, iter(adjacent[root]))]
        while stack:
            node, via, rest = stack[-1]
            for nxt, edge in rest:
                if edge == via:
                    continue
                if nxt in order:
                    low[node] = min(low[node], order[nxt])
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, iter(adjacent[nxt])))
                    break
            else:
                stack.pop()
                if stack:
                    parent = stack[-1][0]
                    low[parent] = min(low[parent], low[node])
                    if low[node] > order[parent]:
                        found.add(via)
    return found


def _two_way(entries: Sequence[Cell]) -> bool:
    """A complete two-dimension table: every cell's row, column and grand totals listed."""
    keys = {e.key for e in entries}
    cells = [e for e in entries if None not in e.key]
    return (
        bool(cells)
        and (None, None) in keys
        and all(
            len(e.key) == 2 and (e.key[0], None) in keys and (None, e.key[1]) in keys for e in cells
        )
    )


def determined_by_graph(entries: Sequence[Cell], hidden: Sequence[Cell]) -> list[bool]:
    """For a complete two-way table: which withheld entries its equations determine.

    Write each total as a negative cell of the table bordered by its totals (row i's
    total at (i, *), column j's at (*, j), the grand total at (*, *) with a plus sign):
    then every row and every column of the bordered table sums to zero, and the same
    system holds as with the totals' own equations. Unknowns are the withheld entries;
    they are the edges of a bipartite graph between the bordered rows and columns, the
    free directions of the system are its cycles, and an entry is determined exactly
    when its edge lies on no cycle: when it is a bridge.
    """
    edges = [(("row", e.key[0]), ("column", e.key[1])) for e in hidden]
    bridges = _bridges(edges)
    return [i in bridges for i in range(len(hidden))]


def determined_by_rank(entries: Sequence[Cell], hidden: Sequence[Cell]) -> list[bool]:
    """Any table: which withheld entries lie in the row space of its equations."""
    column = {id(e): i for i, e in enumerate(hidden)}
    rows = []
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
    if not rows:
        return [False] * len(hidden)
    # x_i is determined iff e_i lies in the row space: its projection there has norm 1.
    _, singular, vt = np.linalg.svd(np.array(rows), full_matrices=False)
    basis = vt[: int((singular > 1e-9).sum())]
    return [bool(d) for d in (basis**2).sum(axis=0) > 1 - 1e-9]


def _boxed_in(entries: Sequence[Cell], hidden: list[Cell], min_cell: int) -> list[Cell]:
    """Withheld entries the published ones pin to one value through bounds: what each
    withheld entry's reason says of it (a listed entry has a student and a referral; a
    small cell fewer than min_cell students; a complementary entry min_cell or more, or it
    would have been small) narrowed by every equation of the table, to a fixpoint.

    A small total's own upper bound is left out: where it pins its parts (a group under
    min_cell split into min_cell-1 listed rows) nothing left to withhold would help."""
    column = {id(e): i for i, e in enumerate(hidden)}
    pinned: list[Cell] = []
    for quantity in ("students", "referrals"):
        # Unbounded above means above this: no entry counts more than all cells together.
        cap = 1 + sum(getattr(e, quantity) for e in entries if not e.parts)
        lo, hi = [], []
        for e in hidden:
            least = min_cell if e.reason == "complementary" else 1
            small = e.reason == "small_cell" and quantity == "students" and not e.parts
            lo.append(least)
            hi.append(min_cell - 1 if small else cap)
        start = list(zip(lo, hi, strict=True))
        equations = []
        for whole, parts in _sum_rules(entries):
            terms, constant = _sum_rule(whole, parts, quantity, column)
            # Students are counted once per entry, so a student in two groups (two
            # providers, two months) makes a total less than the sum of its parts. Where
            # it is, the difference is one more unknown, 0 or more; where it is not (every
            # student-attribute dimension) a reader may take the total as the sum.
            overlap = sum(getattr(p, quantity) for p in parts) - getattr(whole, quantity)
            if overlap:
                terms[len(lo)] = 1
                lo.append(min(0, overlap))
                hi.append(cap if overlap > 0 else 0)
            if terms:
                equations.append((terms, constant))
        for _ in range(100):  # each pass narrows or stops; tables converge in a few
            if not _narrow(equations, lo, hi):
                break
        pinned += [
            e
            for e, low, high, before in zip(hidden, lo, hi, start, strict=False)
            if low >= high and (low, high) != before
        ]
    return pinned


def _sum_rules(entries: Sequence[Cell]) -> list[tuple[Cell, list[Cell]]]:
    """(whole, parts) for every "whole is the sum of its parts" the table holds: each
    total of its cells, and with two dimensions the all-students total of the row totals
    and of the column totals (implied by the others, but propagation needs it said)."""
    rules = [(total, list(total.parts)) for total in entries if total.parts]
    if entries and len(entries[0].key) == 2:
        for whole in (e for e in entries if e.key == (None, None)):
            for d in (0, 1):
                rules.append(
                    (whole, [e for e in entries if e.key[d] is not None and e.key[1 - d] is None])
                )
    return rules


def _sum_rule(
    whole: Cell, parts: list[Cell], quantity: str, column: dict[int, int]
) -> tuple[dict[int, int], int]:
    """whole - sum(parts) == 0 over the withheld ones: ({variable: +1 or -1}, constant),
    meaning sum(coefficient * value) == constant."""
    terms, constant = {}, 0
    if whole.suppressed:
        terms[column[id(whole)]] = 1
    else:
        constant -= getattr(whole, quantity)
    for part in parts:
        if part.suppressed:
            terms[column[id(part)]] = -1
        else:
            constant += getattr(part, quantity)
    return terms, constant


def _narrow(equations: list[tuple[dict[int, int], int]], lo: list[int], hi: list[int]) -> bool:
    """One pass of bounds propagation over sum(c * x) == constant; True if a bound moved."""
    moved = False
    for terms, constant in equations:
        least = sum(lo[j] if c > 0 else -hi[j] for j, c in terms.items())
        most = sum(hi[j] if c > 0 else -lo[j] for j, c in terms.items())
        for j, c in terms.items():
            own_least, own_most = (lo[j], hi[j]) if c > 0 else (-hi[j], -lo[j])
            # c * x_j = constant - (the others), whose range is known.
            low = constant - (most - own_most)
            high = constant - (least - own_least)
            new_lo, new_hi = (low, high) if c > 0 else (-high, -low)
            if new_lo > lo[j] or new_hi < hi[j]:
                lo[j], hi[j] = max(lo[j], new_lo), min(hi[j], new_hi)
                moved = True
    return moved


def _exposed(entries: Sequence[Cell], two_way: bool, min_cell: int) -> list[Cell]:
    """Withheld entries the published ones determine."""
    hidden = [e for e in entries if e.suppressed]
    if not hidden:
        return []
    pinned = []
    for total in (e for e in entries if e.parts and not e.suppressed):
        members = [p for p in total.parts if p.suppressed]
        if members:
            rest = total.referrals - sum(p.referrals for p in total.parts if not p.suppressed)
            if rest < len(members) + 1:
                pinned += members
    pinned += _boxed_in(entries, hidden, min_cell)
    determined = (determined_by_graph if two_way else determined_by_rank)(entries, hidden)
    pinned += [e for e, known in zip(hidden, determined, strict=True) if known]
    return list({id(e): e for e in pinned}.values())


def suppress(entries: Sequence[Cell], min_cell: int) -> None:
    """Mark entries suppressed in place: primary, then complementary until nothing
    withheld can be worked out from what is published. Call link_totals first.

    The outcome does not depend on the order of `entries` (the database promises none):
    the same table is always withheld the same way, or two answers together would
    expose what each withholds."""
    entries = sorted(entries, key=lambda e: [(v is None, str(v)) for v in e.key])
    for entry in entries:
        if 0 < entry.students < min_cell:  # nobody at all discloses nothing
            entry.suppressed, entry.reason = True, "small_cell"
    totals = [e for e in entries if e.parts]
    containing: dict[int, list[Cell]] = {id(e): [] for e in entries}
    for total in totals:
        containing[id(total)].append(total)
        for part in total.parts:
            containing[id(part)].append(total)
    two_way = _two_way(entries)
    # The partner is the smallest candidate: fewest referrals, then fewest parts, then key.
    ranked = sorted(entries, key=lambda e: (e.referrals, len(e.parts), str(e.key)))
    rank = {id(e): i for i, e in enumerate(ranked)}
    neighbours: dict[int, list[Cell]] = {}
    cells_by_key = {e.key: e for e in entries if None not in e.key}
    rows_of: dict[Hashable, list[Hashable]] = {}
    cols_of: dict[Hashable, list[Hashable]] = {}
    for key in cells_by_key if two_way else ():
        r, c = key
        rows_of.setdefault(c, []).append(r)
        cols_of.setdefault(r, []).append(c)
    while True:
        exposed = _exposed(entries, two_way, min_cell)
        if not exposed:
            return
        # One partner for every exposed entry per round: a round costs a decomposition.
        # In a two-way table an exposed cell gets a whole rectangle at once (its row,
        # its column and the corner: a cycle, the classic complement), else the chain of
        # single partners grows until it happens to close, withholding most of the table.
        added = False
        for target in exposed:
            if two_way and None not in target.key and target.suppressed:
                corner = _rectangle(target, cells_by_key, rows_of, cols_of)
                if corner:
                    for e in corner:
                        e.suppressed, e.reason = True, "complementary"
                    added = True
                    continue
            if id(target) not in neighbours:
                near = {id(e): e for t in containing[id(target)] for e in (t, *t.parts)}
                neighbours[id(target)] = sorted(near.values(), key=lambda e: rank[id(e)])
            partner = next((e for e in neighbours[id(target)] if not e.suppressed), None)
            if partner is None:
                partner = next((e for e in ranked if not e.suppressed), None)
            if partner is None:
                continue
            partner.suppressed, partner.reason = True, "complementary"
            added = True
        if not added:
            return  # everything that could help is withheld already


def _rectangle(
    target: Cell,
    cells: dict[tuple[Hashable | None, ...], Cell],
    rows_of: dict[Hashable, list[Hashable]],
    cols_of: dict[Hashable, list[Hashable]],
) -> list[Cell]:
    """The cheapest cells to withhold with `target` (a cell of a two-way table) so that
    it lies on a cycle of withheld cells: (r, c2), (r2, c) and the corner (r2, c2), fewest
    referrals newly withheld first (cells withheld already cost nothing). Empty when the
    table has no such rectangle (a single row or column)."""
    r, c = target.key
    best: tuple[int, str, list[Cell]] | None = None
    for c2 in cols_of.get(r, []):
        if c2 == c:
            continue
        for r2 in rows_of.get(c, []):
            if r2 == r:
                continue
            corner = cells.get((r2, c2))
            if corner is None:
                continue
            trio = [cells[(r, c2)], cells[(r2, c)], corner]
            fresh = [e for e in trio if not e.suppressed]
            if not fresh:
                continue  # already on a withheld cycle: more of the same would not help
            cost = sum(e.referrals for e in fresh)
            order = str((r2, c2))
            if best is None or (cost, order) < best[:2]:
                best = (cost, order, fresh)
    return best[2] if best else []


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
