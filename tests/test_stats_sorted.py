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
    assert np.array_equal(np.sort(order), finite) and np.all(np.diff(values[order]) >= 0)
    ordered = values[order]
    sorted_stats, start, stop = clip_sorted(ordered)
    for s in (with_order, sorted_stats):
        assert (s.median, s.error, s.sigma, s.n_kept, s.low, s.high) == (
            reference.median, reference.error, reference.sigma, reference.n_kept, reference.low, reference.high)
    assert np.array_equal(with_order.kept, reference.kept)
    assert np.array_equal(ordered[sorted_stats.kept], np.sort(values[reference.kept]))
    assert stop - start == reference.n_kept


def _segments(rng):
    parts, bounds, start = [], [], 0
    for size in [0, 1, 2, 3, 5, 29, 30, 31, 64, 799, 800, 801, 2400, 5001] + rng.integers(0, 300, 40).tolist():
        kind = rng.integers(0, 4)
        x = (rng.standard_t(2, size) * 0.02 if kind == 0 else np.round(rng.normal(0, 1, size), 1) if kind == 1
             else np.r_[rng.normal(0, 0.01, size - size // 5), rng.uniform(-1, 1, size // 5)] if kind == 2
             else np.full(size, 0.25))
        parts.append(np.sort(x))
        bounds.append((start, start + size))
        start += size
    return np.concatenate(parts), np.array(bounds)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1.5, 2.0, 3.0, 5.0]), st.sampled_from([None, 1, 2, 5, 20]))
def test_segments_clip_like_one_call_each(seed, sigma, max_iters):
    rng = np.random.default_rng(seed)
    values, bounds = _segments(rng)
    order = rng.permutation(len(bounds))  # segments in any order
    got = stats.clip_sorted_segments(values, bounds[order, 0], bounds[order, 1], sigma=sigma, max_iters=max_iters)
    for (first, end), result in zip(bounds[order], got):
        expected, _, _ = clip_sorted(values[first:end], sigma=sigma, max_iters=max_iters)
        for name in ("median", "error", "sigma", "n_kept", "n_rejected", "low", "high"):
            a, b = getattr(result, name), getattr(expected, name)
            assert a == b or (a != a and b != b), (name, end - first, a, b)
        assert np.array_equal(result.kept, expected.kept)
