"""Every cell and every total of a metrics table, from the loaded columns (numpy).

The same numbers the GROUPING SETS statement gave (tests/metrics/reference_sql.py keeps it
and tests/metrics/test_tabulate.py compares them on generated data):

* counts are additive: computed per cell, summed for each total;
* distinct students: (student, group) pairs made unique, for each total separately (a
  student in two cells counts once in their total), each pair carrying whether any of its
  referrals was answered, contacted, enrolled or old enough for a closed-loop window;
* medians and 75th percentiles as percentile_cont computes them (linear interpolation
  between the two nearest ranks, `lo + f * (hi - lo)` in double precision) over the same
  float8 days PostgreSQL computed when the referral was written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from service.metrics.columns import DAY_US, DURATIONS, Array, Columns, microseconds
from service.metrics.dimensions import BY_REFERRAL, Dimension, Labels, per_referral
from service.metrics.scope import Scope
from service.referrals.states import AWAITING_RESPONSE, Status

CLOSED_WITHIN = (30, 60, 90)
PERCENTILES = (0.5, 0.75)
# Bits of a referral's flags: which distinct-student counts it takes part in.
FLAGS = ["students", "responded_students", "contacted_students", "enrolled_students"] + [
    f"eligible_students_{window}" for window in CLOSED_WITHIN
]
_FLAG_BITS = len(FLAGS)


def select(columns: Columns, scope: Scope, start: datetime, stop: datetime) -> Array:
    """Positions of the referrals sent in [start, stop) that pass the scope's filters."""
    f = columns.facts
    keep = (f["sent_at"] >= microseconds(start)) & (f["sent_at"] < microseconds(stop))
    for kind, column, value, own in (
        ("category", f["category"], scope.program_category, None),
        ("organization", f["provider"], scope.provider_id, scope.only_provider),
        ("organization", f["school"], scope.school_id, scope.only_school),
    ):
        if own is not None and value is not None and value != own:
            return np.zeros(0, dtype=np.int64)
        wanted = value if value is not None else own
        if wanted is not None:
            code = columns.code(kind, str(wanted))
            if code is None:
                return np.zeros(0, dtype=np.int64)
            keep &= column == code
    return np.flatnonzero(keep)


def _recoded(
    index: Array, texts: list[str], mapping: Mapping[str, str] | None
) -> tuple[Array, list[str]]:
    """Label indices with some texts replaced (a collapsed category: several become one)."""
    if not mapping:
        return index, texts
    labels = Labels()
    table = np.array([labels(mapping.get(t, t)) for t in texts] or [0], dtype=np.int64)
    return table[index], labels.texts


def _dense(index: Array, texts: list[str]) -> tuple[Array, list[str]]:
    """Renumber label indices to the labels present, in order of the texts' index."""
    present = np.flatnonzero(np.bincount(index, minlength=len(texts)))
    table = np.full(max(len(texts), 1), -1, dtype=np.int64)
    table[present] = np.arange(present.size)
    return table[index], [texts[i] for i in present]


@dataclass
class Level:
    """One grouping set: the dimensions it keeps, and each cell's group in it."""

    kept: tuple[int, ...]
    groups: int
    of_cell: Array  # int64, per cell
    keys: list[tuple[str | None, ...]]


def _levels(
    parts: list[tuple[Array, list[str]]], width: int, size: int
) -> tuple[Array, list[Level]]:
    """The cell of each selected referral, and the grouping sets over the cells."""
    raw = np.zeros(size, dtype=np.int64)
    for index, texts in parts:
        raw = raw * len(texts) + index
    if width == 0:
        cell = raw
        cell_parts: list[Array] = []
        cells = 1
    else:
        limit = int(np.prod([len(t) for _, t in parts]))
        if limit <= 4 * size + 4096:
            present = np.flatnonzero(np.bincount(raw, minlength=limit))
            table = np.full(max(limit, 1), -1, dtype=np.int64)
            table[present] = np.arange(present.size)
            cell = table[raw]
        else:  # many combinations, few present: sort instead of counting every one
            ordered = np.sort(raw)
            present = ordered[_runs(ordered)]
            cell = np.searchsorted(present, raw)
        cells = int(present.size)
        cell_parts = []
        rest = present
        for _, texts in reversed(parts):
            cell_parts.insert(0, rest % len(texts))
            rest = rest // len(texts)
    sets = [tuple(range(width))]
    if width == 2:
        sets += [(0,), (1,)]
    if width:
        sets.append(())
    levels = []
    keys: list[tuple[str | None, ...]]
    for kept in sets:
        if len(kept) == width:
            of_cell = np.arange(cells, dtype=np.int64)
            groups = cells
            keys = [
                tuple(parts[i][1][int(cell_parts[i][c])] for i in range(width))
                for c in range(cells)
            ]
        elif kept:
            (i,) = kept
            of_cell = cell_parts[i]
            groups = len(parts[i][1])
            keys = [tuple(text if j == i else None for j in range(width)) for text in parts[i][1]]
        else:
            of_cell = np.zeros(cells, dtype=np.int64)
            groups = 1
            keys = [(None,) * width]
        levels.append(Level(kept, groups, of_cell, keys))
    return cell, levels


def _tally(group: Array, bits: Array, names: Sequence[str], groups: int) -> dict[str, Array]:
    """Per group, how many rows have each bit set (bit i: names[i]): one bincount of
    (group, bit pattern) per six bits instead of one per bit."""
    out = {}
    for first in range(0, len(names), 6):
        width = min(6, len(names) - first)
        pattern = (bits >> first) & ((1 << width) - 1)
        table = np.bincount((group << width) + pattern, minlength=groups << width)
        per_bit = table.reshape(groups, 1 << width) @ (
            (np.arange(1 << width)[:, None] >> np.arange(width)) & 1
        )
        for i in range(width):
            out[names[first + i]] = per_bit[:, i]
    return out


# Referral counts, each a bit of a referral's measure bits.
COUNTED = [
    "accepted",
    "declined",
    "enrolled",
    "completed",
    "open_overdue",
    *[f"{kind}_{window}" for window in CLOSED_WITHIN for kind in ("eligible", "closed")],
]
_OTHER, _DECLINED, _COMPLETED, _AWAITING, _ACCEPTED = range(5)


def _status_kinds(columns: Columns) -> Array:
    """Status code -> what the measures ask of it."""
    table = np.full(columns.code_limit, _OTHER, dtype=np.int8)
    kinds = {Status.declined: _DECLINED, Status.completed: _COMPLETED, Status.accepted: _ACCEPTED}
    kinds.update({status: _AWAITING for status in AWAITING_RESPONSE})
    for status, kind in kinds.items():
        code = columns.code("status", status.value)
        if code is not None:
            table[code] = kind
    return table


def _counts(
    columns: Columns, rows: Array, cell: Array, cells: int, now_us: int
) -> tuple[dict[str, Array], Array]:
    """Per-cell counts of every additive measure, and each referral's flags (FLAGS)."""
    f = columns.facts
    status = _status_kinds(columns)[f["status"][rows]]
    sent = f["sent_at"][rows]
    closed = f["closed_at"][rows]
    responded = ~np.isnan(columns.days("first_response")[rows])
    contacted = ~np.isnan(columns.days("contact")[rows])
    enrolled = ~np.isnan(columns.days("enrollment")[rows])
    declined = status == _DECLINED
    overdue = ((status == _AWAITING) & (f["response_due_at"][rows] < now_us)) | (
        (status == _ACCEPTED) & (f["contact_due_at"][rows] < now_us)
    )
    measures = [responded & ~declined, declined, enrolled, status == _COMPLETED, overdue]
    flags = np.ones(rows.size, dtype=np.int64)
    for bit, flag in enumerate((responded, contacted, enrolled), start=1):
        flags |= flag.astype(np.int64) << bit
    for bit, window in enumerate(CLOSED_WITHIN, start=4):
        eligible = sent <= now_us - window * DAY_US
        measures += [eligible, eligible & (closed <= sent + window * DAY_US)]
        flags |= eligible.astype(np.int64) << bit
    bits = np.zeros(rows.size, dtype=np.int64)
    for bit, measure in enumerate(measures):
        bits |= measure.astype(np.int64) << bit
    counts = {"referrals": np.bincount(cell, minlength=cells)}
    counts.update(_tally(cell, bits, COUNTED, cells))
    return counts, flags


def _runs(sorted_keys: Array) -> Array:
    """Start of each run of equal values."""
    if sorted_keys.size == 0:
        return np.zeros(0, dtype=np.int64)
    change = np.empty(sorted_keys.size, dtype=bool)
    change[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=change[1:])
    return np.flatnonzero(change)


def _distinct(
    student: Array,
    cell: Array,
    cells: int,
    flags: Array,
    levels: list[Level],
    names: Sequence[str] = FLAGS,
) -> list[dict[str, Array]]:
    """Per level and group: distinct students, overall and per flag (the first `names`)."""
    mask = (1 << _FLAG_BITS) - 1
    if student.size and (int(student.max()) + 1) * max(cells, 1) >= 1 << (62 - _FLAG_BITS):
        raise ValueError("too many students times cells for 64-bit pair keys")
    # Pairs (student, cell) with their flags OR-ed.
    keys = ((student.astype(np.int64) * max(cells, 1) + cell) << _FLAG_BITS) | flags
    keys.sort()
    starts = _runs(keys >> _FLAG_BITS)
    pair_flags = np.bitwise_or.reduceat(keys & mask, starts) if starts.size else keys[:0]
    pair_student = (keys[starts] >> _FLAG_BITS) // max(cells, 1)
    pair_cell = (keys[starts] >> _FLAG_BITS) % max(cells, 1)
    out = []
    for level in levels:
        group = level.of_cell[pair_cell] if pair_cell.size else pair_cell
        keys = ((pair_student * max(level.groups, 1) + group) << _FLAG_BITS) | pair_flags
        if keys.size > 1 and (keys[1:] < keys[:-1]).any():
            keys = np.sort(keys)
        runs = _runs(keys >> _FLAG_BITS)
        level_flags = np.bitwise_or.reduceat(keys & mask, runs) if runs.size else keys[:0]
        level_group = (keys[runs] >> _FLAG_BITS) % max(level.groups, 1)
        out.append(_tally(level_group, level_flags, names, level.groups))
    return out


def _students_per_group(student: Array, group: Array, groups: int, students: int) -> Array:
    """Distinct students per group where each student is in one group (a student
    dimension): mark each student once, no sort."""
    of = np.full(students, -1, dtype=np.int64)
    of[student] = group
    return np.bincount(of[of >= 0], minlength=groups)


def _percentiles(
    columns: Columns, rows: Array, cell: Array, levels: list[Level]
) -> list[dict[str, list[Any]]]:
    """Per level, duration and group: [median, p75], or None without a value."""
    at = np.full(columns.size, -1, dtype=np.int32)
    at[rows] = cell
    out: list[dict[str, list[Any]]] = [{} for _ in levels]
    for name in DURATIONS:
        order = columns.by_days[name]
        of_row = at[order]
        kept = of_row >= 0
        value_cells = of_row[kept]
        values = columns.days(name)[order[kept]]  # ascending
        for level, result in zip(levels, out, strict=True):
            group = level.of_cell[value_cells]
            count = np.bincount(group, minlength=level.groups)
            if level.groups > 1:
                small = np.uint16 if level.groups < 1 << 16 else np.int64
                values_by_group = values[np.argsort(group.astype(small), kind="stable")]
            else:
                values_by_group = values
            first = np.cumsum(count) - count
            found = count > 0
            quantiles = []
            for q in PERCENTILES:
                position = q * (count[found] - 1)
                lo = np.floor(position)
                hi = np.ceil(position)
                low = values_by_group[first[found] + lo.astype(np.int64)]
                high = values_by_group[first[found] + hi.astype(np.int64)]
                quantiles.append(low + (position - lo) * (high - low))
            pairs: list[Any] = [None] * level.groups
            for g, median, p75 in zip(
                np.flatnonzero(found).tolist(),
                quantiles[0].tolist(),
                quantiles[1].tolist(),
                strict=True,
            ):
                pairs[g] = [median, p75]
            result[name] = pairs
    return out


def tabulate(
    columns: Columns,
    dimensions: Sequence[Dimension],
    scope: Scope,
    *,
    now: datetime,
    start: datetime,
    stop: datetime,
    tz: ZoneInfo,
    zips: dict[str, str] | None = None,
    recode: Mapping[Dimension, Mapping[str, str]] | None = None,
    sizes_only: bool = False,
) -> list[dict[str, Any]]:
    """One row per cell and per total (keys g0, g1: a text, or None for "all"), each with
    the counts the service turns into measures: cells, then each dimension's totals, then
    "all", each in order of their texts (suppression breaks ties in this order).
    `recode` replaces a dimension's texts before counting (metrics/release.py).
    `sizes_only`: only referrals and students (and no medians), for suppression."""
    rows = select(columns, scope, start, stop)
    recode = recode or {}
    parts = [
        _dense(
            *_recoded(
                *per_referral(columns, d, rows, zips=zips, start=start, stop=stop, tz=tz),
                recode.get(d),
            )
        )
        for d in dimensions
    ]
    width = len(dimensions)
    cell, levels = _levels(parts, width, rows.size)
    cells = levels[0].groups
    student = columns.facts["student"][rows]
    if sizes_only:  # referrals and students only
        counts = {"referrals": np.bincount(cell, minlength=cells)}
        flags = np.ones(rows.size, dtype=np.int64)
        # Where each student is in one group (student dimensions only), count without
        # the sort of (student, group) pairs.
        own = [d not in BY_REFERRAL and d is not Dimension.month for d in dimensions]
        fast = [all(own[k] for k in level.kept) for level in levels]
        sorted_ = [level for level, f in zip(levels, fast, strict=True) if not f]
        slow = iter(_distinct(student, cell, cells, flags, sorted_, FLAGS[:1]) if sorted_ else [])
        everyone = int(columns.students["key"].size)
        distinct = [
            {FLAGS[0]: _students_per_group(student, level.of_cell[cell], level.groups, everyone)}
            if f
            else next(slow)
            for level, f in zip(levels, fast, strict=True)
        ]
        percentiles = [{name: [None] * level.groups for name in DURATIONS} for level in levels]
    else:
        counts, flags = _counts(columns, rows, cell, cells, microseconds(now))
        distinct = _distinct(student, cell, cells, flags, levels)
        percentiles = _percentiles(columns, rows, cell, levels)
    out = []
    for level, students, days in zip(levels, distinct, percentiles, strict=True):
        numbers = {
            name: np.bincount(level.of_cell, weights=per_cell, minlength=level.groups)
            .astype(np.int64)
            .tolist()
            for name, per_cell in counts.items()
        }
        numbers.update({name: values.tolist() for name, values in students.items()})
        rows_of_level = []
        for g in range(level.groups):
            if level.kept and not numbers["referrals"][g]:
                continue
            row: dict[str, Any] = {f"g{i}": level.keys[g][i] for i in range(width)}
            row.update({name: values[g] for name, values in numbers.items()})
            row.update({f"days_{name}": days[name][g] for name in DURATIONS})
            rows_of_level.append(row)
        out += sorted(rows_of_level, key=lambda r: [str(r[f"g{i}"]) for i in range(width)])
    return out
