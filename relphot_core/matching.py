"""One-to-one sky matching of two source lists.

Positions become unit vectors on the sphere, so the match is the same at
RA = 0/360 and at the poles as anywhere else; a KD-tree (scipy's
``cKDTree``) finds nearest neighbours within the chord of the matching
radius. A match is kept only when each source is the other's nearest
neighbour (mutual nearest neighbours), which makes it one-to-one.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree


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


def build_tree(ra_deg: np.ndarray, dec_deg: np.ndarray) -> cKDTree:
    """A KD-tree of unit vectors, reusable across the pairs of an exposure."""
    return cKDTree(unit_vectors(ra_deg, dec_deg), balanced_tree=False, compact_nodes=False)


def match_mutual(
    tree_a: cKDTree,
    tree_b: cKDTree,
    radius_arcsec: float = 0.5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mutual nearest neighbours of two source lists within a radius.

    Parameters
    ----------
    tree_a, tree_b : scipy.spatial.cKDTree
        Trees of unit vectors from `build_tree`.
    radius_arcsec : float, optional
        Maximum separation.

    Returns
    -------
    index_a, index_b : numpy.ndarray of int
        Matched rows of list a and of list b (same length, one-to-one).
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
    n_a, n_b = tree_a.n, tree_b.n
    empty = np.empty(0, dtype=np.intp)
    if n_a == 0 or n_b == 0:
        return empty, empty, np.empty(0)
    dist_ab, nearest_b = tree_b.query(tree_a.data, k=1, distance_upper_bound=chord)
    # Unmatched queries come back with index == n (the tree size).
    index_a = np.flatnonzero(nearest_b < n_b)
    index_b = nearest_b[index_a]
    # Only the claimed sources of b need their own nearest neighbour in a.
    claimed, inverse = np.unique(index_b, return_inverse=True)
    _, nearest_a = tree_a.query(tree_b.data[claimed], k=1, distance_upper_bound=chord)
    mutual = nearest_a[inverse] == index_a
    index_a, index_b = index_a[mutual], index_b[mutual]
    separation = 2.0 * np.degrees(np.arcsin(np.minimum(dist_ab[index_a] / 2.0, 1.0))) * 3600.0
    return index_a, index_b, separation
