"""The search contract: every engine answers these with the same hits (tests/search/catalog.py)."""

from __future__ import annotations

from typing import Any

import pytest

from service.search.filters import Facet
from service.search.port import haversine_m
from service.search.query import Point
from service.search.schemas import HitCollection
from service.search.tantivy import facets as tantivy_facets
from tests.search.catalog import ACTIVE, GREEN, SONO
from tests.search.conftest import SearchWorld

ALL = sorted(ACTIVE)

# (query parameters, expected hits as a set of catalog keys)
FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({}, set(ALL)),
    # words: names, descriptions, synonyms, Spanish, accents, typos, stemming
    ({"q": "soccer"}, {"soccer"}),
    ({"q": "futbol"}, {"soccer"}),
    ({"q": "fútbol"}, {"soccer"}),
    ({"q": "socer"}, {"soccer"}),
    ({"q": "tutoring"}, {"tutoring", "homework"}),
    ({"q": "therapy"}, {"counseling"}),
    ({"q": "counselling"}, {"counseling"}),
    ({"q": "musica"}, {"music"}),
    ({"q": "MÚSICA"}, {"music"}),
    ({"q": "internships"}, {"internship"}),
    ({"q": "internshp"}, {"internship"}),
    ({"q": "kindergarten"}, {"readers"}),
    ({"q": "spring art"}, {"art"}),
    ({"q": "the club"}, {"soccer", "readers"}),
    ({"q": "Harbor Youth Alliance"}, set(ALL)),
    ({"q": "chess"}, set()),
    ({"q": "zzqqxxv"}, set()),
    # category and taxonomy (a broader term matches its narrower terms)
    ({"category": "early_childhood"}, {"music", "readers"}),
    ({"category": ["early_childhood", "family_support"]}, {"music", "readers", "gym"}),
    ({"taxonomy_term": "sports"}, {"soccer"}),
    ({"taxonomy_term": "activities"}, {"soccer"}),
    # ages: a range covers an age at both ends, decimals; ranges overlap; no ages = all ages
    ({"age": 10}, {"soccer", "homework", "art", "gym"}),
    ({"age": 10.5}, {"tutoring", "homework", "art", "gym"}),
    ({"age": 6}, {"soccer", "readers", "gym"}),
    ({"age_min": 13.5, "age_max": 15}, {"counseling", "coding", "gym"}),
    ({"age_band": "0-4"}, {"music", "readers", "gym"}),
    # grades: a grade range, or the grades an age range fits
    ({"grade": "PK"}, {"music", "readers", "gym"}),
    ({"grade": "K"}, {"soccer", "readers", "gym"}),
    ({"grade": "12"}, {"counseling", "internship", "gym"}),
    # cost per month
    ({"free": "true"}, {"soccer", "counseling", "readers"}),
    ({"free": "false"}, {"tutoring", "homework", "coding", "music", "internship", "art"}),
    ({"max_cost": 50}, {"soccer", "counseling", "readers", "tutoring", "music"}),
    ({"max_cost": 43.33}, {"soccer", "counseling", "readers", "tutoring", "music"}),
    ({"max_cost": 43.32}, {"soccer", "counseling", "readers", "tutoring"}),
    ({"cost_band": "50_to_150"}, {"homework", "internship"}),
    ({"cost_band": "unknown"}, {"gym"}),
    # languages (ISO 639-1 or -2)
    ({"language": "pt"}, {"counseling"}),
    ({"language": "spa"}, {"soccer", "counseling", "music"}),
    # days and time windows (a session must fit inside the window)
    ({"day": "SA"}, {"counseling", "music"}),
    ({"day": ["SU", "SA"]}, {"readers", "counseling", "music"}),
    ({"time_from": "15:00", "time_to": "18:00"}, {"soccer", "tutoring", "homework"}),
    ({"day": "FR", "time_from": "17:00"}, {"gym"}),
    ({"day": "MO", "time_to": "15:00"}, {"coding", "art"}),
    # seasons and date ranges
    (
        {"on_date": "2026-07-15"},
        {"tutoring", "counseling", "music", "internship", "readers", "gym", "coding"},
    ),
    ({"on_date": "2026-04-15"}, set(ALL) - {"coding"}),
    (
        {"on_date": "2026-08-20"},
        {"tutoring", "counseling", "music", "internship", "readers", "gym"},
    ),
    # places
    ({"near": f"{GREEN[0]},{GREEN[1]}", "radius_m": 1000}, {"soccer", "music", "readers", "art"}),
    (
        {"near": f"{GREEN[0]},{GREEN[1]}", "radius_m": 5000},
        {"soccer", "music", "readers", "art", "tutoring", "homework", "coding"},
    ),
    ({"virtual": "true"}, {"counseling"}),
    ({"virtual": "false"}, set(ALL) - {"counseling", "gym"}),
    # the rest
    ({"transportation": "true"}, {"soccer"}),
    ({"accessibility": "wheelchair_accessible"}, {"soccer", "counseling"}),
    ({"accessibility": ["wheelchair_accessible", "asl_interpretation"]}, {"counseling"}),
    (
        {"enrollment_open": "true"},
        {"soccer", "tutoring", "homework", "counseling", "coding", "music", "gym"},
    ),
    ({"enrollment_open": "false"}, {"readers", "internship", "art"}),
    ({"accepting_referrals": "false"}, {"internship"}),
    ({"verified_within_days": 30}, {"soccer", "counseling", "homework", "readers", "art"}),
    # combinations
    ({"q": "club", "age": 5}, {"readers"}),
    ({"category": "out_of_school_time", "free": "true", "day": "MO"}, {"soccer"}),
]


def case_id(params: dict[str, Any]) -> str:
    return "&".join(f"{k}={v}" for k, v in params.items()) or "(none)"


@pytest.mark.parametrize(
    ("params", "expected"), FILTER_CASES, ids=[case_id(p) for p, _ in FILTER_CASES]
)
async def test_filters_find_exactly_the_expected_programs(
    world: SearchWorld, params: dict[str, Any], expected: set[str]
) -> None:
    body = await world.search(per_page=100, **params)
    found = [world.built.key_of(h["id"]) for h in body["contents"]]
    assert sorted(found) == sorted(expected)
    assert len(found) == len(set(found)), "one hit per program"
    assert body["total_items"] == len(expected)


async def test_sort_by_name_and_paging_cover_everything_once(world: SearchWorld) -> None:
    pages = [await world.search(sort="name", per_page=3, page=n) for n in (1, 2, 3, 4)]
    keys = [world.built.key_of(h["id"]) for p in pages for h in p["contents"]]
    names = [h["name"] for p in pages for h in p["contents"]]
    assert sorted(keys) == ALL and names == sorted(names, key=str.casefold)
    assert [p["size"] for p in pages] == [3, 3, 3, 1]
    assert all(p["total_items_exact"] for p in pages)
    assert pages[0]["first_page"] and pages[3]["last_page"] and pages[0]["total_pages"] == 4
    beyond = await world.search(sort="name", per_page=3, page=5)
    assert beyond["contents"] == [] and beyond["empty"] and beyond["total_items"] == len(ALL)


async def test_sort_by_distance_is_nearest_site_first(world: SearchWorld) -> None:
    body = await world.search(near=f"{GREEN[0]},{GREEN[1]}", sort="distance", per_page=100)
    keys = [world.built.key_of(h["id"]) for h in body["contents"]]
    assert keys == [
        "readers", "music", "soccer", "art",  # at GREEN, by name
        "homework", "tutoring", "coding",  # at SONO
        "internship",  # only FAR
        "gym", "counseling",  # no physical site: last
    ]  # fmt: skip
    by_key = dict(zip(keys, body["contents"], strict=True))
    expected = haversine_m(Point(*GREEN), *SONO)
    tutoring = by_key["tutoring"]
    assert tutoring["distance_m"] == pytest.approx(expected, rel=0.01)
    assert tutoring["nearest_location"]["name"] == "Sono" and tutoring["locations_count"] == 2
    assert by_key["soccer"]["distance_m"] == pytest.approx(0, abs=1)
    assert by_key["gym"]["distance_m"] is None and by_key["counseling"]["nearest_location"] is None


async def test_sort_by_recently_verified(world: SearchWorld) -> None:
    keys = await world.keys(sort="recently_verified")
    assert keys == [
        "counseling", "soccer", "readers", "homework", "art",
        "tutoring", "coding", "internship", "music", "gym",
    ]  # fmt: skip


async def test_relevance_puts_name_matches_first_and_highlights(world: SearchWorld) -> None:
    body = await world.search(q="homework help")
    keys = [world.built.key_of(h["id"]) for h in body["contents"]]
    assert keys[0] == "homework"
    assert "<mark>Homework</mark>" in body["contents"][0]["highlights"]["name"]


async def test_highlights_escape_html(world: SearchWorld) -> None:
    body = await world.search(q="café music")
    hit = body["contents"][0]
    assert hit["highlights"]["name"].count("<mark>") >= 1
    assert "<" not in hit["highlights"]["name"].replace("<mark>", "").replace("</mark>", "")


async def test_accept_language_es_returns_spanish_text_where_written(world: SearchWorld) -> None:
    response = await world.client.get(
        "/search/programs", params={"q": "futbol"}, headers={"Accept-Language": "es-MX,es;q=0.9"}
    )
    assert response.headers["content-language"] == "es"
    hit = response.json()["contents"][0]
    assert (hit["name"], hit["language"]) == ("Club de Fútbol Leones", "es")
    english = await world.search(q="futbol", headers={"Accept-Language": "en-US,en;q=0.9,es;q=0.5"})
    assert english["contents"][0]["name"] == "Lions Soccer Club"
    untranslated = await world.search(q="tutoring", headers={"Accept-Language": "es"})
    assert {h["language"] for h in untranslated["contents"]} == {"en"}


async def test_geojson_feature_collection(world: SearchWorld) -> None:
    response = await world.client.get(
        "/search/programs",
        params={"near": f"{GREEN[0]},{GREEN[1]}", "sort": "distance", "per_page": 100},
        headers={"Accept": "application/geo+json"},
    )
    assert response.headers["content-type"].startswith("application/geo+json")
    body = response.json()
    assert HitCollection.model_validate(body).model_dump(mode="json") == body
    assert body["type"] == "FeatureCollection" and body["total_items"] == len(ALL)
    first = body["features"][0]
    lng, lat = first["geometry"]["coordinates"]
    assert (lat, lng) == pytest.approx(GREEN, abs=1e-6)
    assert body["features"][-1]["geometry"] is None  # a program without a physical site


# A facet ignores every filter of its group (service.search.query.FACET_FILTERS).
FACET_GROUP = {
    "age_band": {"age", "age_min", "age_max", "age_band"},
    "cost_band": {"free", "max_cost", "cost_band"},
}
FACET_PARAM = {
    "category": "category",
    "language": "language",
    "age_band": "age_band",
    "cost_band": "cost_band",
    "day": "day",
    "zip": "zip",
}
FACET_QUERIES: list[dict[str, Any]] = [
    {},
    {"q": "club"},
    {"category": "early_childhood"},
    {"day": "MO", "free": "false"},
    {"time_from": "15:00", "time_to": "18:00", "language": "en"},
    {"age_band": ["5-10", "11-13"], "cost_band": "free"},
]


@pytest.mark.parametrize("params", FACET_QUERIES, ids=[case_id(p) for p in FACET_QUERIES])
async def test_facet_counts_equal_the_filtered_list_sizes(
    world: SearchWorld, params: dict[str, Any]
) -> None:
    body = await world.search(facets=",".join(FACET_PARAM), per_page=1, **params)
    assert set(body["facets"]) == set(FACET_PARAM)
    for facet, values in body["facets"].items():
        param = FACET_PARAM[facet]
        group = FACET_GROUP.get(facet, {param})
        others = {k: v for k, v in params.items() if k not in group}
        for entry in values:
            narrowed = await world.search(per_page=1, **others, **{param: entry["value"]})
            assert narrowed["total_items"] == entry["count"], (facet, entry)
        if not group & set(params):  # without its own filter, a facet sums to at least the total
            assert sum(e["count"] for e in values) >= body["total_items"] or facet == "zip"


@pytest.mark.parametrize("params", FACET_QUERIES[:3], ids=[case_id(p) for p in FACET_QUERIES[:3]])
async def test_tantivy_counts_multi_valued_facets_by_value_when_their_sets_overflow(
    world: SearchWorld, params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded engine counts a multi-valued facet by the sets of values documents
    hold; when one aggregation cannot return every set, it counts by value instead: the
    same counts either way."""
    if world.searching.engine.name != "tantivy":
        pytest.skip("the embedded engine's own fallback")
    monkeypatch.setattr(world.searching, "cache", None)  # both answers from the engine
    asked = {"facets": ",".join(FACET_PARAM), "per_page": 1, **params}
    by_sets = (await world.search(**asked))["facets"]
    by_value: list[Facet] = []
    spec_of = tantivy_facets._terms_spec

    def spied(facet: Facet, by_sets: bool) -> dict[str, Any]:
        if not by_sets:
            by_value.append(facet)
        return spec_of(facet, by_sets)

    monkeypatch.setattr(tantivy_facets, "MAX_FACET_SETS", 1)
    monkeypatch.setattr(tantivy_facets, "_terms_spec", spied)
    assert (await world.search(**asked))["facets"] == by_sets
    assert {f.value for f in by_value} >= {"language", "age_band", "day"}


async def test_zip_tract_and_city_filters(world: SearchWorld) -> None:
    from tests.search.catalog import SPECS

    green_zip = world.zips["GREEN"]
    assert green_zip is not None and world.zips["FAR"] is None
    at_zip = {
        s.key
        for s in SPECS
        if s.key in ACTIVE and any(world.zips.get(x) == green_zip for x in s.sites)
    }
    assert set(await world.keys(zip=green_zip)) == at_zip
    in_city = {s.key for s in SPECS if s.key in ACTIVE and {"GREEN", "SONO"} & set(s.sites)}
    assert set(await world.keys(within="city")) == in_city


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"radius_m": 500}, "radius_m"),
    ({"sort": "distance"}, "sort"),
    ({"near": "north pole"}, "near"),
    ({"near": "91,0"}, "near"),
    ({"age": 5, "age_min": 3}, "age"),
    ({"age_min": 9, "age_max": 3}, "age_min"),
    ({"time_from": "18:00", "time_to": "09:00"}, "time_from"),
    ({"facets": "category,colour"}, "facets"),
    ({"language": "klingon"}, "language"),
    ({"taxonomy_term": "no-such-term"}, "taxonomy_term"),
    ({"zip": "00000"}, "zip"),
    ({"zip": "6850"}, "zip"),
    ({"day": "MONDAY"}, "day"),
    ({"per_page": 101}, "per_page"),
    ({"page": 11, "per_page": 100}, "page"),  # beyond the first 1000 hits search reaches
    ({"colour": "red"}, "colour"),
]


@pytest.mark.parametrize(
    ("params", "field"), BAD_REQUESTS, ids=[case_id(p) for p, _ in BAD_REQUESTS]
)
async def test_invalid_searches_are_422_problems(
    world: SearchWorld, params: dict[str, Any], field: str
) -> None:
    response = await world.client.get("/search/programs", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert any(field in e["loc"] for e in response.json()["errors"])
