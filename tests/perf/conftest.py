"""Benchmarks run only with `make bench` (-m perf); `make test` deselects them."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "perf" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="benchmark: run with `make bench`")
    for item in items:
        if "perf" in item.keywords:
            item.add_marker(skip)
