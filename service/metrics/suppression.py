"""Publishing small numbers safely: one table at a time, and rate coding.

A table is its cells (one or two grouping dimensions) and the totals published with
them (the all-students row, and with two dimensions each row's and column's total). A
total is the sum of its cells, so the table is a system of equations: link_totals says
which cells each total sums, and suppress() hands the table to joint.protect, the engine
every release uses (primary suppression of small entries, then complementary until no
withheld entry is determined, by the row space of the equations or by bounds).

* Coding: a rate over a small denominator near 0% or 100% says too much about each
  person in it, so it is reported as "<=5%" or ">=95%" instead of a number, as state
  education agencies do.

What no suppression hides is what listing a row says: a group of fewer than min_cell
students split into min_cell-1 listed rows has one student in each, whatever is
withheld. The README says so.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from service.metrics import joint
from service.metrics.joint import Cell

__all__ = ["Cell", "coded_rate", "link_totals", "suppress"]

CODING_DENOMINATOR = 100  # rates over fewer than this many are top/bottom coded
LOW, HIGH = 0.05, 0.95


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


def determined_by_rank(entries: Sequence[Cell], hidden: Sequence[Cell]) -> list[bool]:
    """Any table: which withheld entries lie in the row space of its equations."""
    return joint.determined([(e, e.parts) for e in entries if e.parts], hidden)


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


def suppress(entries: Sequence[Cell], min_cell: int) -> None:
    """Mark entries suppressed in place: primary, then complementary until nothing
    withheld can be worked out from what is published. Call link_totals first.

    One table is a release of its own: joint.protect with the table's sum rules (and, for
    a two-way table, its cells for rectangles). The outcome does not depend on the order
    of `entries` (the database promises none): the same table is always withheld the
    same way, or two answers together would expose what each withholds."""
    tables = []
    if _two_way(entries):
        tables.append({(e.key[0], e.key[1]): e for e in entries if None not in e.key})
    joint.protect(entries, _sum_rules(entries), min_cell, tables)


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
