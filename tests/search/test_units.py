"""Pure parts of search: words, synonyms, typos, the document mapping, Accept-Language."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from service.catalog.enums import CostPeriod, Season
from service.search.document import (
    CostSource,
    ScheduleSource,
    age_bands,
    cost_band,
    grade_span,
    monthly_cost,
    seasons_on,
    slots,
)
from service.search.filters import Facet
from service.search.params import preferred_language
from service.search.port import render_highlight
from service.search.query import SearchQuery, filters
from service.search.text import (
    Synonyms,
    load_synonyms,
    near_spellings,
    parse_query,
    with_spellings,
    words,
)

SYN = Synonyms.from_groups([["tutoring", "homework help"], ["soccer", "Fútbol"]])


def test_words_fold_case_and_accents() -> None:
    assert words("Fútbol, NIÑOS & after-school!") == ["futbol", "ninos", "after", "school"]


def test_parse_query_takes_the_longest_synonym_phrase() -> None:
    units = parse_query("Homework Help for soccer kids", SYN)
    assert [u.source for u in units] == [("homework", "help"), ("for",), ("soccer",), ("kids",)]
    assert units[0].alternatives == (("tutoring",), ("homework", "help"))
    assert units[2].alternatives == (("soccer",), ("futbol",))


def test_typos_follow_word_length() -> None:
    lexicon = ["soccer", "socks", "tutoring", "tutorial", "internship"]
    assert near_spellings("socer", lexicon) == ["soccer"]
    assert near_spellings("sock", lexicon) == []  # under five letters: exact only
    assert near_spellings("tutorinng", lexicon) == ["tutoring"]
    assert near_spellings("intrenship", lexicon) == ["internship"]  # two typos from nine letters


def test_spellings_bring_their_synonyms() -> None:
    units = with_spellings(parse_query("socer", SYN), {"socer": ["soccer"]}, SYN)
    assert units[0].alternatives == (("socer",), ("soccer",), ("futbol",))


def test_the_shipped_synonyms_file_loads_and_is_symmetric() -> None:
    synonyms = load_synonyms()
    index = synonyms.by_phrase
    assert ("homework", "help") in index[("tutoring",)]
    for phrase, group in index.items():
        assert all(phrase in index[other] for other in group)


@pytest.mark.parametrize(
    ("period", "amount", "days", "expected"),
    [
        (CostPeriod.month, "40", 2, "40.00"),
        (CostPeriod.week, "15", 5, "65.00"),
        (CostPeriod.day, "25", 5, "541.67"),
        (CostPeriod.session, "10", 0, "43.33"),  # no schedule: one day a week
        (CostPeriod.term, "200", 1, "50.00"),
        (CostPeriod.year, "1200", 1, "100.00"),
        (CostPeriod.once, "300", 1, "300.00"),
    ],
)
def test_monthly_cost(period: CostPeriod, amount: str, days: int, expected: str) -> None:
    assert monthly_cost(CostSource(False, Decimal(amount), period), days) == Decimal(expected)


def test_monthly_cost_free_and_unknown() -> None:
    assert monthly_cost(CostSource(True, None, None), 3) == 0
    assert monthly_cost(CostSource(False, None, None), 3) is None


@pytest.mark.parametrize(
    ("monthly", "band"),
    [(None, "unknown"), ("0", "free"), ("0.01", "up_to_50"), ("50", "up_to_50"),
     ("50.01", "50_to_150"), ("150", "50_to_150"), ("150.01", "over_150")],
)  # fmt: skip
def test_cost_bands_have_closed_upper_bounds(monthly: str | None, band: str) -> None:
    assert cost_band(None if monthly is None else Decimal(monthly)) == band


def test_age_bands_and_grade_spans() -> None:
    assert age_bands(Decimal("4.5"), Decimal(6)) == ("0-4", "5-10")
    assert age_bands(Decimal(0), Decimal(120)) == ("0-4", "5-10", "11-13", "14-18", "19-24", "25+")
    assert grade_span(None, None, Decimal(6), Decimal(10)) == (0, 5)
    assert grade_span(None, None, Decimal(0), Decimal(4)) == (-1, -1)
    assert grade_span(None, None, Decimal(25), Decimal(40)) == (19, 12)  # adults: no grade
    assert grade_span(10, 12, Decimal(16), Decimal(21)) == (10, 12)
    assert grade_span(None, None, None, None) == (-1, 12)


def test_seasons_on_dates() -> None:
    assert Season.summer in seasons_on(date(2026, 7, 1))
    assert Season.school_year not in seasons_on(date(2026, 7, 1))
    assert Season.school_year in seasons_on(date(2026, 1, 15))
    assert Season.school_year in seasons_on(date(2026, 6, 20))
    assert Season.summer in seasons_on(date(2026, 6, 21))


def test_slots_keep_the_day_of_ordinal_bydays() -> None:
    week = slots((ScheduleSource(("1MO", "-1FR", "XX"), 900, 960),))
    assert week == ((0, 900, 960), (4, 900, 960))


def test_query_without_a_facet_drops_its_whole_group() -> None:
    q = SearchQuery(filters=filters(free=True, max_cost=Decimal(9), cost_band=("free",), day=()))
    cleared = q.without(Facet.cost_band)
    assert (cleared.get("free"), cleared.get("max_cost"), cleared.get("cost_band")) == (None,) * 3
    assert q.filters_facet(Facet.cost_band) and not cleared.filters_facet(Facet.cost_band)
    assert q.filters == (("free", True), ("max_cost", Decimal(9)), ("cost_band", ("free",)))


@pytest.mark.parametrize(
    ("header", "language"),
    [(None, "en"), ("es", "es"), ("es-MX,es;q=0.9,en;q=0.8", "es"), ("en-US,es;q=0.5", "en"),
     ("fr,es;q=0.4", "es"), ("es;q=0,en", "en"), ("de", "en"), ("es;q=abc", "en")],
)  # fmt: skip
def test_preferred_language(header: str | None, language: str) -> None:
    assert preferred_language(header) == language


def test_highlights_are_escaped_html_with_marks() -> None:
    assert render_highlight("a <b> \ue000café\ue001") == "a &lt;b&gt; <mark>café</mark>"
    assert render_highlight("no match") is None
