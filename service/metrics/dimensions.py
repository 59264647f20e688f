"""What referral metrics can be grouped by, as SQL over referrals r, students s, programs p.

Every dimension yields a text value and never NULL (missing answers are "not_reported"),
so that NULL in a grouping-sets row means "all".
"""

from __future__ import annotations

from enum import StrEnum

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


# Federal reporting categories: Hispanic/Latino of any race first, then one race, or two
# or more races (the seven-category rollup U.S. schools report).
RACE_ETHNICITY = f"""CASE
    WHEN s.hispanic_latino THEN 'hispanic_latino'
    WHEN cardinality(s.races) > 1 THEN 'two_or_more_races'
    WHEN cardinality(s.races) = 1 THEN s.races[1]
    ELSE '{NOT_REPORTED}' END"""

GRADE_BAND = """CASE
    WHEN s.grade <= 0 THEN 'PK-K'
    WHEN s.grade <= 5 THEN '1-5'
    WHEN s.grade <= 8 THEN '6-8'
    ELSE '9-12' END"""

SQL: dict[Dimension, str] = {
    Dimension.provider: "r.provider_id::text",
    Dimension.program_category: "p.category",
    Dimension.school: "r.school_id::text",
    Dimension.tract: f"coalesce(s.home_tract, '{NOT_REPORTED}')",
    Dimension.zip: f"coalesce(tz.zip, '{NOT_REPORTED}')",
    Dimension.grade_band: GRADE_BAND,
    Dimension.gender: f"coalesce(s.gender, '{NOT_REPORTED}')",
    Dimension.race_ethnicity: RACE_ETHNICITY,
    Dimension.home_language: f"coalesce(s.home_language, '{NOT_REPORTED}')",
    Dimension.english_learner: f"""CASE s.english_learner WHEN true THEN 'yes'
        WHEN false THEN 'no' ELSE '{NOT_REPORTED}' END""",
    Dimension.month: "to_char(r.sent_at AT TIME ZONE :tz, 'YYYY-MM')",
}

# The ZIP of a student's home: the ZIP code area holding a point inside the home tract
# (the tract's point on surface; tracts and ZCTAs do not nest, so this is the usual
# one-to-one assignment).
TRACT_ZIP = """LEFT JOIN (
    SELECT t.code AS tract, min(z.code) AS zip
      FROM areas t JOIN areas z
        ON z.kind = 'zip' AND ST_Covers(z.geom, ST_PointOnSurface(t.geom))
     WHERE t.kind = 'tract'
     GROUP BY t.code
) tz ON tz.tract = s.home_tract"""
