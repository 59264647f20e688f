"""Equity tables at the size of a real pilot (`seed-referrals 3000`): the finest safe
answer instead of an empty one (metrics/fallback.py)."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Caller


async def _table(pilot: tuple[Any, Caller], query: str) -> dict[str, Any]:
    client, analyst = pilot
    response = await client.get(f"/metrics/referrals?{query}", headers=analyst.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_race_by_school_answers_for_most_students(pilot: tuple[Any, Caller]) -> None:
    asked = "group_by=race_ethnicity&group_by=school"
    exact = await _table(pilot, f"{asked}&fallback=none")
    assert exact["fallback"] == "none" and not exact["collapsed"] and exact["pooled"] is None
    assert exact["withheld_table"]  # published only collapsed and pooled
    auto = await _table(pilot, asked)
    assert auto["fallback"] == "auto"
    assert auto["published_share"] >= 0.8 > exact["published_share"]
    # What was done is said: small groups folded into "other", years pooled.
    assert "other" in {r["group"].get("race_ethnicity") for r in auto["rows"]}
    folded = set(auto["collapsed"]["race_ethnicity"])
    assert folded and {"hispanic_latino", "white"}.isdisjoint(folded)
    assert auto["pooled"] is not None  # one year of 24 schools is too thin: years pooled
    assert auto["start"] < auto["pooled"]["requested_from"] == exact["start"]
    # Suppression still holds on the coarser table.
    shown = [r for r in auto["rows"] if not r["suppressed"]]
    assert all(r["students"] >= auto["min_cell"] for r in shown)


async def test_small_languages_fold_and_every_total_shows(pilot: tuple[Any, Caller]) -> None:
    auto = await _table(pilot, "group_by=home_language&group_by=english_learner")
    assert auto["published_share"] >= 0.8
    assert not any(t["suppressed"] for t in auto["totals"])


async def test_a_published_table_is_left_as_it_is(pilot: tuple[Any, Caller]) -> None:
    alone = await _table(pilot, "group_by=race_ethnicity")
    assert alone["published_share"] >= 0.8
    assert not alone["collapsed"] and not alone["coarsened"] and alone["pooled"] is None
    races = [r["group"]["race_ethnicity"] for r in alone["rows"]]
    assert "black_or_african_american" in races  # the one-way table keeps every group
    assert races[-1] == "not_reported"  # listed in the reporting order, unknowns last


async def test_tracts_coarsen_to_zip_areas(pilot: tuple[Any, Caller]) -> None:
    auto = await _table(pilot, "group_by=race_ethnicity&group_by=tract")
    assert auto["coarsened"] == {"tract": "zip"} and auto["group_by"][1] == "zip"
    assert all(set(r["group"]) == {"race_ethnicity", "zip"} for r in auto["rows"])  # as counted
    assert auto["published_share"] >= 0.8


async def test_the_board_report_lists_groups_by_name_in_reporting_order(
    pilot: tuple[Any, Caller],
) -> None:
    client, analyst = pilot
    response = await client.get(
        "/metrics/report", params={"group_by": "race_ethnicity"}, headers=analyst.headers
    )
    assert response.status_code == 200
    groups = re.findall(r"<th scope='row'>([^<]+)</th>", response.text)
    assert groups[0] == "Hispanic or Latino" and groups[-1] == "Not reported"
    assert "Black or African American" in groups and "black_or_african_american" not in groups
    schools = await client.get(
        "/metrics/report", params={"group_by": "school"}, headers=analyst.headers
    )
    named = re.findall(r"<th scope='row'>(Synthetic School \d+)</th>", schools.text)
    assert named[:3] == ["Synthetic School 1", "Synthetic School 2", "Synthetic School 3"]


async def test_a_filtered_table_is_a_slice_of_the_published_one(pilot: tuple[Any, Caller]) -> None:
    whole = await _table(pilot, "group_by=race_ethnicity&group_by=school")
    school = whole["rows"][0]["group"]["school"]
    part = await _table(pilot, f"group_by=race_ethnicity&school={school}")
    assert (part["pooled"], part["collapsed"]) == (whole["pooled"], whole["collapsed"])

    def cells(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {r["group"]["race_ethnicity"]: (r["suppressed"], r["referrals"]) for r in rows}

    assert cells(part["rows"]) == cells(
        [r for r in whole["rows"] if r["group"]["school"] == school]
    )
    total = next(t for t in whole["totals"] if t["group"] == {"school": school})
    assert part["all_students"]["referrals"] == total["referrals"]


async def test_a_table_not_published_in_the_form_asked_says_so(pilot: tuple[Any, Caller]) -> None:
    exact = await _table(pilot, "group_by=race_ethnicity&group_by=school&fallback=none")
    assert exact["rows"] == [] and "fallback=auto" in exact["withheld_table"]
    assert exact["totals"] and exact["all_students"]["referrals"] > 0  # the totals stand


async def test_a_school_grouped_and_filtered_is_that_school(pilot: tuple[Any, Caller]) -> None:
    whole = await _table(pilot, "group_by=race_ethnicity&group_by=school")
    total = next(t for t in whole["totals"] if "school" in t["group"])
    school = total["group"]["school"]
    part = await _table(pilot, f"group_by=race_ethnicity&group_by=school&school={school}")
    assert part["all_students"]["referrals"] == total["referrals"]
    assert {r["group"]["school"] for r in part["rows"]} == {school}


async def test_a_count_not_published_in_the_form_asked_is_withheld_not_zero(
    pilot: tuple[Any, Caller],
) -> None:
    category = "out_of_school_time"
    whole = await _table(pilot, f"group_by=school&program_category={category}")
    school = next(r for r in whole["rows"] if not r["suppressed"])["group"]["school"]
    exact = await _table(pilot, f"school={school}&program_category={category}&fallback=none")
    assert exact["withheld_table"]
    assert exact["all_students"]["suppressed"] and exact["all_students"]["referrals"] is None
    assert exact["all_students"]["suppression"] == "not_published"
