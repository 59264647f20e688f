"""The data a clone carries (geodata/, openapi/hsds/3.0) is whole, and, where the
partnership's shared folder sits beside the clone, the same as its copy there."""

from __future__ import annotations

import json

import pytest

from service.settings import GEODATA_DIR, HSDS_DIR, REPO_ROOT

SHARED = REPO_ROOT.parent / "shared"
LAYERS = ["boundary", "boundary_cartographic", "schools", "tracts", "zctas"]


def test_the_clone_carries_its_geodata_and_hsds_schemas() -> None:
    for layer in LAYERS:
        features = json.loads((GEODATA_DIR / f"norwalk_{layer}.geojson").read_text())["features"]
        assert features, layer
    assert (GEODATA_DIR / "SOURCES.md").is_file()
    for name in ("service", "organization", "service_at_location", "location", "openapi"):
        assert json.loads((HSDS_DIR / "schema" / f"{name}.json").read_text())
    assert "Attribution-ShareAlike 4.0" in (HSDS_DIR.parent / "LICENSE").read_text()


@pytest.mark.skipif(not SHARED.is_dir(), reason="no ../shared beside this clone to compare")
def test_the_bundled_copies_equal_the_shared_ones() -> None:
    pairs = [(GEODATA_DIR / p.name, p) for p in (SHARED / "geodata").glob("*.geojson")]
    pairs += [
        (HSDS_DIR / p.relative_to(SHARED / "hsds" / "3.0"), p)
        for p in (SHARED / "hsds" / "3.0").rglob("*.json")
        if not (p.parent.name == "compiled" and not p.name.endswith("_list.json"))
    ]
    assert len(pairs) > 30
    differ = [str(ours) for ours, theirs in pairs if ours.read_bytes() != theirs.read_bytes()]
    assert not differ, differ
