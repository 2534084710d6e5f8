"""The grid matcher gives the same mutual nearest neighbours as scipy's cKDTree.

The reference is relphot's earlier matcher: nearest neighbour of each
source of a in b within the chord, then the nearest in a of each claimed
source of b, kept when they agree.
"""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import cKDTree

from relphot_core.matching import build_tree, chord_length, match_mutual, pairs_within, unit_vectors


def _reference(ra_a, dec_a, ra_b, dec_b, radius):
    xa, xb = unit_vectors(ra_a, dec_a), unit_vectors(ra_b, dec_b)
    if len(xa) == 0 or len(xb) == 0:
        return np.empty(0, int), np.empty(0, int), np.empty(0)
    tree_a, tree_b = cKDTree(xa), cKDTree(xb)
    chord = chord_length(radius)
    dist, nearest_b = tree_b.query(xa, k=1, distance_upper_bound=chord)
    index_a = np.flatnonzero(nearest_b < len(xb))
    index_b = nearest_b[index_a]
    _, nearest_a = tree_a.query(xb[index_b], k=1, distance_upper_bound=chord)
    mutual = nearest_a == index_a
    sep = 2.0 * np.degrees(np.arcsin(dist[index_a][mutual] / 2.0)) * 3600.0
    return index_a[mutual], index_b[mutual], sep


def _field(rng, ra0, dec0, n, half_width_arcsec):
    """Points in a square around (ra0, dec0) on its tangent plane, deg."""
    xi = np.radians(rng.uniform(-half_width_arcsec, half_width_arcsec, n) / 3600.0)
    eta = np.radians(rng.uniform(-half_width_arcsec, half_width_arcsec, n) / 3600.0)
    d0 = np.radians(dec0)
    denom = np.cos(d0) - eta * np.sin(d0)
    ra = (ra0 + np.degrees(np.arctan2(xi, denom))) % 360.0
    dec = np.degrees(np.arctan2(np.sin(d0) + eta * np.cos(d0), np.hypot(xi, denom)))
    return ra, dec


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    ra0=st.sampled_from([0.0, 0.0001, 359.9999, 150.0, 271.3]) | st.floats(0.0, 360.0, exclude_max=True),
    dec0=st.sampled_from([-90.0, -89.9999, 0.0, 2.0, 89.99, 90.0]) | st.floats(-90.0, 90.0),
    n_a=st.integers(0, 400),
    n_b=st.integers(0, 400),
    half_width=st.sampled_from([3.0, 20.0, 300.0]),
    radius=st.sampled_from([0.1, 0.5, 1.0, 2.5]),
    jitter=st.floats(0.01, 2.0),
)
def test_same_pairs_as_the_kdtree(seed, ra0, dec0, n_a, n_b, half_width, radius, jitter):
    rng = np.random.default_rng(seed)
    ra_a, dec_a = _field(rng, ra0, dec0, n_a, half_width)
    # b: most of a moved by `jitter` arcsec (crowded fields give competing
    # candidates), plus unrelated sources.
    shared = rng.permutation(n_a)[: min(n_a, n_b)]
    xa = unit_vectors(ra_a[shared], dec_a[shared])
    xb = xa + rng.normal(0.0, np.radians(jitter / 3600.0), xa.shape)
    xb /= np.linalg.norm(xb, axis=1)[:, None]
    ra_s, dec_s = np.degrees(np.arctan2(xb[:, 1], xb[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(xb[:, 2], -1, 1)))
    ra_u, dec_u = _field(rng, ra0, dec0, n_b - shared.size, half_width)
    ra_b, dec_b = np.r_[ra_s, ra_u], np.r_[dec_s, dec_u]
    order = rng.permutation(ra_b.size)
    ra_b, dec_b = ra_b[order], dec_b[order]

    ia, ib, sep = match_mutual(build_tree(ra_a, dec_a), build_tree(ra_b, dec_b), radius)
    ra_, rb_, rsep = _reference(ra_a, dec_a, ra_b, dec_b, radius)
    np.testing.assert_array_equal(ia, ra_)
    np.testing.assert_array_equal(ib, rb_)
    np.testing.assert_allclose(sep, rsep, rtol=1e-9, atol=1e-9)
    assert ia.dtype.kind == "i" and ib.dtype.kind == "i"


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), radius=st.sampled_from([0.5, 5.0, 60.0]))
def test_every_close_pair_is_found_even_across_the_whole_sky(seed, n, radius):
    """pairs_within against brute force, points anywhere on the sphere."""
    rng = np.random.default_rng(seed)
    xa = rng.normal(size=(n, 3))
    xa /= np.linalg.norm(xa, axis=1)[:, None]
    xb = np.r_[xa + rng.normal(0.0, np.radians(radius / 3600.0), xa.shape), rng.normal(size=(n, 3))]
    xb /= np.linalg.norm(xb, axis=1)[:, None]
    def to_sky(x):
        return (np.degrees(np.arctan2(x[:, 1], x[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(x[:, 2], -1, 1))))
    a, b = build_tree(*to_sky(xa)), build_tree(*to_sky(xb))
    chord = chord_length(radius)
    rows_a, rows_b, distance = pairs_within(a, b, chord)
    brute = np.linalg.norm(a.data[:, None, :] - b.data[None, :, :], axis=2)
    expected = set(zip(*np.nonzero(brute < chord)))
    assert set(zip(rows_a.tolist(), rows_b.tolist())) == {(int(i), int(j)) for i, j in expected}
    np.testing.assert_allclose(distance, brute[rows_a, rows_b], rtol=1e-12)


def test_observation_scale_identical_to_the_kdtree():
    """A dithered full-density field: every pair of exposures, identical matches."""
    from relphot_core.factors import select_sources
    from relphot_core.simulate import simulate_observation

    sim = simulate_observation(7, "NIR_H", sources_per_detector=800, seed=5, ra=0.05, dec=-1.0)
    catalogs = sim.to_catalogs()
    positions = []
    for c in catalogs:
        keep = select_sources(c)
        positions.append((c.ra[keep], c.dec[keep]))
    trees = [build_tree(*p) for p in positions]
    for i in range(len(catalogs)):
        for j in range(i + 1, len(catalogs)):
            ia, ib, _ = match_mutual(trees[i], trees[j], 0.5)
            ra_, rb_, _ = _reference(*positions[i], *positions[j], 0.5)
            assert ia.size > 1000
            np.testing.assert_array_equal(ia, ra_)
            np.testing.assert_array_equal(ib, rb_)
