"""The garbage collector's bulk sections (service/collecting.py)."""

from __future__ import annotations

import gc

from service import collecting


def test_a_bulk_section_collects_rarely_and_restores_the_thresholds() -> None:
    before = gc.get_threshold()
    with collecting.bulk():
        assert gc.get_threshold()[0] >= collecting.BULK_THRESHOLD
        assert gc.get_freeze_count() > 0  # what lived before is not walked again
        with collecting.bulk():  # nested: one section
            assert gc.get_threshold()[0] >= collecting.BULK_THRESHOLD
        assert gc.get_threshold()[0] >= collecting.BULK_THRESHOLD
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_failing_section_restores_the_thresholds_too() -> None:
    before = gc.get_threshold()
    try:
        with collecting.bulk():
            raise RuntimeError("the rebuild failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
