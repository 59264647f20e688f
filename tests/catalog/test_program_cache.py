"""The public program documents an API process keeps (catalog/program_cache.py): bounded,
forgotten when the change log names them, and never kept from a read that a change may
have overtaken."""

from __future__ import annotations

import uuid

from service.catalog.program_cache import ProgramCache


async def _following() -> bool:
    return True


def _kept(size: int = 3) -> ProgramCache:
    return ProgramCache(size, _following)


def test_keeps_at_most_its_size_dropping_the_least_recently_read() -> None:
    kept = _kept(size=2)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    kept.put(a, (b"a", 1), kept.forgets)
    kept.put(b, (b"b", 1), kept.forgets)
    assert kept.get(a) == (b"a", 1)  # a is now the most recently read
    kept.put(c, (b"c", 1), kept.forgets)
    assert kept.get(b) is None
    assert kept.get(a) == (b"a", 1) and kept.get(c) == (b"c", 1)
    assert len(kept) == 2


def test_the_programs_the_log_names_are_forgotten_and_a_rebuild_forgets_all() -> None:
    kept = _kept()
    a, b = uuid.uuid4(), uuid.uuid4()
    kept.put(a, (b"a", 1), kept.forgets)
    kept.put(b, (b"b", 1), kept.forgets)
    kept.forget([a])
    assert kept.get(a) is None and kept.get(b) == (b"b", 1)
    kept.forget(None)
    assert len(kept) == 0


def test_a_read_under_way_when_the_log_named_a_program_is_not_kept() -> None:
    """The read may have begun before the change it did not see: keeping it would show
    the old version until the next change."""
    kept = _kept()
    a, other = uuid.uuid4(), uuid.uuid4()
    began_under = kept.forgets
    kept.forget([other])  # any program: the read's snapshot may predate that change too
    kept.put(a, (b"old", 1), began_under)
    assert kept.get(a) is None
    kept.put(a, (b"new", 2), kept.forgets)
    assert kept.get(a) == (b"new", 2)
