"""Sigma clipping and the error of the median, against astropy and Monte Carlo."""
import math

import numpy as np
import pytest
from astropy.stats import mad_std, sigma_clipped_stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from relphot_core.stats import clipped_median, clipped_medians_by_group, mad_sigma, median_error


@pytest.mark.parametrize("seed", range(10))
def test_median_matches_astropy_sigma_clipped_stats(seed):
    rng = np.random.default_rng(seed)
    x = np.r_[rng.standard_t(3, 3000) * 0.03, rng.normal(0.4, 0.1, 150), [np.nan, np.inf]]
    ours = clipped_median(x, sigma=3.0, max_iters=20)
    _, median, _ = sigma_clipped_stats(x, sigma=3.0, maxiters=20, cenfunc="median", stdfunc="mad_std")
    assert ours.median == pytest.approx(median, abs=1e-6)
    assert ours.sigma == pytest.approx(mad_std(x[ours.kept]), rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 400), elements=st.floats(-5, 5)))
def test_median_matches_astropy_on_any_sample(x):
    ours = clipped_median(x, sigma=3.0, max_iters=20)
    _, median, _ = sigma_clipped_stats(x, sigma=3.0, maxiters=20, cenfunc="median", stdfunc="mad_std")
    assert ours.median == pytest.approx(median, abs=1e-6)
    assert ours.n_kept + ours.n_rejected == x.size
    assert ours.kept.sum() == ours.n_kept


def test_empty_and_nan_only_give_nan_not_an_exception():
    for sample in (np.array([]), np.array([np.nan, np.nan])):
        stats = clipped_median(sample)
        assert math.isnan(stats.median) and math.isnan(stats.error)
        assert stats.n_kept == 0


def test_outliers_are_rejected_and_limits_bracket_the_kept():
    rng = np.random.default_rng(1)
    x = np.r_[rng.normal(0, 0.01, 500), np.full(20, 0.3)]
    stats = clipped_median(x)
    assert not stats.kept[-20:].any()  # every outlier out
    assert stats.kept[:500].sum() >= 490  # few of the Gaussian core clipped
    assert np.all(x[stats.kept] >= stats.low) and np.all(x[stats.kept] <= stats.high)


@pytest.mark.parametrize("n", [10, 50, 300])
def test_median_error_is_calibrated_for_mixed_noise(n):
    """Sources of very different S/N together: the pulls have unit width."""
    rng = np.random.default_rng(n)
    pulls = []
    for _ in range(1500):
        x = rng.normal(0.0, 10 ** rng.uniform(-2.5, -0.8, n))
        pulls.append(np.median(x) / median_error(x))
    assert 0.85 < np.std(pulls) < 1.2


def test_mad_sigma_of_a_normal_sample():
    assert mad_sigma(np.random.default_rng(2).normal(0, 2.0, 100_000)) == pytest.approx(2.0, rel=0.02)


def test_grouped_clipping_equals_one_clip_per_group():
    rng = np.random.default_rng(3)
    values, groups = rng.standard_t(2, size=900), rng.integers(0, 7, 900)
    grouped = clipped_medians_by_group(values, groups)
    assert sorted(grouped) == sorted(set(groups.tolist()))
    for label, stats in grouped.items():
        single = clipped_median(values[groups == label])
        assert stats.median == single.median and stats.error == single.error
        assert np.array_equal(stats.kept, single.kept)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60))
def test_median_abs_deviation_is_numpys(values):
    from relphot_core.stats import _median_abs_deviation

    run = np.sort(np.asarray(values))
    centre = float(np.median(run))
    assert _median_abs_deviation(run, centre) == float(np.median(np.abs(run - centre)))


def test_median_variance_is_exact_and_continuous():
    import math

    from relphot_core.stats import MEDIAN_VARIANCE_SMALL, _median_variance_exact, median_variance_factor

    for n, value in enumerate(MEDIAN_VARIANCE_SMALL, start=1):
        assert _median_variance_exact(n) == pytest.approx(value, abs=2e-6)
    assert median_variance_factor(2) == 0.5 and median_variance_factor(3) == pytest.approx(0.4487, abs=1e-4)
    values = [median_variance_factor(n) for n in range(1, 260)]
    # odd and even n each decrease smoothly, with no jump at the hand-overs (12 -> 13, 200 -> 201)
    for parity in (0, 1):
        series = np.array(values[parity::2])
        assert np.all(np.diff(series) < 0)
        # smooth in log: its curvature only decreases (a step at 12 -> 13 or 200 -> 201 would be a spike)
        curvature = np.abs(np.diff(np.log(series), 2))
        assert np.all(np.diff(curvature) < 1e-4)
    assert median_variance_factor(1001) == pytest.approx(math.pi / 2002, rel=0.01)
    rng = np.random.default_rng(0)
    draws = np.median(rng.normal(size=(200_000, 5)), axis=1)
    assert draws.var() == pytest.approx(median_variance_factor(5), rel=0.01)
