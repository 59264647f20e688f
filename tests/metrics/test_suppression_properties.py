"""Suppression under Hypothesis: random small tables, attacked by an exact solver.

A table is one or two dimensions of cells with every total (the all-students row, and
with two dimensions each row's and each column's). Students are additive here, as they
are for every student-attribute dimension (grade band, gender, school, tract, ...): a
student is in one cell. The attacker knows everything a response publishes: the shown
entries, that totals are sums, that every listed entry has at least one student and one
referral, `min_cell`, and each withheld row's `suppression` reason (a small_cell entry
has 1..min_cell-1 students; a complementary one has min_cell or more, or it would have
been small). A withheld value (a cell's, or a withheld total's) is recovered when
exactly one integer value fits all of that.

Left out: a withheld small total's upper bound (fewer than min_cell students). With it,
a small group split into min_cell-1 listed rows has one student in each, which no
suppression can hide; test_rows_of_a_small_group_say_one_each shows it.

The solver is exact and separate from service/metrics/suppression.py (which propagates
bounds without searching): it branches over integers until an assignment fits.
tests/metrics/test_suppression.py enumerates referrals only, without reasons.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from random import Random

import pytest
from hypothesis import given, note, settings
from hypothesis import strategies as st

from service.metrics.suppression import CODING_DENOMINATOR, Cell, coded_rate, link_totals, suppress

# Derandomized: every run (CI's included) draws the same examples, so a run fails only
# for a change of the code. YOUTHLINK_PROPERTY_RANDOM=1 draws fresh ones to explore.
FIXED = not os.environ.get("YOUTHLINK_PROPERTY_RANDOM")
PROPERTY = settings(max_examples=150, deadline=None, derandomize=FIXED)
QUANTITIES = ("students", "referrals")


@st.composite
def tables(draw: st.DrawFn, least: int = 1) -> list[Cell]:
    """Cells with every total, each cell with `least` students or more."""
    two = draw(st.booleans())
    if two:
        rows, cols = draw(st.integers(1, 4)), draw(st.integers(2, 3))
        keys = [k for k in itertools.product(range(rows), range(cols)) if draw(st.integers(0, 6))]
    else:
        keys = [(i,) for i in range(draw(st.integers(2, 6)))]
    if not keys:
        keys = [(0, 0)] if two else [(0,)]
    counts = st.integers(least, least + 13)
    cells = []
    for key in keys:
        students = draw(counts)
        cells.append(Cell(key, students, students + draw(st.integers(0, 3))))
    total_keys = {(None,) * len(keys[0])}
    if two:
        total_keys |= {(k[0], None) for k in keys} | {(None, k[1]) for k in keys}
    entries = cells + [Cell(k, 0, 0) for k in sorted(total_keys, key=str)]
    link_totals(entries)
    for total in entries[len(cells) :]:
        total.students = sum(p.students for p in total.parts)
        total.referrals = sum(p.referrals for p in total.parts)
    return entries


min_cells = st.sampled_from([3, 5, 10, 15])  # practice: n<5 to n<=15, mostly n<10


# ---------------------------------------------------------------- the attacker


@dataclass
class Problem:
    """Withheld cells' values of one quantity: bounds, and sums that must hold."""

    lo: list[int]
    hi: list[int]
    sums: list[tuple[list[int], int, int]]  # (variables, at least, at most) of a sum


def attack(
    entries: list[Cell], min_cell: int, quantity: str, total_ceilings: bool = False
) -> dict[int, set[int]]:
    """For each withheld entry (by id): its true value of `quantity`, and another it could
    have given what is published, if there is one."""
    cells = [e for e in entries if not e.parts]
    hidden = [c for c in cells if c.suppressed]
    index = {id(c): i for i, c in enumerate(hidden)}
    value = lambda e: getattr(e, quantity)  # noqa: E731
    cap = sum(value(c) for c in cells) + min_cell + 1  # above anything a sum allows

    def bounds(entry: Cell) -> tuple[int, int]:
        if entry.reason == "small_cell":
            return 1, (min_cell - 1 if quantity == "students" else cap)
        return (min_cell if entry.reason == "complementary" else 1), cap

    problem = Problem([bounds(c)[0] for c in hidden], [bounds(c)[1] for c in hidden], [])
    for total in (e for e in entries if e.parts):
        members = [index[id(p)] for p in total.parts if p.suppressed]
        known = sum(value(p) for p in total.parts if not p.suppressed)
        if total.suppressed:
            # A small total's upper bound pins what no suppression can protect, so it
            # is left out unless asked for (test_rows_of_a_small_group_say_one_each).
            low, high = bounds(total)
            problem.sums.append((members, low - known, (high if total_ceilings else cap) - known))
        elif members:
            problem.sums.append((members, value(total) - known, value(total) - known))
        else:
            assert value(total) == known
    found: dict[int, set[int]] = {}
    for entry in (e for e in entries if e.suppressed):
        # The entry's value is a sum of withheld cells (itself, or a total's withheld
        # parts) plus what is shown: which sums can those cells take?
        members = (
            [index[id(entry)]]
            if not entry.parts
            else [index[id(p)] for p in entry.parts if p.suppressed]
        )
        shown = 0 if not entry.parts else sum(value(p) for p in entry.parts if not p.suppressed)
        true = value(entry) - shown
        assert _feasible(problem, members, true), "the solver lost the real table"
        low = sum(problem.lo[j] for j in members)
        high = sum(problem.hi[j] for j in members)
        near = sorted(range(low, high + 1), key=lambda v: abs(v - true))
        other = next((v for v in near if v != true and _feasible(problem, members, v)), None)
        found[id(entry)] = {true} if other is None else {true, other}
    return found


def _tighten(problem: Problem, lo: list[int], hi: list[int]) -> bool:
    """Narrow the bounds by every sum until nothing changes; False when none fit."""
    changed = True
    while changed:
        changed = False
        for members, low, high in problem.sums:
            least, most = sum(lo[j] for j in members), sum(hi[j] for j in members)
            if least > high or most < low:
                return False
            for j in members:
                new_lo = max(lo[j], low - (most - hi[j]))
                new_hi = min(hi[j], high - (least - lo[j]))
                if new_lo > new_hi:
                    return False
                if (new_lo, new_hi) != (lo[j], hi[j]):
                    lo[j], hi[j], changed = new_lo, new_hi, True
                    least, most = sum(lo[k] for k in members), sum(hi[k] for k in members)
    return True


def _feasible(problem: Problem, members: list[int], v: int) -> bool:
    """Is there an integer assignment in which `members` sum to v? Propagate, then branch."""
    lo, hi = list(problem.lo), list(problem.hi)
    constrained = Problem(lo, hi, [*problem.sums, (members, v, v)])

    def search(lo: list[int], hi: list[int]) -> bool:
        if not _tighten(constrained, lo, hi):
            return False
        open_ = [j for j in range(len(lo)) if lo[j] < hi[j]]
        if not open_:
            return True
        j = min(open_, key=lambda k: hi[k] - lo[k])
        for candidate in range(lo[j], hi[j] + 1):
            lo2, hi2 = list(lo), list(hi)
            lo2[j] = hi2[j] = candidate
            if search(lo2, hi2):
                return True
        return False

    return search(lo, hi)


# ---------------------------------------------------------------- properties


@given(tables(), min_cells)
@PROPERTY
def test_no_entry_from_fewer_students_than_the_minimum_is_published(
    entries: list[Cell], min_cell: int
) -> None:
    suppress(entries, min_cell)
    for entry in entries:
        if 0 < entry.students < min_cell:
            assert entry.suppressed and entry.reason == "small_cell"
        elif entry.suppressed:
            assert entry.reason == "complementary"


@given(tables(), min_cells)
@settings(max_examples=300, deadline=None, derandomize=FIXED)  # the one that matters: twice
def test_no_withheld_value_can_be_recovered(entries: list[Cell], min_cell: int) -> None:
    suppress(entries, min_cell)
    note(_describe(entries, min_cell))
    for quantity in QUANTITIES:
        found = attack(entries, min_cell, quantity)
        for entry in entries:
            if entry.suppressed:
                assert len(found[id(entry)]) >= 2, (
                    f"{entry.key} ({entry.reason}) has {quantity} = {found[id(entry)]}: "
                    + _describe(entries, min_cell)
                )


@given(tables(), min_cells, st.randoms(use_true_random=False))
@PROPERTY
def test_suppression_is_deterministic_whatever_the_row_order(
    entries: list[Cell], min_cell: int, random: Random
) -> None:
    """The database returns grouping-sets rows in no promised order; two requests for
    the same table must withhold the same entries, or together they expose them."""
    note(_describe(entries, min_cell))
    shuffled = _copy(entries)
    random.shuffle(shuffled)
    link_totals(shuffled)
    suppress(entries, min_cell)
    suppress(shuffled, min_cell)
    assert _pattern(entries) == _pattern(shuffled)


@given(tables(), min_cells)
@PROPERTY
def test_suppressing_again_changes_nothing(entries: list[Cell], min_cell: int) -> None:
    suppress(entries, min_cell)
    once = _pattern(entries)
    suppress(entries, min_cell)
    assert _pattern(entries) == once


@given(tables(least=10), st.sampled_from([5, 10]))
@PROPERTY
def test_a_table_without_small_entries_is_untouched(entries: list[Cell], min_cell: int) -> None:
    suppress(entries, min_cell)
    assert not any(e.suppressed for e in entries)


@given(tables(), min_cells, st.integers(1, 6))
@PROPERTY
def test_a_higher_minimum_withholds_every_small_cell_a_lower_one_does(
    entries: list[Cell], min_cell: int, more: int
) -> None:
    higher = _copy(entries)
    link_totals(higher)
    suppress(entries, min_cell)
    suppress(higher, min_cell + more)
    assert {e.key for e in entries if e.reason == "small_cell"} <= {
        e.key for e in higher if e.reason == "small_cell"
    }


@given(st.integers(0, 500), st.integers(0, 500))
@PROPERTY
def test_rates_of_small_groups_near_0_or_100_percent_are_coded(num: int, den: int) -> None:
    num = min(num, den)
    rate, code = coded_rate(num, den)
    if den == 0:
        assert (rate, code) == (None, None)
    elif den < CODING_DENOMINATOR and not 0.05 < num / den < 0.95:
        assert rate is None and code in {"<=5%", ">=95%"}
    else:
        assert code is None and rate is not None and abs(rate - num / den) <= 5e-5


def test_rows_of_a_small_group_say_one_each() -> None:
    """The limit no suppression lifts (README): four listed groups under a total of fewer
    than five students have one student each, though every number is withheld."""
    entries = [Cell((i,), 1, 1) for i in range(4)] + [Cell((None,), 4, 4)]
    link_totals(entries)
    suppress(entries, 5)
    assert all(e.suppressed for e in entries)
    known = attack(entries, 5, "students", total_ceilings=True)
    assert all(known[id(e)] == {1} for e in entries[:4])


# ---------------------------------------------------------------- helpers


def _copy(entries: list[Cell]) -> list[Cell]:
    """The same table, nothing withheld yet (link_totals before use)."""
    return [Cell(e.key, e.students, e.referrals) for e in entries]


def _pattern(entries: list[Cell]) -> dict[tuple[object, ...], str | None]:
    return {e.key: e.reason for e in entries}


def _describe(entries: list[Cell], min_cell: int) -> str:
    shown = [
        f"{e.key}:{'-' if e.suppressed else ''}{e.students}/{e.referrals}"
        + (f"[{e.reason}]" if e.reason else "")
        for e in entries
    ]
    return f"min_cell={min_cell} " + " ".join(shown)


def test_the_table_hypothesis_found_is_withheld_alike_in_every_order() -> None:
    """A 2x2 table with an empty cell that two row orders once withheld differently (the
    row-1 total in one, the all-students total in the other): the rules a withheld entry
    takes partners from were walked in the order the rows came in."""
    counts = {
        (0, 0): 3,
        (1, 0): 1,
        (1, 1): 4,
        (0, None): 3,
        (1, None): 5,
        (None, 0): 4,
        (None, 1): 4,
        (None, None): 8,
    }
    patterns = set()
    for seed in range(200):
        entries = [Cell(key, n, n) for key, n in counts.items()]
        Random(seed).shuffle(entries)
        link_totals(entries)
        suppress(entries, 3)
        patterns.add(tuple(sorted((str(k), r) for k, r in _pattern(entries).items())))
    assert len(patterns) == 1, patterns


@pytest.mark.xfail(
    strict=True,
    reason="known gap, found by a random run on 2026-12-04 (issue 18's note): in this 3x3 "
    "table with empty cells the exact attacker still recovers a withheld small cell",
)
def test_the_recoverable_table_a_random_run_found() -> None:
    counts = {
        (0, 1): 2,
        (1, 1): 8,
        (1, 2): 1,
        (2, 0): 11,
        (2, 2): 1,
        (0, None): 2,
        (1, None): 9,
        (2, None): 12,
        (None, 0): 11,
        (None, 1): 10,
        (None, 2): 2,
        (None, None): 23,
    }
    entries = [Cell(key, n, n) for key, n in counts.items()]
    link_totals(entries)
    suppress(entries, 10)
    found = attack(entries, 10, "students")
    recovered = [e.key for e in entries if e.suppressed and len(found[id(e)]) < 2]
    assert recovered == []
