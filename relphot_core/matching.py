"""One-to-one sky matching of two source lists.

Positions become unit vectors on the sphere, so the match is the same at
RA = 0/360 and at the poles as anywhere else. A match is kept only when each
source is the other's nearest neighbour within the chord of the matching
radius (mutual nearest neighbours), which makes it one-to-one.

The neighbours come from a grid of square cells one chord wide, on the
unit vectors projected onto the coordinate plane most nearly tangent to the
sources (dropping a coordinate never lengthens a distance, so no close pair
is missed anywhere on the sky): every source within one chord of a point
lies in the 3 x 3 cells around it. Each list's cell keys are sorted once;
per pair, three sorted look-ups (one per row of cells) find the
candidates, measured then in 3-d. Plain numpy, no scipy import (~0.15 s
per process), and on a full-density observation (4 x 54,000 sources)
about 3x faster than building scipy's ``cKDTree`` and querying it both
ways. The pairs are those of the KD-tree's mutual nearest neighbours
(property-tested against ``cKDTree``); exact ties in distance go to the
lower row.
"""
from __future__ import annotations

import math

import numpy as np


def unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    """Cartesian unit vectors of sky positions.

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Right ascension and declination in degrees.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, 3)``.
    """
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    cos_dec = np.cos(dec)
    return np.column_stack((cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec)))


def chord_length(radius_arcsec: float) -> float:
    """Chord between two unit vectors separated by ``radius_arcsec``."""
    return 2.0 * math.sin(math.radians(radius_arcsec / 3600.0) / 2.0)


class _Grid:
    """A list's cells: rows sorted by cell key, and the occupied cells
    (sorted keys, first sorted row of each), padded for look-ups past the end."""

    __slots__ = ("side", "order", "keys", "cells", "starts")

    def __init__(self, side: int, order: np.ndarray, keys: np.ndarray) -> None:
        self.side = side  # the key of cell (i, j) is i * side + j
        self.order = order  # rows sorted by cell key
        self.keys = keys  # their cell keys, sorted
        first = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else np.empty(0, np.intp)
        sentinel = np.iinfo(np.int64).max
        self.cells = np.r_[keys[first], sentinel, sentinel, sentinel]
        self.starts = np.r_[first, keys.size, keys.size, keys.size]


class SkyIndex:
    """Unit vectors of a source list, with its cell grids built on first use
    (reusable across the pairs of an exposure, like a KD-tree).

    Parameters
    ----------
    x, y, z : numpy.ndarray
        Components of the unit vectors (kept apart: gathering 1-d arrays
        is several times faster than gathering rows of an (n, 3) array).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
        self.xyz = (np.ascontiguousarray(x, dtype=float), np.ascontiguousarray(y, dtype=float),
                    np.ascontiguousarray(z, dtype=float))
        self._grids: dict[tuple[float, int], _Grid] = {}
        self._axis: int | None = None

    @property
    def n(self) -> int:
        """Number of sources."""
        return int(self.xyz[0].size)

    @property
    def data(self) -> np.ndarray:
        """The unit vectors as an ``(n, 3)`` array."""
        return np.column_stack(self.xyz)

    @property
    def axis(self) -> int:
        """The coordinate closest to the sources' mean direction (the plane
        without it is the one most nearly tangent to them)."""
        if self._axis is None:
            self._axis = int(np.argmax([abs(float(c.sum())) for c in self.xyz]))
        return self._axis

    def grid(self, chord: float, axis: int) -> _Grid:
        """Square cells one chord wide on the unit vectors without coordinate ``axis`` (cached)."""
        grid = self._grids.get((chord, axis))
        if grid is None:
            cell = max(chord, 2.0**-29)  # wider is as correct; keys stay within int64
            side = int(2.0 / cell) + 3  # cell indices run 0..side-3: j - 1 and j + 1 never wrap
            u, v = (c + 1.0 for i, c in enumerate(self.xyz) if i != axis)
            keys = np.floor(u / cell).astype(np.int64) * side + np.floor(v / cell).astype(np.int64)
            order = np.argsort(keys)
            grid = _Grid(side, order, keys[order])
            self._grids[(chord, axis)] = grid
        return grid


def build_tree(ra_deg: np.ndarray, dec_deg: np.ndarray) -> SkyIndex:
    """The matching index of a source list (unit vectors; cell grids built on demand).

    Parameters
    ----------
    ra_deg, dec_deg : array_like
        Positions in degrees.

    Returns
    -------
    SkyIndex
    """
    ra = np.radians(np.asarray(ra_deg, dtype=float)).ravel()
    dec = np.radians(np.asarray(dec_deg, dtype=float)).ravel()
    cos_dec = np.cos(dec)
    return SkyIndex(cos_dec * np.cos(ra), cos_dec * np.sin(ra), np.sin(dec))


def pairs_within(index_a: SkyIndex, index_b: SkyIndex, chord: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of sources of a and b closer than ``chord`` (unit-vector distance).

    The unit vectors are projected onto the coordinate plane most nearly
    tangent to list a (dropping one coordinate never lengthens a distance,
    so no close pair is missed anywhere on the sky); the candidates found
    in the 3 x 3 cells (one chord wide) around each source are then
    measured in 3-d.

    Returns
    -------
    rows_a, rows_b : numpy.ndarray of int
        The pairs, in no particular order.
    distance : numpy.ndarray
        Their chord distances.
    """
    empty = np.empty(0, dtype=np.intp)
    if index_a.n == 0 or index_b.n == 0:
        return empty, empty, np.empty(0)
    axis = index_a.axis
    grid_a, grid_b = index_a.grid(chord, axis), index_b.grid(chord, axis)
    parts_a, parts_b = [], []
    for step in (-grid_a.side, 0, grid_a.side):
        # Cells (i, j - 1), (i, j), (i, j + 1) are consecutive in key order:
        # the occupied ones among them are consecutive cells of b, one range
        # of its sorted rows. Sorted queries make the search cache-friendly.
        wanted = grid_a.keys + step
        position = np.searchsorted(grid_b.cells[:-3], wanted - 1)
        last = wanted + 1
        n_cells = ((grid_b.cells[position] <= last).astype(np.intp) + (grid_b.cells[position + 1] <= last)
                   + (grid_b.cells[position + 2] <= last))
        lo = grid_b.starts[position]
        count = grid_b.starts[position + n_cells] - lo
        found = np.flatnonzero(count)
        if found.size == 0:
            continue
        count, lo = count[found], lo[found]
        if int(count.max()) == 1:
            parts_a.append(grid_a.order[found])
            parts_b.append(grid_b.order[lo])
            continue
        total = int(count.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(count) - count, count)
        parts_a.append(np.repeat(grid_a.order[found], count))
        parts_b.append(grid_b.order[np.repeat(lo, count) + offsets])
    if not parts_a:
        return empty, empty, np.empty(0)
    rows_a, rows_b = np.concatenate(parts_a), np.concatenate(parts_b)
    squared = np.zeros(rows_a.size)
    for a, b in zip(index_a.xyz, index_b.xyz):
        delta = a[rows_a] - b[rows_b]
        squared += delta * delta
    close = np.flatnonzero(squared < chord * chord)
    return rows_a[close], rows_b[close], np.sqrt(squared[close])


def _nearest_of_each(rows: np.ndarray, other: np.ndarray, distance: np.ndarray, n: int) -> np.ndarray:
    """Mask of the pairs that are the nearest (ties: lowest ``other`` row) of their ``rows`` source."""
    best = np.zeros(rows.size, dtype=bool)
    count = np.bincount(rows, minlength=n)
    single = count[rows] == 1
    best[single] = True
    shared = np.flatnonzero(~single)
    if shared.size:
        order = shared[np.lexsort((other[shared], distance[shared], rows[shared]))]
        first = np.r_[True, rows[order][1:] != rows[order][:-1]]
        best[order[first]] = True
    return best


def match_mutual(
    tree_a: SkyIndex,
    tree_b: SkyIndex,
    radius_arcsec: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of two source lists within a radius.

    Parameters
    ----------
    tree_a, tree_b : SkyIndex
        Indexes of unit vectors from `build_tree`.
    radius_arcsec : float, optional
        Maximum separation.

    Returns
    -------
    index_a, index_b : numpy.ndarray of int
        Matched rows of list a and of list b (same length, one-to-one),
        sorted by row of a.
    separation_arcsec : numpy.ndarray
        Their separations.

    Examples
    --------
    >>> a = build_tree(np.array([359.9999, 10.0]), np.array([0.0, 89.9999]))
    >>> b = build_tree(np.array([0.00002, 190.0]), np.array([0.0, 89.99995]))
    >>> ia, ib, sep = match_mutual(a, b, 0.5)
    >>> ia.tolist(), ib.tolist()
    ([0], [0])
    """
    chord = chord_length(radius_arcsec)
    rows_a, rows_b, distance = pairs_within(tree_a, tree_b, chord)
    mutual = (_nearest_of_each(rows_a, rows_b, distance, tree_a.n)
              & _nearest_of_each(rows_b, rows_a, distance, tree_b.n))
    # One-to-one: scatter by row of a to return the pairs in that order.
    pair_of = np.full(tree_a.n, -1, dtype=np.intp)
    pair_of[rows_a[mutual]] = np.flatnonzero(mutual)
    index_a = np.flatnonzero(pair_of >= 0)
    keep = pair_of[index_a]
    separation = 2.0 * np.degrees(np.arcsin(np.minimum(distance[keep] / 2.0, 1.0))) * 3600.0
    return index_a, rows_b[keep].astype(np.intp), separation
