"""What referral metrics can be grouped by, and each group's text value.

Every dimension yields a text value and never None (missing answers are "not_reported"),
so that None in a total's key means "all". Values are computed per student (or per
referral) from the coded columns (service/metrics/columns.py) as label indices: an
integer per row pointing into a list of texts, the same text always at one index.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import numpy as np

from service.metrics.columns import MICROSECOND, Array, Columns, microseconds

NOT_REPORTED = "not_reported"


class Dimension(StrEnum):
    provider = "provider"
    program_category = "program_category"
    school = "school"
    tract = "tract"
    zip = "zip"
    grade_band = "grade_band"
    gender = "gender"
    race_ethnicity = "race_ethnicity"
    home_language = "home_language"
    english_learner = "english_learner"
    month = "month"


OTHER = "other"  # small categories collapsed together (metrics/fallback.py)
# The order groups are listed in: the reporting order of each coded dimension (race as
# federal reports list it), names for organizations, then other and not_reported last.
ORDER: dict[Dimension, list[str]] = {
    Dimension.race_ethnicity: [
        "hispanic_latino",
        "american_indian_or_alaska_native",
        "asian",
        "black_or_african_american",
        "native_hawaiian_or_other_pacific_islander",
        "white",
        "two_or_more_races",
    ],
    Dimension.grade_band: ["PK-K", "1-5", "6-8", "9-12"],
    Dimension.english_learner: ["yes", "no"],
    Dimension.gender: ["female", "male", "nonbinary", "another", "declined"],
}
_LAST = {OTHER: 1, NOT_REPORTED: 2}


def _natural(text: str) -> tuple[tuple[int, int, str], ...]:
    """ "School 2" before "School 10": digits compare as numbers."""
    return tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part)
        for part in re.split(r"(\d+)", text.casefold())
        if part
    )


def sort_key(
    dimension: Dimension, value: str | None, label: str | None
) -> tuple[int, tuple[tuple[int, int, str], ...]]:
    """Where a group stands in a listing: by the dimension's order, else its name."""
    if value is None:
        return (-1, ())
    if value in _LAST:
        return (1_000 + _LAST[value], ())
    order = ORDER.get(dimension)
    if order and value in order:
        return (order.index(value), ())
    return (len(order) if order else 0, _natural(label or value))


# Per referral: dimension -> (its column in Columns, the kind of its codes).
BY_REFERRAL = {
    Dimension.provider: ("provider", "organization"),
    Dimension.school: ("school", "organization"),
    Dimension.program_category: ("category", "category"),
}
# Per student, straight from one coded column (0 is a missing answer).
CODED = {
    Dimension.gender: ("gender", "gender"),
    Dimension.home_language: ("home_language", "language"),
    Dimension.tract: ("home_tract", "tract"),
}
GRADE_BANDS = [(0, "PK-K"), (5, "1-5"), (8, "6-8"), (12, "9-12")]  # up to grade, band
YES_NO = {0: NOT_REPORTED, 1: "yes", 2: "no"}

# The ZIP of a student's home: the ZIP code area holding a point inside the home tract
# (the tract's point on surface; tracts and ZCTAs do not nest, so this is the usual
# one-to-one assignment).
TRACT_ZIP = """
    SELECT t.code AS tract, min(z.code) AS zip
      FROM areas t JOIN areas z
        ON z.kind = 'zip' AND ST_Covers(z.geom, ST_PointOnSurface(t.geom))
     WHERE t.kind = 'tract'
     GROUP BY t.code"""


class Labels:
    """Texts, each at one index."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.texts)
            self.texts.append(text)
        return self._index[text]


def _by_code(columns: Columns, kind: str, labels: Labels, missing: str | None) -> Array:
    """Code -> label index, for the codes of one kind (0: `missing`)."""
    table = np.full(columns.code_limit, -1, dtype=np.int32)
    for code, value in columns.kinds.get(kind, {}).items():
        table[code] = labels(value)
    if missing is not None:
        table[0] = labels(missing)
    return table


def _race(columns: Columns, labels: Labels) -> Array:
    """Federal reporting categories: Hispanic/Latino of any race first, then one race,
    or two or more races (the seven-category rollup U.S. schools report)."""
    s = columns.students
    single = _by_code(columns, "race", labels, NOT_REPORTED)[s["first_race"]]
    return np.where(
        s["hispanic_latino"] == 1,
        labels("hispanic_latino"),
        np.where(
            s["race_count"] > 1,
            labels("two_or_more_races"),
            np.where(s["race_count"] == 1, single, labels(NOT_REPORTED)),
        ),
    )


def _grade_band(columns: Columns, labels: Labels) -> Array:
    grade = columns.students["grade"]
    bands = np.array([labels(band) for _, band in GRADE_BANDS], dtype=np.int32)
    position = np.searchsorted([up_to for up_to, _ in GRADE_BANDS], grade, side="left")
    return bands[np.minimum(position, len(GRADE_BANDS) - 1)]


def _zip(columns: Columns, labels: Labels, zips: dict[str, str]) -> Array:
    table = np.full(columns.code_limit, labels(NOT_REPORTED), dtype=np.int32)
    for code, tract in columns.kinds.get("tract", {}).items():
        table[code] = labels(zips.get(tract, NOT_REPORTED))
    return table[columns.students["home_tract"]]


def per_student(
    columns: Columns, dimension: Dimension, zips: dict[str, str] | None
) -> tuple[Array, list[str]]:
    """Each student's label index for a student dimension, and the texts."""
    labels = Labels()
    if dimension in CODED:
        column, kind = CODED[dimension]
        index = _by_code(columns, kind, labels, NOT_REPORTED)[columns.students[column]]
    elif dimension is Dimension.english_learner:
        table = np.array([labels(YES_NO[i]) for i in range(3)], dtype=np.int32)
        index = table[columns.students["english_learner"]]
    elif dimension is Dimension.grade_band:
        index = _grade_band(columns, labels)
    elif dimension is Dimension.race_ethnicity:
        index = _race(columns, labels)
    elif dimension is Dimension.zip:
        index = _zip(columns, labels, zips or {})
    else:
        raise ValueError(f"{dimension} is not a student dimension")
    return np.asarray(index, dtype=np.int32), labels.texts


def months(start: datetime, stop: datetime, tz: ZoneInfo) -> tuple[Array, list[str]]:
    """The local months [start, stop) touches: their first instants (microseconds, as in
    sent_at) and their texts (YYYY-MM)."""
    first = start.astimezone(tz)
    last = (stop - MICROSECOND).astimezone(tz)
    year, month = first.year, first.month
    bounds, texts = [], []
    while (year, month) <= (last.year, last.month):
        bounds.append(microseconds(datetime(year, month, 1, tzinfo=tz)))
        texts.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return np.array(bounds, dtype=np.int64), texts


def per_referral(
    columns: Columns,
    dimension: Dimension,
    rows: Array,
    *,
    zips: dict[str, str] | None,
    start: datetime,
    stop: datetime,
    tz: ZoneInfo,
) -> tuple[Array, list[str]]:
    """The label index of each of `rows` (positions in Columns) and the texts."""
    if dimension in BY_REFERRAL:
        column, kind = BY_REFERRAL[dimension]
        labels = Labels()
        table = _by_code(columns, kind, labels, None)
        return table[columns.facts[column][rows]], labels.texts
    if dimension is Dimension.month:
        bounds, texts = months(start, stop, tz)
        index = np.searchsorted(bounds, columns.facts["sent_at"][rows], side="right") - 1
        return index.astype(np.int32), texts
    cache_key = (dimension, tuple(sorted((zips or {}).items())) if zips else None)
    if cache_key not in columns.cache:
        columns.cache[cache_key] = per_student(columns, dimension, zips)
    index, texts = columns.cache[cache_key]
    return index[columns.facts["student"][rows]], texts
