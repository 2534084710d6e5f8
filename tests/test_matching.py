"""One-to-one sky matching, including RA = 0/360 and the poles."""
import numpy as np
import pytest
from scipy.spatial import cKDTree
from astropy.coordinates import SkyCoord
import astropy.units as u

from relphot_core.matching import build_tree, match_mutual


def _offset(ra, dec, dx_arcsec, dy_arcsec):
    c = SkyCoord(ra * u.deg, dec * u.deg)
    moved = c.spherical_offsets_by(dx_arcsec * u.arcsec, dy_arcsec * u.arcsec)
    return moved.ra.deg, moved.dec.deg


@pytest.mark.parametrize("ra0, dec0", [(150.0, 2.0), (0.0, 0.0), (359.99, -30.0), (45.0, 89.9), (200.0, -89.95)])
def test_recovers_every_shifted_source_anywhere_on_the_sky(ra0, dec0):
    rng = np.random.default_rng(0)
    n = 2000
    # Sources spread over ~0.1 deg around (ra0, dec0), at least 2" apart.
    c = SkyCoord(ra0 * u.deg, dec0 * u.deg).spherical_offsets_by(
        rng.uniform(-300, 300, n) * u.arcsec, rng.uniform(-300, 300, n) * u.arcsec)
    ra, dec = c.ra.deg, c.dec.deg
    ra_b, dec_b = _offset(ra, dec, rng.normal(0, 0.08, n), rng.normal(0, 0.08, n))
    perm = rng.permutation(n)
    ia, ib, sep = match_mutual(build_tree(ra, dec), build_tree(ra_b[perm], dec_b[perm]), 0.5)
    close = np.ones(n, bool)  # pairs closer than 1" may swap; count only isolated ones
    tree = cKDTree(build_tree(ra, dec).data)
    d, _ = tree.query(tree.data, k=2)
    close = d[:, 1] > np.radians(1.5 / 3600)
    matched = dict(zip(ia.tolist(), perm[ib].tolist()))
    assert all(matched.get(i) == i for i in np.flatnonzero(close))
    assert np.all(sep <= 0.5)


def test_one_to_one_when_two_sources_compete():
    a = build_tree(np.array([10.0, 10.0 + 0.2 / 3600]), np.array([0.0, 0.0]))
    b = build_tree(np.array([10.0 + 0.05 / 3600]), np.array([0.0]))
    ia, ib, _ = match_mutual(a, b, 0.5)
    assert ia.tolist() == [0] and ib.tolist() == [0]


def test_nothing_beyond_the_radius_and_empty_lists():
    a = build_tree(np.array([10.0]), np.array([0.0]))
    b = build_tree(np.array([10.0 + 0.6 / 3600]), np.array([0.0]))
    assert match_mutual(a, b, 0.5)[0].size == 0
    empty = build_tree(np.array([]), np.array([]))
    assert match_mutual(a, empty, 0.5)[0].size == 0
