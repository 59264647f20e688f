"""Distances at scale, on the embedded engine alone: more matches than a page measures at
once (so nearest-first grows rings of cells), programs sharing a site (ties broken by
name), multi-site programs (their nearest site counts), with and without a radius.
Every answer is checked against the same question answered by brute force; and a hit
is written alike by both engines."""

from __future__ import annotations

import random
import uuid
from datetime import date

import orjson
import pytest

from service.search.document import LocationSource, ProgramSource, build, name_key
from service.search.filters import Facet
from service.search.meili.engine import MeiliEngine
from service.search.meili.mapping import documents
from service.search.port import haversine_m
from service.search.query import Point, SearchQuery, Sort, filters
from service.search.service import hit
from service.search.tantivy import names, nearby, schema
from service.search.tantivy.engine import TantivyEngine
from service.search.text import load_synonyms
from tests.factories import program_source

PROGRAMS = 3 * nearby.FEW  # well over what is measured directly
BOX = (41.05, -73.55, 0.30)  # south, west, size in degrees


def _site(rng: random.Random, shared: list[tuple[float, float]]) -> tuple[float, float]:
    if shared and rng.random() < 0.2:  # a school or community centre many programs use
        return rng.choice(shared)
    south, west, size = BOX
    return (round(south + rng.random() * size, 6), round(west + rng.random() * size, 6))


def _programs(seed: int) -> list[ProgramSource]:
    rng = random.Random(seed)
    shared = [_site(rng, []) for _ in range(60)]
    out = []
    for i in range(PROGRAMS):
        sites = [_site(rng, shared) for _ in range(rng.choice((1, 1, 1, 2, 3, 6)))]
        out.append(
            program_source(
                id=uuid.UUID(int=rng.getrandbits(128)),
                name=f"Program {rng.choice('ABCDEFGH')} {i % 7}",  # many equal names too
                locations=tuple(
                    LocationSource(
                        id=uuid.UUID(int=rng.getrandbits(128)),
                        name=f"Site {n}",
                        address_1=None,
                        city=None,
                        state=None,
                        postal_code=None,
                        virtual=False,
                        lat=lat,
                        lng=lng,
                        zcta=None,
                        tract=None,
                        in_city=False,
                    )
                    for n, (lat, lng) in enumerate(sites)
                ),
            )
        )
    return out


@pytest.fixture(scope="module")
def indexed() -> tuple[TantivyEngine, list[ProgramSource]]:
    programs = _programs(5)
    engine = TantivyEngine(load_synonyms())
    engine._apply([build(p) for p in programs], [])
    return engine, programs


def _expected(
    programs: list[ProgramSource], near: Point, radius: float | None
) -> list[tuple[float, str, str]]:
    rows = []
    for p in programs:
        d = min(haversine_m(near, loc.lat, loc.lng) for loc in p.locations)  # type: ignore[arg-type]
        if radius is None or d <= radius:
            rows.append((d, f"{p.name.casefold()}\x00{p.id}", str(p.id)))
    return sorted(rows)


@pytest.fixture(scope="module")
async def rebuilt() -> tuple[TantivyEngine, list[ProgramSource]]:
    """The same programs through a rebuild, with name blocks of 4 documents and a fence
    every 8: heads of the name order are then small enough to be used."""
    programs = _programs(5)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(schema, "NAME_BLOCK_SHIFT", 34)
        patch.setattr(names, "FENCE_EVERY", 8)
        engine = TantivyEngine(load_synonyms())
        rebuild = await engine.rebuild()
        await rebuild.add(
            sorted(map(build, programs), key=lambda d: name_key(d.name, d.program_id))
        )
        await rebuild.finish()
    return engine, programs


@pytest.mark.parametrize(
    "path",
    [
        "one pass",
        "counted by cells",
        "counted after a search",
        "counted, capped",
        "radius filter",
        "heads",
    ],
)
@pytest.mark.parametrize("radius", [None, 2_500.0, 9_000.0, 20_000.0])
@pytest.mark.parametrize("page", [1, 4])
def test_nearest_first_is_the_brute_force_order(
    indexed: tuple[TantivyEngine, list[ProgramSource]],
    radius: float | None,
    page: int,
    path: str,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Inside a radius the engine measures every candidate in one pass while they are few
    (nearby.DIRECT); else it counts the matches by cells and
    finds the page in rings; with facets asked for it builds the radius filter and grows
    rings. All three checked (without a radius, the rings alone), and the count by cells
    where a total is capped (names.ENOUGH, lowered here): the edge is then not measured
    when the cells inside hold enough; a filtered circle, which is searched before it is
    counted (a filter every program passes, so the answer is the same); and, without a
    radius, counts kept short in heads of the name order ("heads")."""
    if path.startswith("counted"):
        monkeypatch.setattr(nearby, "DIRECT", 0)
    if path in ("counted, capped", "heads"):
        monkeypatch.setattr(names, "ENOUGH", 100)
    if path == "heads":  # counted in heads of the name order, as in a large index
        monkeypatch.setattr(schema, "NAME_BLOCK_SHIFT", 34)
        monkeypatch.setattr(names, "HEAD_FROM", 0)
        indexed = request.getfixturevalue("rebuilt")
    engine, programs = indexed
    rng = random.Random(f"{radius}-{page}")
    south, west, size = BOX
    for _ in range(12):
        near = Point(south + rng.random() * size, west + rng.random() * size)
        if rng.random() < 0.3:  # at a program's site, often one many programs share
            site = programs[rng.randrange(len(programs))].locations[0]
            near = Point(site.lat, site.lng)  # type: ignore[arg-type]
        q = SearchQuery(
            filters=filters(
                **({"radius_m": radius} if radius is not None else {}),
                **(
                    {"category": ["out_of_school_time"]} if path == "counted after a search" else {}
                ),
            ),
            near=near,
            sort=Sort.distance,
            page=page,
            per_page=20,
            facets=(Facet.category,) if path == "radius filter" else (),
            today=date(2026, 12, 4),
        )
        expected = _expected(programs, near, radius)
        result = engine.search_now(q)
        assert result.total == min(len(expected), names.ENOUGH)
        want = [row[2] for row in expected[(page - 1) * 20 : page * 20]]
        got = [str(h.program_id) for h in result.hits]
        assert got == want, (near, radius, page)
        for h, row in zip(result.hits, expected[(page - 1) * 20 : page * 20], strict=True):
            assert h.distance_m == pytest.approx(row[0], abs=1e-6)


@pytest.mark.parametrize("radius", [800.0, 2_500.0, 9_000.0])
def test_a_radius_keeps_exactly_the_programs_inside_it(
    indexed: tuple[TantivyEngine, list[ProgramSource]], radius: float
) -> None:
    """By name, so that the radius filter alone decides which programs come back."""
    engine, programs = indexed
    rng = random.Random(radius)
    south, west, size = BOX
    for _ in range(12):
        near = Point(south + rng.random() * size, west + rng.random() * size)
        expected = sorted(row[1:] for row in _expected(programs, near, radius))
        q = SearchQuery(
            filters=filters(radius_m=radius),
            near=near,
            sort=Sort.name,
            per_page=100,
            today=date(2026, 12, 4),
        )
        result = engine.search_now(q)
        assert result.total == min(len(expected), 1000)
        assert [str(h.program_id) for h in result.hits] == [row[1] for row in expected[:100]]


def test_both_engines_write_a_hit_alike(
    indexed: tuple[TantivyEngine, list[ProgramSource]],
) -> None:
    """Meilisearch hits make their fixed JSON from the display their documents store;
    tantivy stores it: the same program answers the same hit (nearest site, distance and
    every fixed member) from either. No server is needed for the Meilisearch half: the
    hit is made from a document as Meilisearch returns it (JSON)."""
    engine, programs = indexed
    near = Point(BOX[0] + BOX[2] / 2, BOX[1] + BOX[2] / 2)
    q = SearchQuery(near=near, sort=Sort.name, per_page=100, today=date(2026, 12, 4))
    by_id = {str(p.id): p for p in programs}
    meili = object.__new__(MeiliEngine)
    hits = engine.search_now(q).hits
    assert len(hits) == 100
    for found in hits:
        stored = orjson.loads(orjson.dumps(documents(build(by_id[str(found.program_id)]))[0]))
        from_meili = meili._hit(stored, q)
        assert orjson.loads(orjson.dumps(hit(from_meili))) == orjson.loads(orjson.dumps(hit(found)))
