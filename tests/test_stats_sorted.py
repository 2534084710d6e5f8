"""The sorted-run helpers of relphot_core.stats equal the plain computations bit for bit."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from relphot_core import stats
from relphot_core.stats import clip_sorted, clipped_median, clipped_median_order


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=80), st.floats(-2e3, 2e3),
       st.booleans())
def test_mad_by_binary_search_is_numpys(values, centre, at_median):
    run = np.sort(np.asarray(values))
    if at_median:
        centre = float(np.median(run))
    expected = float(np.median(np.abs(run - centre)))
    old = stats._SELECT_BY_SEARCH
    try:
        stats._SELECT_BY_SEARCH = 0  # force the search on short runs
        assert stats._median_abs_deviation(run, centre) == expected
    finally:
        stats._SELECT_BY_SEARCH = old


def test_mad_of_long_runs_with_ties():
    rng = np.random.default_rng(8)
    for n in (801, 802, 5000, 5001):
        for values in (rng.normal(size=n), np.round(rng.normal(size=n), 1), rng.standard_t(1, n)):
            run = np.sort(values)
            centre = float(np.median(run))
            assert stats._median_abs_deviation(run, centre) == float(np.median(np.abs(run - centre)))


def test_clip_helpers_agree_with_clipped_median():
    rng = np.random.default_rng(9)
    values = np.r_[rng.standard_t(3, 3000) * 0.02, np.nan, 5.0]
    reference = clipped_median(values)
    with_order, order = clipped_median_order(values)
    finite = np.flatnonzero(np.isfinite(values))
    assert np.array_equal(order, finite[np.argsort(values[finite], kind="stable")])
    ordered = values[order]
    sorted_stats, start, stop = clip_sorted(ordered)
    for s in (with_order, sorted_stats):
        assert (s.median, s.error, s.sigma, s.n_kept, s.low, s.high) == (
            reference.median, reference.error, reference.sigma, reference.n_kept, reference.low, reference.high)
    assert np.array_equal(with_order.kept, reference.kept)
    assert np.array_equal(ordered[sorted_stats.kept], np.sort(values[reference.kept]))
    assert stop - start == reference.n_kept
