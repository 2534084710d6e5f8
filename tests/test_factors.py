"""The factor method on in-memory exposure sets: recovery, errors, properties."""
import copy
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relphot_core.config import Config
from relphot_core.errors import GroupingError
from relphot_core.factors import compute_observation, select_sources
from synthetic import make_exposures

FAINT_3PC = -2.5 * math.log10(0.97)
GLOBAL = Config().replace(factors={"method": "global"})


def _values(result):
    return {e.exposure: e.value for e in result.exposures}


def test_one_faint_exposure_fails_and_the_others_stay_at_one():
    result = compute_observation(make_exposures(3000, 4, offsets_mag={2: FAINT_3PC}))
    values = _values(result)
    assert values[2] == pytest.approx(0.97, abs=0.002)
    assert result.exposure(2).status == "FAIL"
    # the reason travels with the factor (store, products, exports)
    assert result.exposure(2).reason.startswith("|QPRELEX − 1| = 0.03") and "> FAIL limit 0.015" in \
        result.exposure(2).reason
    for d in (1, 3, 4):
        assert values[d] == pytest.approx(1.0, abs=0.002)
        assert result.exposure(d).status == "OK" and result.exposure(d).reason == ""


def test_pooling_would_leak_but_median_of_pair_medians_does_not():
    """DESIGN 2.4: the good exposures must not absorb a share of the bad one."""
    result = compute_observation(make_exposures(3000, 4, offsets_mag={3: FAINT_3PC}))
    good = [e.value for e in result.exposures if e.exposure != 3]
    assert max(abs(v - 1) for v in good) < 0.001  # pooling would give about +0.9 %


# What the good exposures read follows from the median of their pair
# medians: with K = 2 each exposure carries the whole difference, with K = 3
# the median of two pair medians is their mean, from K = 4 on they stay at 1.
GOOD_WHEN_ONE_IS_3PC_FAINT = {2: 1 / 0.97, 3: 0.97 ** -0.5, 4: 1.0, 5: 1.0}


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_any_number_of_exposures(k):
    result = compute_observation(make_exposures(2000, k, offsets_mag={1: FAINT_3PC}))
    values = _values(result)
    assert values[1] == pytest.approx(0.97, abs=0.002)
    for d in range(2, k + 1):
        assert values[d] == pytest.approx(GOOD_WHEN_ONE_IS_3PC_FAINT[k], abs=0.002)
    assert len(result.pairs) == k * (k - 1) // 2


@pytest.mark.slow  # Monte Carlo
@pytest.mark.parametrize("method", ["median", "global"])
@pytest.mark.parametrize("k", [2, 4, 5])
def test_errors_are_calibrated_over_200_realisations(method, k):
    config = Config().replace(factors={"method": method})
    pulls = []
    for seed in range(200):
        result = compute_observation(make_exposures(250, k, seed=seed), config, keep_samples=False)
        pulls.extend((e.value - 1.0) / e.error for e in result.exposures[:2])
    assert 0.8 <= np.std(pulls) <= 1.25
    assert abs(np.mean(pulls)) < 0.25


def test_global_method_recovers_the_offset_up_to_the_sum_to_zero_convention():
    offsets = {2: FAINT_3PC}
    result = compute_observation(make_exposures(3000, 4, offsets_mag=offsets), GLOBAL)
    mags = {e.exposure: e.mag_offset for e in result.exposures}
    assert sum(mags.values()) == pytest.approx(0.0, abs=1e-9)
    truth = np.array([offsets.get(d, 0.0) for d in range(1, 5)])
    truth -= truth.mean()
    assert np.allclose([mags[d] for d in range(1, 5)], truth, atol=0.001)
    ratio = result.exposure(2).value / result.exposure(1).value
    assert ratio == pytest.approx(0.97, abs=0.002)


def test_pair_statistics_are_antisymmetric_and_counted():
    result = compute_observation(make_exposures(1000, 3, offsets_mag={3: 0.05}))
    pair = next(p for p in result.pairs if (p.exposure_a, p.exposure_b) == (1, 3))
    assert pair.median == pytest.approx(-0.05, abs=0.003)
    assert pair.n_kept + pair.n_rejected == pair.n_matched
    assert pair.clip_low < pair.median < pair.clip_high
    assert len(result.pairs) == 3


def test_bad_detector_shows_in_detector_statistics_without_failing_the_exposure():
    exposures = make_exposures(8000, 4, seed=4)
    bad = exposures[2]
    on_det = bad.detector == 23
    bad.flux[on_det] *= 0.95
    result = compute_observation(exposures)
    assert result.exposure(3).status in ("OK", "WARN") and result.exposure(3).status != "FAIL"
    stat = next(d for d in result.detectors if (d.exposure, d.detector) == (3, 23))
    assert stat.median == pytest.approx(-2.5 * math.log10(0.95), abs=0.005)
    others = [d.median for d in result.detectors if (d.exposure, d.detector) != (3, 23)]
    assert max(abs(m) for m in others) < 0.01


def test_too_few_matches_gives_nodata_with_a_reason_never_a_value():
    exposures = make_exposures(300, 3)
    far = exposures[2]
    far.ra = (far.ra + 5.0) % 360  # no overlap with the others
    result = compute_observation(exposures)
    lonely = result.exposure(3)
    assert lonely.status == "NODATA" and lonely.value is None and lonely.error is None
    assert "no pair with at least 20 matched sources" in lonely.reason
    assert result.exposure(1).status == "OK"


def test_exposure_with_no_usable_source_is_kept_as_nodata():
    exposures = make_exposures(300, 3)
    exposures[0].flux[:] = np.nan
    result = compute_observation(exposures)
    assert [e.exposure for e in result.exposures] == [1, 2, 3]
    assert result.exposure(1).status == "NODATA"
    assert "no reliable source" in result.exposure(1).reason


def test_selection_drops_bad_sources():
    exposure = make_exposures(10, 2)[0]
    exposure.flux[0], exposure.flux[1], exposure.flux_err[2] = -1.0, 0.0, np.nan
    exposure.flags[3] = 4
    exposure.flux_err[4] = exposure.flux[4]  # S/N = 1
    mask = select_sources(exposure)
    assert not mask[:5].any() and mask[5:].all()


def test_mixed_observations_and_repeated_dithers_are_refused():
    a = make_exposures(50, 2, obs_id=1)
    b = make_exposures(50, 2, obs_id=2)
    with pytest.raises(GroupingError, match=r"is observation 2 NIR_J, but .* is observation 1 NIR_J"):
        compute_observation([a[0], b[1]])
    with pytest.raises(GroupingError, match="claims dither 1, already given by"):
        compute_observation([a[0], a[0]])


# --- properties -----------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(scale=st.floats(0.01, 100.0), seed=st.integers(0, 1000))
def test_scaling_every_exposure_leaves_the_factors_unchanged(scale, seed):
    exposures = make_exposures(300, 4, seed=seed)
    before = _values(compute_observation(exposures, keep_samples=False))
    for e in exposures:
        e.flux = e.flux * scale
        e.flux_err = e.flux_err * scale
    after = _values(compute_observation(exposures, keep_samples=False))
    for d in before:
        assert after[d] == pytest.approx(before[d], rel=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 1000), order=st.permutations([0, 1, 2, 3]))
def test_input_order_changes_nothing(seed, order):
    exposures = make_exposures(300, 4, seed=seed)
    first = compute_observation(exposures, keep_samples=False)
    second = compute_observation([exposures[i] for i in order], keep_samples=False)
    assert _values(first) == _values(second)
    assert [e.status for e in first.exposures] == [e.status for e in second.exposures]


@settings(max_examples=15, deadline=None)
@given(s=st.floats(0.8, 1.25), seed=st.integers(0, 1000), which=st.integers(1, 4))
def test_scaling_one_exposure_multiplies_its_factor(s, seed, which):
    exposures = make_exposures(400, 4, seed=seed)
    before = _values(compute_observation(exposures, keep_samples=False))
    scaled = copy.deepcopy(exposures)
    scaled[which - 1].flux = scaled[which - 1].flux * s
    scaled[which - 1].flux_err = scaled[which - 1].flux_err * s
    after = _values(compute_observation(scaled, keep_samples=False))
    assert after[which] == pytest.approx(before[which] * s, rel=1e-9)
