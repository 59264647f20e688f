"""The tables metrics can publish, suppressed together, once per data version.

A response is always a piece of one *release*: the entries for at most two dimensions
(its grouping and its filters together; a school's or provider's key is a filter on its
own organization) over the periods published (each school year and the block of the
latest three, periods.py). joint.py withholds entries until nothing withheld can be
worked out from everything the release publishes. So a filtered table is a slice of the
unfiltered one with the same cells withheld.

* The all-students release and each one-way release publish every level of their
  dimension over every period: the categories, for the collapsible ones also `other`
  (the small categories together), for tract also the ZIP areas, each school year and
  the block, with the rules that link them (`other` is the sum of its members, a ZIP
  area of its tracts, the block of its years).
* A two-way release publishes one form of its table (_pair says which): publishing two
  would link them, and every cell the finer form withholds would hold the coarser back.

Releases link through their totals: the one-way release by race holds the race totals
every two-way release by race borders, and those keep its pattern (locked), as the
all-students release's totals are kept by every one-way release. So the releases are
built in that order, each cached with the loaded columns (columns.py: a new version of
the data gets new columns and new releases).

Which categories are small is decided once per data version: for a one-way release,
those holding under SMALL_SHARE of the dimension's students over all the years loaded;
for a two-way release, those too small to show in most of its cells (_pair_groups).
Either way at least two fold and KEEP_NAMED named categories stay.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from itertools import product
from typing import Any
from zoneinfo import ZoneInfo

from service.metrics import joint, tabulate
from service.metrics.columns import Columns, moment
from service.metrics.dimensions import NOT_REPORTED, OTHER, Dimension
from service.metrics.periods import (
    Period,
    periods_for,
    school_year_label,
    school_year_of,
)

__all__ = ["school_year_label"]
from service.metrics.scope import Scope
from service.metrics.suppression import Cell

FINE, GROUPED, ZIP = "fine", "grouped", "zip"
GROUP = "~other"  # a collapsed group's value inside a release (OTHER in responses)
ZIP_MARK = "zip:"  # a ZIP area's value inside a release, apart from the tracts
SMALL_SHARE = 0.15
PUBLISHED_TARGET = 0.8  # of the students in a table's cells, the share that should show
KEEP_NAMED = 2
# Dimensions whose small categories fold into `other`. Schools, providers and places are
# what the partnership asks about, so they are not folded.
COLLAPSIBLE = (
    Dimension.race_ethnicity,
    Dimension.home_language,
    Dimension.gender,
    Dimension.grade_band,
    Dimension.program_category,
)
Key = tuple[Any, ...]  # (Period, value or None for each dimension)


@dataclass
class Release:
    dimensions: tuple[Dimension, ...]
    periods: list[Period]
    entries: dict[Key, Cell] = field(default_factory=dict)
    groups: dict[Dimension, list[str]] = field(default_factory=dict)
    # A two-way release's one published form: each dimension's level, and pooled or not.
    form: tuple[tuple[str, ...], bool] | None = None
    parents: list[Release] = field(default_factory=list)  # the releases it borders
    first: int = 0  # the first school year with a referral (or the current one)

    def levels(self, dimension: Dimension) -> list[str]:
        levels = [FINE]
        if self.groups.get(dimension):
            levels.append(GROUPED)
        if dimension is Dimension.tract:
            levels.append(ZIP)
        return levels


@dataclass(frozen=True)
class Context:
    """What tabulating needs besides the columns."""

    tz: ZoneInfo
    now: datetime
    zips: dict[str, str]
    current: int  # the school year today is in
    min_cell: int


def base(dimension: Dimension) -> Dimension:
    return Dimension.tract if dimension is Dimension.zip else dimension


def canonical(dimensions: Sequence[Dimension]) -> tuple[Dimension, ...]:
    order = list(Dimension)
    return tuple(sorted({base(d) for d in dimensions}, key=order.index))


def outward(value: str | None, level: str) -> str | None:
    """A release's value as a response shows it."""
    if value is None:
        return None
    if value == GROUP:
        return OTHER
    return value.removeprefix(ZIP_MARK) if level == ZIP else value


def table(
    columns: Columns,
    context: Context,
    dimensions: Sequence[Dimension],
    levels: Sequence[str],
    period: Period,
    groups: dict[Dimension, list[str]],
    *,
    sizes_only: bool = True,
) -> list[tuple[Key, dict[str, Any]]]:
    """One table of a release, tabulated: (key, row) for every cell and total; with
    sizes_only (building releases) the counts without the medians."""
    counted = [Dimension.zip if lv == ZIP else d for d, lv in zip(dimensions, levels, strict=True)]
    recode = {
        d: dict.fromkeys(groups[d], GROUP)
        for d, lv in zip(dimensions, levels, strict=True)
        if lv == GROUPED
    }
    start = datetime.combine(period.start, time(0), context.tz)
    stop = datetime.combine(period.end + timedelta(days=1), time(0), context.tz)
    rows = tabulate.tabulate(
        columns,
        counted,
        Scope(period.start, period.end),
        now=context.now,
        start=start,
        stop=stop,
        tz=context.tz,
        zips=context.zips,
        recode=recode,
        sizes_only=sizes_only,
    )
    out = []
    for row in rows:
        values = []
        for i, level in enumerate(levels):
            value = row[f"g{i}"]
            values.append(ZIP_MARK + value if level == ZIP and value is not None else value)
        out.append(((period, *values), row))
    return out


def _first_year(columns: Columns, tz: ZoneInfo) -> int | None:
    sent = columns.facts["sent_at"]
    if not sent.size:
        return None
    return school_year_of(moment(int(sent.min())).astimezone(tz).date())


def _groups(
    columns: Columns, context: Context, dimension: Dimension, everything: Period
) -> list[str]:
    """The small categories of a dimension, folded into `other` in every release."""
    if dimension not in COLLAPSIBLE:
        return []
    rows = table(columns, context, [dimension], [FINE], everything, {})
    sizes = {key[1]: row["students"] for key, row in rows if key[1] is not None}
    return _fold(sizes, SMALL_SHARE * sum(sizes.values()))


def _fold(sizes: dict[str, int], under: float) -> list[str]:
    """The categories folded into `other`: those with fewer than `under` students,
    smallest first, while KEEP_NAMED named ones stay; none unless at least two fold."""
    small = sorted((n, v) for v, n in sizes.items() if n < under)
    folded = [v for _, v in small][: max(len(sizes) - KEEP_NAMED, 0)]
    return sorted(folded) if len(folded) >= 2 else []


def _pair_groups(
    parents: list[Release], dimensions: tuple[Dimension, ...], min_cell: int
) -> dict[Dimension, list[str]]:
    """In a two-way table the small categories are those too small to show in most cells:
    spread over the other dimension's values, under min_cell students a cell (the
    latest BLOCK_YEARS counted, as the one-way releases counted them), folded while
    KEEP_NAMED named categories stay."""
    one_way = {p.dimensions[0]: p for p in parents if len(p.dimensions) == 1}
    out = {}
    for i, d in enumerate(dimensions):
        if d not in COLLAPSIBLE:
            continue
        spread = len(_fine_sizes(one_way[dimensions[1 - i]]))
        if folded := _fold(_fine_sizes(one_way[d]), min_cell * max(spread, 1)):
            out[d] = folded
    return out


def _fine_sizes(one_way: Release) -> dict[str, int]:
    """A one-way release's categories and their students, over its latest period."""
    latest = max(one_way.periods, key=lambda p: (p.last, p.years))
    return {
        k[1]: e.students
        for k, e in one_way.entries.items()
        if k[0] == latest and _fine_value(k[1]) and e.students
    }


def release(columns: Columns, context: Context, dimensions: tuple[Dimension, ...]) -> Release:
    """The release for these (canonical) dimensions, built once per columns."""
    cache_key = ("release", dimensions, context.current, context.min_cell)
    found: Release | None = columns.releases.get(cache_key)
    if found is not None:
        return found
    parents = [release(columns, context, ())] if dimensions else []
    if len(dimensions) == 2:  # the two one-way releases at once (numpy lets go of the GIL)
        with ThreadPoolExecutor(2) as pool:
            parents += list(pool.map(lambda d: release(columns, context, (d,)), dimensions))
    periods = periods_for(_first_year(columns, context.tz), context.current)
    everything = Period(context.current, context.current - periods[0].last + 1)
    first = periods[0].last
    if len(dimensions) == 2:
        groups = _pair_groups(parents, dimensions, context.min_cell) or {
            d: g for p in parents[1:] for d, g in p.groups.items()
        }
    else:
        groups = {d: g for d in dimensions if (g := _groups(columns, context, d, everything))}
    if len(dimensions) < 2:
        out = Release(dimensions, periods, groups=groups, parents=parents, first=first)
        levels = [out.levels(d) for d in dimensions]
        _build(columns, context, out, parents, list(product(*levels)), hierarchy=True)
    else:
        empty = Release(dimensions, periods, groups=groups, first=first)
        out = _pair(columns, context, empty, parents)
    columns.releases[cache_key] = out
    return out


def _pair(columns: Columns, context: Context, empty: Release, parents: list[Release]) -> Release:
    """A two-way release publishes one form of its table: the finest of the forms
    fallback=auto would try (as asked; small categories collapsed; tracts by ZIP area;
    the latest school years pooled) that shows PUBLISHED_TARGET of the students in its
    cells, else the one that shows most. Publishing two forms would link them: every cell
    the finer one withholds would hold back the coarser one too."""
    best: tuple[float, Release] | None = None
    for levels, pooled in forms(empty):
        periods = [p for p in empty.periods if (p.years > 1) == pooled]
        if not periods:
            continue
        out = Release(
            empty.dimensions,
            periods,
            groups=empty.groups,
            form=(levels, pooled),
            parents=parents,
            first=empty.first,
        )
        _build(columns, context, out, parents, [levels], hierarchy=False)
        share = published_share(out.entries, 2)
        if best is None or share > best[0]:
            best = (share, out)
        if best[0] >= PUBLISHED_TARGET:
            break
    assert best is not None  # the unpooled form always has its years
    return best[1]


def forms(
    release: Release,
    start: Sequence[str] | None = None,
    free: Sequence[Dimension] | None = None,
) -> Iterator[tuple[tuple[str, ...], bool]]:
    """The forms of a table in the order fallback=auto tries them, each coarser than the
    one before: `start` (every dimension by its categories unless given), then the small
    categories of each collapsible dimension folded, tracts by ZIP area, the latest
    school years pooled. Only the dimensions in `free` (all unless given) are coarsened:
    a filter keeps its value."""
    dims = release.dimensions
    free = dims if free is None else free
    levels = list(start) if start is not None else [FINE] * len(dims)
    yield tuple(levels), False
    for d in COLLAPSIBLE:
        if d in dims and d in free and GROUPED in release.levels(d):
            levels[dims.index(d)] = GROUPED
            yield tuple(levels), False
    if Dimension.tract in free and levels[dims.index(Dimension.tract)] != ZIP:
        levels[dims.index(Dimension.tract)] = ZIP
        yield tuple(levels), False
    yield tuple(levels), True


def published_share(entries: Mapping[Key, Cell], width: int) -> float:
    """Of the students in the cells among `entries` (totals aside), the share in
    published ones. With no dimension the all-students row is the table."""
    cells = [e for k, e in entries.items() if width == 0 or None not in k[1:]]
    total = sum(c.students for c in cells)
    if total == 0:
        return 1.0
    return sum(c.students for c in cells if not c.suppressed) / total


def _build(
    columns: Columns,
    context: Context,
    out: Release,
    parents: list[Release],
    level_sets: Sequence[tuple[str, ...]],
    *,
    hierarchy: bool,
) -> None:
    dims = out.dimensions
    rules: list[joint.Rule] = []
    tables: list[dict[tuple[Any, Any], Cell]] = []
    for period in out.periods:
        for levels in level_sets:
            here: list[Cell] = []
            for key, row in table(columns, context, dims, levels, period, out.groups):
                entry = out.entries.get(key)
                if entry is None:
                    entry = out.entries[key] = Cell(key, row["students"], row["referrals"])
                here.append(entry)
            rules += _totals(here, len(dims))
            if len(dims) == 2:
                tables.append({(e.key[1], e.key[2]): e for e in here if None not in e.key[1:]})
    if hierarchy:
        rules += _hierarchy(out, context.zips)
    else:
        rules += _own_groups(out, parents)
    _lock(out, parents)
    unique = {(id(w), frozenset(id(p) for p in parts)): (w, parts) for w, parts in rules}
    kept = [r for r in unique.values() if r[1] and r[1] != [r[0]]]
    joint.protect(list(out.entries.values()), kept, context.min_cell, tables)


def _totals(entries: list[Cell], width: int) -> list[joint.Rule]:
    """Within one table: each total is the sum of its cells."""
    under: dict[tuple[Any, ...], list[Cell]] = {}
    for cell in (e for e in entries if None not in e.key[1:]):
        values = cell.key[1:]
        for fixed in product((False, True), repeat=width):  # each total the cell is in
            under.setdefault(
                tuple(v if f else None for v, f in zip(values, fixed, strict=True)), []
            ).append(cell)
    return [(t, under.get(t.key[1:], [])) for t in entries if None in t.key[1:]]


def _hierarchy(out: Release, zips: dict[str, str]) -> list[joint.Rule]:
    """Across tables: a group is the sum of its members, a ZIP area of its tracts, a
    block of its school years."""
    width = len(out.dimensions)
    index: dict[tuple[int, Key], dict[Any, Cell]] = {}
    for key, entry in out.entries.items():
        for i in range(1, width + 1):
            index.setdefault((i, key[:i] + key[i + 1 :]), {})[key[i]] = entry
    tracts: dict[str, list[str]] = {}
    for tract, area in zips.items():
        tracts.setdefault(ZIP_MARK + area, []).append(tract)
    unplaced = ZIP_MARK + NOT_REPORTED  # tracts with no ZIP area, and no tract at all
    rules = []
    for key, entry in out.entries.items():
        for i in range(1, width + 1):
            value, d = key[i], out.dimensions[i - 1]
            same = index.get((i, key[:i] + key[i + 1 :]), {})
            if value == GROUP:
                members = out.groups[d]
            elif value == unplaced:
                members = [t for t in same if _fine_value(t) and t not in zips]
            elif isinstance(value, str) and value.startswith(ZIP_MARK):
                members = tracts.get(value, [])
            else:
                continue
            rules.append((entry, [same[m] for m in members if m in same]))
        period = key[0]
        if period.years > 1:
            years = [out.entries.get((y, *key[1:])) for y in period.school_years()]
            rules.append((entry, [e for e in years if e is not None]))
    return rules


def _own_groups(out: Release, parents: list[Release]) -> list[joint.Rule]:
    """A pair's own `other` total is the sum of its members' totals, which the one-way
    release decided: bring those in (locked) with the rule, so that the group's total
    is withheld where it would give a withheld member's away."""
    rules = []
    for parent in parents:
        if len(parent.dimensions) != 1:
            continue
        d = parent.dimensions[0]
        i = out.dimensions.index(d)
        if out.groups.get(d) == parent.groups.get(d) or not out.groups.get(d):
            continue
        for key, entry in list(out.entries.items()):
            if key[i + 1] != GROUP or any(v is not None for j, v in enumerate(key[1:]) if j != i):
                continue
            parts = []
            for member in out.groups[d]:
                decided = parent.entries.get((key[0], member))
                if decided is None:
                    continue
                mine = list(key)
                mine[i + 1] = member
                margin = out.entries.setdefault(
                    tuple(mine), Cell(tuple(mine), decided.students, decided.referrals)
                )
                parts.append(margin)
            rules.append((entry, parts))
    return rules


def _fine_value(value: Any) -> bool:
    """A category of its own (a tract, a race): not a group, not a ZIP area, not a total."""
    return isinstance(value, str) and value != GROUP and not value.startswith(ZIP_MARK)


def _lock(out: Release, parents: list[Release]) -> None:
    """Totals a parent release published or withheld keep its decision."""
    for key, entry in out.entries.items():
        values = key[1:]
        if all(v is not None for v in values):
            continue
        for parent in parents:
            kept = [i for i, v in enumerate(values) if v is not None]
            if tuple(out.dimensions[i] for i in kept) != parent.dimensions:
                continue
            if any(
                values[i] == GROUP
                and parent.groups.get(out.dimensions[i]) != out.groups.get(out.dimensions[i])
                for i in kept
            ):
                continue  # a group of the pair's own: not the parent's
            decided = parent.entries.get((key[0], *(values[i] for i in kept)))
            if decided is not None:
                entry.suppressed, entry.reason = decided.suppressed, decided.reason
                entry.locked = True
