"""Suppression, attacked by brute force: no withheld count may be pinned down.

Random one- and two-dimension tables with their totals are suppressed as the service
does; then every integer assignment of the withheld entries that agrees with what is
published (shown cells, shown totals, totals are sums, every listed entry has at least
one referral) is enumerated. A withheld entry that takes one value in all of them is
recoverable.
"""

from __future__ import annotations

import itertools
import random

from service.metrics.suppression import (
    Cell,
    coded_rate,
    determined_by_rank,
    link_totals,
    suppress,
)
from tests.metrics.test_suppression_properties import attack

FREE = -1  # a value no published total constrains
LIMIT = 20_000  # assignments tried per table, at most


def feasible_values(entries: list[Cell]) -> dict[int, set[int]] | None:
    cells = [e for e in entries if not e.parts]
    totals = [e for e in entries if e.parts]
    shown_totals = [t for t in totals if not t.suppressed]
    hidden_cells = [c for c in cells if c.suppressed]
    constrained = [
        c for c in hidden_cells if any(any(p is c for p in t.parts) for t in shown_totals)
    ]
    free = [c for c in hidden_cells if c not in constrained]

    def bound(c: Cell) -> int:
        return min(
            t.referrals
            - sum(p.referrals for p in t.parts if not p.suppressed)
            - (sum(p.suppressed for p in t.parts) - 1)
            for t in shown_totals
            if any(p is c for p in t.parts)
        )

    space = 1
    for c in constrained:
        space *= max(bound(c), 1)
    if space > LIMIT:
        return None
    values: dict[int, set[int]] = {id(e): set() for e in entries if e.suppressed}
    for c in free:
        values[id(c)] = {FREE, FREE - 1}
    assignment: dict[int, int] = {}

    def value(e: Cell) -> int:
        if not e.suppressed:
            return e.referrals
        if e.parts:
            parts = [value(p) for p in e.parts]
            return FREE if FREE in parts else sum(parts)
        return assignment.get(id(e), FREE)

    def consistent(final: bool) -> bool:
        for t in shown_totals:
            known = [
                assignment[id(p)] if p.suppressed else p.referrals
                for p in t.parts
                if not p.suppressed or id(p) in assignment
            ]
            complete = len(known) == len(t.parts)
            if sum(known) > t.referrals or (complete and sum(known) != t.referrals):
                return False
        if final:
            return all(value(t) == FREE or value(t) >= 1 for t in totals if t.suppressed)
        return True

    def search(i: int) -> None:
        if i == len(constrained):
            if consistent(True):
                for e in entries:
                    if e.suppressed and e not in free:
                        v = value(e)
                        values[id(e)] |= {FREE, FREE - 1} if v == FREE else {v}
            return
        for v in range(1, bound(constrained[i]) + 1):
            assignment[id(constrained[i])] = v
            if consistent(False):
                search(i + 1)
            del assignment[id(constrained[i])]

    search(0)
    return values


def table(rng: random.Random) -> list[Cell]:
    """Cells of one or two dimensions (students of different cells are different people)
    with every total."""
    two = rng.random() < 0.6
    keys = (
        [(r, c) for r, c in itertools.product(range(rng.randint(2, 4)), range(rng.randint(2, 3)))]
        if two
        else [(i,) for i in range(rng.randint(2, 6))]
    )
    cells = []
    for key in keys:
        if two and rng.random() < 0.15:
            continue  # a combination nobody is in is not listed
        students = rng.choice([1, 2, 3, 5, 8, 9, 10, 12, 14])
        cells.append(Cell(key=key, students=students, referrals=students + rng.randint(0, 1)))
    if not cells:
        return []
    width = len(keys[0])
    total_keys = {tuple(None for _ in range(width))}
    if width == 2:
        total_keys |= {(c.key[0], None) for c in cells} | {(None, c.key[1]) for c in cells}
    entries = cells + [Cell(key=k, students=0, referrals=0) for k in sorted(total_keys, key=str)]
    link_totals(entries)
    for t in entries[len(cells) :]:
        t.students = sum(p.students for p in t.parts)
        t.referrals = sum(p.referrals for p in t.parts)
    return entries


def test_no_withheld_count_can_be_recovered() -> None:
    attacked = 0
    for seed in range(400):
        entries = table(random.Random(seed))
        if not entries:
            continue
        suppress(entries, 10)
        assert all(e.suppressed for e in entries if e.students < 10)
        feasible = feasible_values(entries)
        if feasible is None:
            continue  # beyond exhaustive search; the smaller tables exercise the same rule
        attacked += 1
        for entry in entries:
            if entry.suppressed:
                possible = feasible[id(entry)]
                assert len(possible) >= 2, f"{entry.key} recoverable as {possible} (seed {seed})"
    assert attacked >= 150


def test_the_attack_finds_what_primary_suppression_alone_leaves() -> None:
    cells = [Cell((0,), 4, 4), Cell((1,), 30, 31), Cell((2,), 20, 22)]
    total = Cell((None,), 54, 57)
    entries = [*cells, total]
    link_totals(entries)
    cells[0].suppressed = True
    found = feasible_values(entries)
    assert found is not None and found[id(cells[0])] == {4}


def test_complementary_suppression_picks_the_smallest_sibling() -> None:
    entries = [
        Cell(("a",), 4, 4),
        Cell(("b",), 30, 31),
        Cell(("c",), 12, 12),
        Cell((None,), 46, 47),
    ]
    link_totals(entries)
    suppress(entries, 10)
    assert [e.reason for e in entries] == ["small_cell", None, "complementary", None]


def _linked(*rows: tuple[tuple[object, ...], int, int]) -> list[Cell]:
    entries = [Cell(key, students, referrals) for key, students, referrals in rows]
    link_totals(entries)
    return entries


def test_a_complementary_cell_is_known_to_hold_min_cell_students_or_more() -> None:
    # Found by test_suppression_properties.py: with 11 students in all, a small cell (1 to
    # 9) and a complementary one (10 or more, or it would be small) can only be 1 and 10.
    entries = _linked(((0,), 1, 1), ((1,), 10, 10), ((None,), 11, 11))
    suppress(entries, 10)
    assert [e.reason for e in entries] == ["small_cell", "complementary", "complementary"]


def test_students_are_protected_like_referrals() -> None:
    # 31 - 29 shown = 2 students for two withheld groups: one each, though their 6
    # referrals could be shared several ways.
    entries = _linked(
        ((0,), 1, 2), ((1,), 1, 4), ((2,), 6, 6), ((3,), 7, 9), ((4,), 6, 6), ((5,), 10, 11),
        ((None,), 31, 38),
    )  # fmt: skip
    suppress(entries, 5)
    assert sum(e.suppressed for e in entries) > 2


def test_row_and_column_totals_are_equations_too() -> None:
    # Found by the property test: the all-students total less two published row totals
    # leaves 6 for a small row (1 or more) and a complementary one (5 or more).
    entries = _linked(
        ((0, 0), 10, 13), ((0, 1), 8, 10), ((1, 0), 11, 11), ((1, 1), 14, 15),
        ((2, 1), 1, 1), ((3, 0), 4, 5), ((3, 1), 1, 4),
        ((0, None), 18, 23), ((1, None), 25, 26), ((2, None), 1, 1), ((3, None), 5, 9),
        ((None, 0), 25, 29), ((None, 1), 24, 30), ((None, None), 49, 59),
    )  # fmt: skip
    suppress(entries, 5)
    for quantity in ("students", "referrals"):
        possible = attack(entries, 5, quantity)
        assert all(len(values) >= 2 for values in possible.values()), quantity


def test_the_same_table_in_another_order_is_withheld_the_same_way() -> None:
    rows = [((0, 1), 8, 11), ((0, 2), 11, 14), ((0, None), 19, 25), ((None, 1), 8, 11)]
    rows += [((None, 2), 11, 14), ((None, None), 19, 25)]
    forward, backward = _linked(*rows), _linked(*reversed(rows))
    suppress(forward, 10)
    suppress(backward, 10)
    assert {e.key: e.reason for e in forward} == {e.key: e.reason for e in backward}


def test_rates_of_small_groups_are_top_and_bottom_coded() -> None:
    assert coded_rate(1, 40) == (None, "<=5%")
    assert coded_rate(39, 40) == (None, ">=95%")
    assert coded_rate(20, 40) == (0.5, None)
    assert coded_rate(1, 400) == (0.0025, None)  # large groups: the number
    assert coded_rate(0, 0) == (None, None)


def test_a_large_table_is_suppressed_quickly() -> None:
    """1,000 cells (250 providers x 4 grade bands), many of them small."""
    rng = random.Random(1)
    cells = []
    for provider in range(250):
        for band in range(4):
            students = rng.choice([2, 5, 8, 12, 20, 40, 60])
            cells.append(Cell((provider, band), students, students + rng.randint(0, 3)))
    totals = [Cell((p, None), 0, 0) for p in range(250)]
    totals += [Cell((None, b), 0, 0) for b in range(4)] + [Cell((None, None), 0, 0)]
    entries = cells + totals
    link_totals(entries)
    for t in totals:
        t.students = sum(p.students for p in t.parts)
        t.referrals = sum(p.referrals for p in t.parts)
    suppress(entries, 10)  # its speed is a figure of `make bench`, not a timed test
    hidden = [e for e in entries if e.suppressed]
    assert not any(determined_by_rank(entries, hidden))


def test_a_few_small_cells_withhold_a_few_rectangles_not_the_table() -> None:
    """24 schools x 3 groups with two small cells: the complements close a cycle at once
    (a rectangle each) instead of a chain of single partners across the whole table
    (which withheld 65 of the 72 cells before)."""
    rng = random.Random(1)
    values = {(r, c): rng.randint(11, 20) for r in range(24) for c in range(3)}
    values[(0, 2)], values[(5, 2)] = 8, 7
    entries = [
        Cell(key=(str(r), str(c)), students=n, referrals=2 * n) for (r, c), n in values.items()
    ]
    for r in range(24):
        n = sum(values[(r, c)] for c in range(3))
        entries.append(Cell(key=(str(r), None), students=n, referrals=2 * n))
    for c in range(3):
        n = sum(values[(r, c)] for r in range(24))
        entries.append(Cell(key=(None, str(c)), students=n, referrals=2 * n))
    n = sum(values.values())
    entries.append(Cell(key=(None, None), students=n, referrals=2 * n))
    link_totals(entries)
    suppress(entries, 10)
    hidden = [e for e in entries if e.suppressed]
    assert len(hidden) <= 8, [e.key for e in hidden]
    for quantity in ("students", "referrals"):
        assert not any(len(values) == 1 for values in attack(entries, 10, quantity).values())
