"""The Meilisearch adapter's pure parts: settings, documents, filter and facet translation.

The same adapter runs the contract suite (test_contract.py) when YOUTHLINK_MEILI_URL
names a live server; no Meilisearch server can run on the CI machine.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from service.catalog.enums import Category, Season, Weekday
from service.search.document import (
    CostSource,
    LocationSource,
    ProgramSource,
    ScheduleSource,
    build,
)
from service.search.meili import mapping as m
from service.search.query import Facet, Point, SearchQuery, Sort, filters
from service.search.stopwords import STOP_WORDS
from service.search.text import load_synonyms
from tests.factories import program_source

PID = uuid.UUID("00000000-0000-0000-0000-000000000001")


def _site(n: int, lat: float | None, lng: float | None, virtual: bool = False) -> LocationSource:
    return LocationSource(
        id=uuid.UUID(int=100 + n), name=f"Site {n}", address_1=None, city=None, state=None,
        postal_code=None, virtual=virtual, lat=lat, lng=lng, zcta="06851" if lat else None,
        tract=None, in_city=lat is not None,
    )  # fmt: skip


def _source(**overrides: object) -> ProgramSource:
    """A Spanish-translated, multi-site program (one site virtual) with a schedule."""
    return program_source(
        **{
            "id": PID,
            "organization_id": uuid.UUID(int=2),
            "organization_name": "Harbor",
            "name": "Lions Soccer Club",
            "description": "Soccer for kids",
            "translations": {"es": {"name": "Club de Fútbol", "description": "Fútbol"}},
            "min_age": Decimal(6),
            "languages": ("es", "en"),
            "season": Season.school_year,
            "ends_on": date(2027, 6, 1),
            "last_verified_at": datetime(2026, 11, 1, tzinfo=UTC),
            "costs": (CostSource(False, None, None),),
            "schedules": (ScheduleSource(("MO", "WE"), 930, 1020),),
            "locations": (
                _site(0, 41.1, -73.4),
                _site(1, 41.2, -73.5),
                _site(2, None, None, True),
            ),
            **overrides,
        }
    )


def test_settings_share_the_synonyms_file_and_the_typo_policy() -> None:
    s = m.settings(load_synonyms(), STOP_WORDS)
    assert "homework help" in s["synonyms"]["tutoring"]
    assert "tutoring" in s["synonyms"]["homework help"]
    assert "soccer" in s["synonyms"]["futbol"]
    assert s["typoTolerance"]["minWordSizeForTypos"] == {"oneTypo": 5, "twoTypos": 9}
    assert s["distinctAttribute"] == "program_id" and s["rankingRules"][0] == "sort"
    assert {"_geo", "program_id", "site", "monthly_cost", "slot_0_day"} <= set(
        s["filterableAttributes"]
    )
    assert {"_geo", "name_sort", "last_verified_at"} <= set(s["sortableAttributes"])
    assert {"attributePatterns": ["*_es"], "locales": ["spa"]} in s["localizedAttributes"]
    assert "the" in s["stopWords"] and "para" in s["stopWords"]


def test_one_document_per_physical_site_sharing_the_mapping() -> None:
    docs = m.documents(build(_source()))
    assert [d["id"] for d in docs] == [f"{PID}-0", f"{PID}-1"]
    assert [d["_geo"] for d in docs] == [{"lat": 41.1, "lng": -73.4}, {"lat": 41.2, "lng": -73.5}]
    first = docs[0]
    assert first["program_id"] == str(PID) and first["site"] == 0
    assert "monthly_cost" not in first and first["cost_band"] == "unknown"
    assert (first["age_lo"], first["age_hi"]) == (6.0, 120.0)
    assert (first["runs_from"], first["runs_to"]) == (10101, 20270601)
    assert first["days"] == ["MO", "WE"]
    assert (first["slot_1_day"], first["slot_1_open"], first["slot_1_close"]) == (2, 930, 1020)
    assert "slot_2_day" not in first
    assert first["registration_deadline"] == m.NO_DEADLINE and first["virtual"] is True


def test_a_program_without_a_site_is_one_document_without_geo() -> None:
    docs = m.documents(build(_source(locations=())))
    assert len(docs) == 1 and "_geo" not in docs[0] and docs[0]["in_person"] is False


def test_filters_translate_the_query() -> None:
    q = SearchQuery(
        filters=filters(
            category=(Category.early_childhood.value,),
            age=Decimal("10.5"),
            grade=0,
            max_cost=Decimal(50),
            language=("es",),
            on_date=date(2026, 7, 15),
            radius_m=2000,
            zip=("06851",),
            accessibility=("elevator", "sensory_friendly"),
            enrollment_open=True,
            verified_within_days=datetime(2026, 11, 1, tzinfo=UTC),
        ),
        near=Point(41.1, -73.4),
        today=date(2026, 11, 22),
    )
    f = m.filters(q)
    assert 'category IN ["early_childhood"]' in f
    assert "age_lo <= 10.5 AND age_hi >= 10.5" in f
    assert "grade_lo <= 0 AND grade_hi >= 0" in f
    assert "monthly_cost <= 50" in f
    assert 'languages IN ["es"]' in f
    seasons = 'season IN ["year_round", "dates", "summer"]'
    assert f"{seasons} AND runs_from <= 20260715 AND runs_to >= 20260715" in f
    assert "_geoRadius(41.1, -73.4, 2000)" in f
    assert 'zips IN ["06851"]' in f
    assert 'accessibility = "elevator" AND accessibility = "sensory_friendly"' in f
    assert '(enrollment_status = "open" AND registration_deadline >= 20261122)' in f
    assert f"last_verified_at >= {int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())}" in f


def test_values_are_quoted_safely() -> None:
    f = m.filters(SearchQuery(filters=filters(taxonomy_term=('a" OR program_id EXISTS OR "b',))))
    assert f == ['term_codes IN ["a\\" OR program_id EXISTS OR \\"b"]']


def test_day_and_time_window_match_one_slot() -> None:
    q = SearchQuery(filters=filters(day=("FR",), time_from=17 * 60))
    day_filter, window = m.filters(q)
    assert day_filter == 'days IN ["FR"]'
    assert window.count(" OR ") == m.MAX_SLOTS - 1
    assert "(slot_0_day IN [4] AND slot_0_open >= 1020 AND slot_0_close <= 1440)" in window


def test_sorts() -> None:
    near = Point(41.1, -73.4)
    assert m.sort(SearchQuery(text="x")) is None
    assert m.sort(SearchQuery()) == ["name_sort:asc", "program_id:asc"]
    assert m.sort(SearchQuery(near=near, sort=Sort.distance))[0] == "_geoPoint(41.1, -73.4):asc"  # type: ignore[index]
    assert m.sort(SearchQuery(sort=Sort.recently_verified))[0] == "last_verified_at:desc"  # type: ignore[index]


def test_disjunctive_facets_take_extra_queries_only_when_needed() -> None:
    q = SearchQuery(
        text="club",
        filters=filters(category=(Category.early_childhood.value,), time_from=15 * 60),
        facets=(Facet.category, Facet.language, Facet.day),
    )
    main = m.search_request("programs", q)
    assert main["facets"] == ["languages"]  # category is filtered, day has a window
    assert main["matchingStrategy"] == "all" and main["hitsPerPage"] == 20
    extra = m.facet_requests("programs", q)
    category = [r for f, _, r in extra if f is Facet.category]
    assert len(category) == 1 and category[0]["facets"] == ["category"]
    assert not any("category IN" in clause for clause in category[0]["filter"])
    days = [(v, r) for f, v, r in extra if f is Facet.day]
    assert [v for v, _ in days] == [d.value for d in Weekday]
    assert all(r["hitsPerPage"] == 0 for _, r in days)
    assert any('category IN ["early_childhood"]' in c for c in days[0][1]["filter"])


def test_settings_are_sent_only_when_they_differ() -> None:
    wanted = m.settings(load_synonyms(), STOP_WORDS)
    reported = {  # as Meilisearch answers: other orders, more keys
        **wanted,
        "sortableAttributes": list(reversed(wanted["sortableAttributes"])),
        "typoTolerance": {**wanted["typoTolerance"], "disableOnWords": []},
        "faceting": {**wanted["faceting"], "sortFacetValuesBy": {"*": "alpha"}},
    }
    assert not m.settings_differ(reported, wanted)
    assert m.settings_differ({**reported, "synonyms": {}}, wanted)
    assert m.settings_differ({}, wanted)
