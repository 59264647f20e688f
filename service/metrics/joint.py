"""Suppression of linked tables together: every entry a set of responses can publish.

suppression.py protects one table against its own totals. Responses combine: a pooled
table minus two single years gives the third, an `other` group minus the named groups
in it gives the one folded away, a ZIP area minus its tracts gives the last tract. Here
the entries of all those tables form one system: `rules` say which entry is the sum of
which (a total of its cells, a group of its members, a block of its years, a ZIP area
of its tracts) and an entry is withheld until nothing withheld can be worked out from
all that is published, by any combination of the rules (the row-space test) or by the
bounds each withheld entry's reason gives (boxed_in, below).

Entries another table already decided come `locked`: their pattern is kept and they are
never chosen as a partner, so that the one-way table by race publishes the same race
totals whichever two-way table they border (metrics/release.py builds the tables in
that order: all students, then each dimension, then each pair).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


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
    # Published or withheld as another table decided (metrics/joint.py): never a partner.
    locked: bool = False


Rule = tuple[Cell, list[Cell]]  # whole, and the parts it is the sum of
Table = dict[tuple[Hashable, Hashable], Cell]  # a two-way table's cells by (row, column)


def determined(rules: Sequence[Rule], hidden: Sequence[Cell]) -> list[bool]:
    """Which withheld entries lie in the row space of the rules' equations. The system
    falls apart into independent parts (entries linked through rules they share; one
    part per period of a two-way release), each decomposed on its own."""
    column = {id(e): i for i, e in enumerate(hidden)}
    parent = list(range(len(hidden)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    equations = []
    for whole, parts in rules:
        row = [column[id(p)] for p in parts if p.suppressed]
        signs = [-1.0] * len(row)
        if whole.suppressed:
            row.append(column[id(whole)])
            signs.append(1.0)
        if not row:
            continue
        for j in row[1:]:
            parent[root(j)] = root(row[0])
        equations.append((row, signs))
    known = [False] * len(hidden)
    groups: dict[int, list[tuple[list[int], list[float]]]] = {}
    for row, signs in equations:
        groups.setdefault(root(row[0]), []).append((row, signs))
    for group in groups.values():
        unknowns = sorted({j for row, _ in group for j in row})
        at = {j: k for k, j in enumerate(unknowns)}
        matrix = np.zeros((len(group), len(unknowns)))
        for r, (row, signs) in enumerate(group):
            for j, sign in zip(row, signs, strict=True):
                matrix[r, at[j]] += sign
        _, singular, vt = np.linalg.svd(matrix, full_matrices=False)
        basis = vt[: int((singular > 1e-9).sum())]
        for j, d in zip(unknowns, (basis**2).sum(axis=0) > 1 - 1e-9, strict=True):
            known[j] = bool(d)
    return known


def exposed(entries: Sequence[Cell], rules: Sequence[Rule], min_cell: int) -> list[Cell]:
    """Withheld entries the published ones determine, through any rule."""
    hidden = [e for e in entries if e.suppressed]
    if not hidden:
        return []
    pinned: list[Cell] = []
    for whole, parts in rules:
        members = [p for p in parts if p.suppressed]
        if members and not whole.suppressed:
            # Every listed entry has a referral: a rest of one each pins them all.
            rest = whole.referrals - sum(p.referrals for p in parts if not p.suppressed)
            if rest < len(members) + 1:
                pinned += members
    pinned += boxed_in(entries, hidden, min_cell, rules)
    pinned += [e for e, known in zip(hidden, determined(rules, hidden), strict=True) if known]
    return list({id(e): e for e in pinned}.values())


def protect(
    entries: Sequence[Cell], rules: Sequence[Rule], min_cell: int, tables: Sequence[Table]
) -> None:
    """Withhold in place: small entries (unless locked), then partners until no withheld
    entry is exposed. An exposed cell of a two-way table in `tables` gets the cheapest
    rectangle of partners in a table it is in (a cycle: the classic complement); any other
    entry the cheapest entry sharing a rule with it. The outcome does not depend on the
    order of `entries`."""
    entries = sorted(entries, key=_name)
    rules = _in_order(rules)
    _public(entries, rules, min_cell)
    for entry in entries:
        if not entry.locked and 0 < entry.students < min_cell:
            entry.suppressed, entry.reason = True, "small_cell"
    wholes: dict[int, int] = {}
    containing: dict[int, list[int]] = {}  # entry -> the rules it is in
    withheld = [0] * len(rules)  # per rule, how many of its entries are withheld
    for i, (whole, parts) in enumerate(rules):
        wholes[id(whole)] = wholes.get(id(whole), 0) + 1
        for e in (whole, *parts):
            containing.setdefault(id(e), []).append(i)
            withheld[i] += e.suppressed
    cost: dict[int, tuple[int, int, str]] = {
        id(e): (e.referrals, wholes.get(id(e), 0), str(e.key)) for e in entries
    }
    members = [{id(c) for c in t.values()} for t in tables]

    def lone(target: Cell) -> list[Rule]:
        """The rules in which the target is the one entry withheld."""
        return [rules[i] for i in containing.get(id(target), []) if withheld[i] == 1]

    def mark(fresh: Sequence[Cell]) -> bool:
        for e in fresh:
            if not e.suppressed:
                for i in containing.get(id(e), []):
                    withheld[i] += 1
            e.suppressed, e.reason = True, "complementary"
        return bool(fresh)

    for _ in range(10_000):  # each round withholds at least one more entry
        found = sorted(exposed(entries, rules, min_cell), key=lambda e: cost[id(e)])
        if not found:
            return
        added = False
        # First the entries a single rule gives away, each given a partner in that rule
        # (within its own table, a rectangle): the cheapest repair, and it is local.
        for target in found:
            alone = lone(target)
            if not alone:
                continue
            mine = [t for t, ids in zip(tables, members, strict=True) if id(target) in ids]
            if any(
                all(id(p) in members[tables.index(t)] for p in r[1]) for r in alone for t in mine
            ):
                added |= mark(_cheapest(_rectangle(target, t) for t in mine))
            for whole, parts in lone(target):
                free = [e for e in (whole, *parts) if not e.suppressed and not e.locked]
                if free:
                    added |= mark([min(free, key=lambda e: cost[id(e)])])
        if added:
            continue
        # Then one entry only a combination of rules gives away, or a bound.
        for target in found:
            mine = [t for t in tables if target in t.values()]
            fresh = _cheapest(_rectangle(target, t) for t in mine)
            if not fresh:
                partner = _nearest(target, rules, containing, cost)
                fresh = [partner] if partner is not None else []
            if mark(fresh):
                added = True
                break
        if not added:
            log.error("metrics: %d withheld entries could not be protected", len(found))
            return


def _name(entry: Cell) -> str:
    return str(entry.key)


def _in_order(rules: Sequence[Rule]) -> list[Rule]:
    """The rules, and the parts of each, in the order of their entries' keys: which
    partner a rule gives a withheld entry must not depend on the order the database
    returned the rows in (it did: two orders of one table withheld different totals)."""
    ordered = [(whole, sorted(parts, key=_name)) for whole, parts in rules]
    return sorted(ordered, key=lambda rule: (_name(rule[0]), [_name(p) for p in rule[1]]))


def _public(entries: Sequence[Cell], rules: Sequence[Rule], min_cell: int) -> None:
    """Lock as published the entries the locked published ones determine on their own (a
    language spoken only by students who are not English learners: its one cell is its
    total). Withholding one would protect nothing, so none is ever a partner."""
    free = [e for e in entries if not e.locked]
    for e in free:
        e.suppressed = True
    hidden = [e for e in entries if e.suppressed]
    known = determined(rules, hidden)
    for e in free:
        e.suppressed = False
    for e, public in zip(hidden, known, strict=True):
        if public and not e.locked and not 0 < e.students < min_cell:
            e.locked = True


def _nearest(
    target: Cell,
    rules: Sequence[Rule],
    containing: dict[int, list[int]],
    cost: dict[int, tuple[int, int, str]],
) -> Cell | None:
    """The cheapest entry that can be withheld beside the target: sharing a rule with
    it, else with those, and so on outwards."""
    seen = {id(target)}
    ring = [target]
    while ring:
        around: dict[int, Cell] = {}
        for t in ring:
            for i in containing.get(id(t), []):
                whole, parts = rules[i]
                around.update((id(e), e) for e in (whole, *parts) if id(e) not in seen)
        free = [e for e in around.values() if not e.suppressed and not e.locked]
        if free:
            return min(free, key=lambda e: cost[id(e)])
        seen.update(around)
        ring = list(around.values())
    return None


def _cheapest(choices: Iterable[list[Cell]]) -> list[Cell]:
    found = [c for c in choices if c]
    return min(
        found, key=lambda c: (sum(e.referrals for e in c), str([e.key for e in c])), default=[]
    )


def _rectangle(target: Cell, table: Table) -> list[Cell]:
    """The cheapest cells to withhold with a cell of a two-way table so that it lies on a
    cycle of withheld cells: (r, c2), (r2, c) and the corner (r2, c2), fewest referrals
    newly withheld first. Empty when there is no such rectangle."""
    r, c = target.key[-2], target.key[-1]
    best: tuple[int, str, list[Cell]] | None = None
    columns = [k[1] for k in table if k[0] == r and k[1] != c]
    rows = [k[0] for k in table if k[1] == c and k[0] != r]
    for c2 in columns:
        for r2 in rows:
            corner = table.get((r2, c2))
            if corner is None:
                continue
            trio = [table[(r, c2)], table[(r2, c)], corner]
            fresh = [e for e in trio if not e.suppressed]
            if not fresh:
                continue
            price = sum(e.referrals for e in fresh)
            order = str((r2, c2))
            if best is None or (price, order) < best[:2]:
                best = (price, order, fresh)
    return best[2] if best else []


def boxed_in(
    entries: Sequence[Cell],
    hidden: list[Cell],
    min_cell: int,
    rules: Sequence[tuple[Cell, list[Cell]]],
) -> list[Cell]:
    """Withheld entries the published ones pin to one value through bounds: what each
    withheld entry's reason says of it (a listed entry has a student and a referral; a
    small cell fewer than min_cell students; a complementary entry min_cell or more, or it
    would have been small) narrowed by every equation of the table, to a fixpoint.

    A small total's own upper bound is left out: where it pins its parts (a group under
    min_cell split into min_cell-1 listed rows) nothing left to withhold would help."""
    wholes = {id(whole) for whole, _ in rules}
    column = {id(e): i for i, e in enumerate(hidden)}
    pinned: list[Cell] = []
    for quantity in ("students", "referrals"):
        # Unbounded above means above this: no entry counts more than all cells together.
        cap = 1 + sum(getattr(e, quantity) for e in entries if id(e) not in wholes)
        lo, hi = [], []
        for e in hidden:
            least = min_cell if e.reason == "complementary" else 1
            small = e.reason == "small_cell" and quantity == "students" and id(e) not in wholes
            lo.append(least)
            hi.append(min_cell - 1 if small else cap)
        start = list(zip(lo, hi, strict=True))
        equations = []
        for whole, parts in rules:
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
