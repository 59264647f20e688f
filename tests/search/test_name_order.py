"""Name order on the embedded engine (service/search/tantivy/names.py): every page of a
search by name is the brute-force order of the names, after a rebuild, after programs
are added, renamed and removed one batch at a time, and after a gap between two ranks
runs out so that ranks repeat; searched in the whole index, and in heads of the name
order first, as in a large index."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import date

import pytest

from service.search.document import ProgramSource, SearchDocument, build, name_key
from service.search.query import SearchQuery, Sort, filters
from service.search.tantivy import names, schema
from service.search.tantivy.engine import TantivyEngine
from service.search.text import load_synonyms
from tests.factories import program_source

WORDS = ["Cedar", "Bayview", "Oak Hill", "Ñandú", "Zumba", "cedar", "Éclair", "Strauß"]


def _program(rng: random.Random, name: str, free: bool | None = None) -> ProgramSource:
    category = "out_of_school_time" if free in (None, True) else "social_emotional_health"
    return program_source(id=uuid.UUID(int=rng.getrandbits(128)), name=name, category=category)


def _name(rng: random.Random) -> str:
    return f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.randrange(50)}"


async def _rebuilt(programs: list[ProgramSource]) -> TantivyEngine:
    engine = TantivyEngine(load_synonyms())
    rebuild = await engine.rebuild()
    docs = sorted((build(p) for p in programs), key=lambda d: name_key(d.name, d.program_id))
    for start in range(0, len(docs), 100):
        await rebuild.add(docs[start : start + 100])
    await rebuild.finish()
    return engine


def _pages_match(engine: TantivyEngine, live: dict[uuid.UUID, ProgramSource]) -> None:
    """Every page (of several sizes), with and without a filter, is the name order."""
    for category in (None, "out_of_school_time"):
        expected = [
            p.id
            for p in sorted(live.values(), key=lambda p: name_key(p.name, p.id))
            if category is None or p.category == category
        ]
        for per_page in (7, 20, 50):
            for page in range(1, min(len(expected) // per_page + 2, 12)):
                q = SearchQuery(
                    filters=filters(category=[category]) if category else (),
                    sort=Sort.name,
                    page=page,
                    per_page=per_page,
                    today=date(2026, 12, 5),
                )
                result = engine.search_now(q)
                got = [h.program_id for h in result.hits]
                assert got == expected[(page - 1) * per_page : page * per_page], (
                    category,
                    per_page,
                    page,
                )
                assert result.total == min(len(expected), names.ENOUGH)


@pytest.fixture(params=["whole index", "heads first"])
def heads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Searches by name in the whole index, or (as in a large one) in heads of the name
    order first: blocks of 4 documents, a fence every 8, heads from any size, totals
    capped at 30."""
    if request.param == "heads first":
        monkeypatch.setattr(schema, "NAME_BLOCK_SHIFT", 34)
        monkeypatch.setattr(names, "FENCE_EVERY", 8)
        monkeypatch.setattr(names, "HEAD_FROM", 0)
        monkeypatch.setattr(names, "ENOUGH", 30)


@pytest.mark.usefixtures("heads")
async def test_pages_by_name_stay_exact_through_adds_renames_removals_and_full_gaps() -> None:
    rng = random.Random(11)
    live = {p.id: p for p in (_program(rng, _name(rng), rng.random() < 0.6) for _ in range(400))}
    engine = await _rebuilt(list(live.values()))
    assert not engine._live.order.tied
    _pages_match(engine, live)

    # A batch of new programs, many between the same two neighbours.
    added = [_program(rng, f"Cedar Cedar 7 {i:03d}") for i in range(150)]
    added += [_program(rng, _name(rng), rng.random() < 0.5) for _ in range(50)]
    engine._apply([build(p) for p in added], [])
    live |= {p.id: p for p in added}
    _pages_match(engine, live)

    # Renames (the same programs, new names) and removals.
    renamed = [replace(p, name=_name(rng)) for p in rng.sample(list(live.values()), 60)]
    others = sorted(live.keys() - {p.id for p in renamed})
    removed = rng.sample(others, 40)
    engine._apply([build(p) for p in renamed], removed)
    live |= {p.id: p for p in renamed}
    for program_id in removed:
        del live[program_id]
    _pages_match(engine, live)

    # One program at a time, each just after the last, until the gap runs out (ranks
    # repeat from then on; the order must not change).
    for i in range(40):
        p = _program(rng, f"Bayview Bayview 3 z{i:02d}")
        engine._apply([build(p)], [])
        live[p.id] = p
    assert engine._live.order.tied
    _pages_match(engine, live)

    # A rebuild numbers them afresh: no repeated ranks.
    engine = await _rebuilt(list(live.values()))
    assert not engine._live.order.tied
    _pages_match(engine, live)


async def test_a_rebuild_refuses_documents_out_of_name_order() -> None:
    rng = random.Random(3)
    engine = TantivyEngine(load_synonyms())
    rebuild = await engine.rebuild()
    docs: list[SearchDocument] = [build(_program(rng, n)) for n in ("Zumba", "Art")]
    with pytest.raises(ValueError, match="name order"):
        await rebuild.add(docs)
    await rebuild.abort()


def test_ranks_spread_evenly_in_a_gap_and_step_past_the_last() -> None:
    ranks = [0] * 3
    anchors = [("", 0), ("b", 100), ("d", 200), (names._LAST, names.TOP)]
    tied = names._spread(anchors, [("c1", 0), ("c2", 1), ("e", 2)], ranks)
    assert ranks[:2] == [133, 166] and not tied
    assert ranks[2] == 200 + names.GAP  # after the last: one gap on, not half of the rest
    ranks = [0] * 2
    assert names._spread([("", 0), ("b", 100), ("c", 101), (names._LAST, names.TOP)],
                         [("b1", 0), ("b2", 1)], ranks)  # fmt: skip
