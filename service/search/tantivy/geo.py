"""Places on a grid of cells, so that tantivy's term index answers "near here".

Every physical site is indexed as the cells that contain it at each of `LEVELS` (square
cells of 0.32 degrees down to 0.0025 degrees, about 280 m of latitude). A circle is
covered by the cells wholly inside it (coarse ones in its middle) and, along its edge,
the finest cells it crosses. Sites in an inside cell are within the radius; sites in an
edge cell may be either side, so the engine measures those exactly (haversine, as the
distances it reports). Cells are classified with their corner distances, in numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from service.search.port import EARTH_RADIUS_M

LEVELS = tuple(0.32 / 2**level for level in range(8))  # cell sizes in degrees


# A cell is one 64-bit term: its level, then its row and column (offset to be positive).
_OFFSET = 1 << 20


def cell_keys(level: int, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64]) -> list[int]:
    return ((level << 42) | ((rows + _OFFSET) << 21) | (cols + _OFFSET)).tolist()


@lru_cache(maxsize=65_536)
def site_cells(lat: float, lng: float) -> tuple[int, ...]:
    """The cell of a point at every level (cached: programs share their sites)."""
    return tuple(
        (level << 42)
        | ((math.floor(lat / size) + _OFFSET) << 21)
        | (math.floor(lng / size) + _OFFSET)
        for level, size in enumerate(LEVELS)
    )


@dataclass(frozen=True)
class Cover:
    inside: tuple[int, ...]  # cells wholly within the circle
    edge: tuple[int, ...]  # finest cells the circle's edge crosses

    @property
    def all(self) -> list[int]:
        return [*self.inside, *self.edge]


def metres(
    lat: float, lng: float, lats: npt.NDArray[np.float64], lngs: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Haversine distances in metres from (lat, lng) to each of lats/lngs."""
    p1, p2 = math.radians(lat), np.radians(lats)
    dp, dl = p2 - p1, np.radians(lngs - lng)
    h = np.sin(dp / 2) ** 2 + math.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(h, 1.0)))


def _nearest_in_cells(
    lat: float, lng: float, rows: npt.NDArray[np.int64], cols: npt.NDArray[np.int64], size: float
) -> npt.NDArray[np.float64]:
    """Distance to the nearest point of each cell (0 inside it): clamp the centre."""
    near_lat = np.clip(lat, rows * size, (rows + 1) * size)
    near_lng = np.clip(lng, cols * size, (cols + 1) * size)
    return metres(lat, lng, near_lat, near_lng)


def touching(lat: float, lng: float, radius_m: float) -> list[int]:
    """The cells of one level, about a quarter of the circle's height each, that touch the
    circle: the candidates a radius search measures in one pass."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 1e-6)
    level = min(len(LEVELS) - 1, max(0, math.ceil(math.log2(LEVELS[0] / (dlat / 2)))))
    size = LEVELS[level]
    row_range = np.arange(math.floor((lat - dlat) / size), math.floor((lat + dlat) / size) + 1)
    col_range = np.arange(math.floor((lng - dlng) / size), math.floor((lng + dlng) / size) + 1)
    rows, cols = (a.ravel() for a in np.meshgrid(row_range, col_range, indexing="ij"))
    near = _nearest_in_cells(lat, lng, rows, cols, size) <= radius_m * 1.01 + 10
    return cell_keys(level, rows[near], cols[near])


@lru_cache(maxsize=4096)
def cover(lat: float, lng: float, radius_m: float) -> Cover:
    """The cells covering the circle of `radius_m` metres around (lat, lng)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 1e-6)
    # Cells much larger than the circle are never inside it: start where a cell is about
    # half the circle's height.
    first = min(len(LEVELS) - 1, max(0, math.floor(math.log2(LEVELS[0] / dlat))))
    size = LEVELS[first]
    row_range = np.arange(math.floor((lat - dlat) / size), math.floor((lat + dlat) / size) + 1)
    col_range = np.arange(math.floor((lng - dlng) / size), math.floor((lng + dlng) / size) + 1)
    rows, cols = (a.ravel() for a in np.meshgrid(row_range, col_range, indexing="ij"))
    inside: list[int] = []
    edge: list[int] = []
    for level in range(first, len(LEVELS)):
        size = LEVELS[level]
        # A cell's farthest point from the centre is one of its corners (measured in one
        # call for all four). Its nearest point is taken by clamping the centre into it,
        # which is exact on a plane and off by a little on the sphere: the margin keeps
        # every touching cell (an extra edge cell only costs an exact check).
        corner_rows = np.concatenate([rows, rows, rows + 1, rows + 1])
        corner_cols = np.concatenate([cols, cols + 1, cols, cols + 1])
        corners = metres(lat, lng, corner_rows * size, corner_cols * size)
        whole = corners.reshape(4, len(rows)).max(axis=0) <= radius_m
        touching = _nearest_in_cells(lat, lng, rows, cols, size) <= radius_m * 1.01 + 10
        partial = touching & ~whole
        inside += cell_keys(level, rows[whole], cols[whole])
        if level == len(LEVELS) - 1:
            edge = cell_keys(level, rows[partial], cols[partial])
            break
        rows, cols = rows[partial], cols[partial]
        rows = np.concatenate([rows * 2, rows * 2, rows * 2 + 1, rows * 2 + 1])
        cols = np.concatenate([cols * 2, cols * 2 + 1, cols * 2, cols * 2 + 1])
    return Cover(tuple(inside), tuple(edge))
