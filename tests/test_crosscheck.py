"""The cross-checks of a set's factors: the global solution beside the
median of pair medians, collateral flags, detector flags."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relphot_core.config import Config
from relphot_core.crosscheck import annotate, collateral_reasons, crosscheck_reasons
from relphot_core.factors import compute_observation
from relphot_core.simulate import simulate_observation


def _mag(fraction: float) -> float:
    """Offset in mag of an exposure reading ``fraction`` of the true flux."""
    return -2.5 * math.log10(fraction)


@pytest.fixture(scope="module")
def three_exposures_one_bright():
    sim = simulate_observation(1, "NIR_J", n_exposures=3, sources_per_detector=1200, seed=3,
                               exposure_offsets={2: _mag(1.025)})
    return annotate(compute_observation(sim.to_catalogs()))


def test_k3_one_bad_exposure_the_good_ones_read_collateral(three_exposures_one_bright):
    result = three_exposures_one_bright
    good, bad = [result.exposure(1), result.exposure(3)], result.exposure(2)
    assert bad.status == "FAIL" and not bad.collateral and not bad.crosscheck
    assert bad.global_value == pytest.approx(1.025, abs=0.002)
    for item in good:
        # the seed's median of two pair medians is their mean: half the offset leaks
        assert item.value == pytest.approx(1 - 0.0125, abs=0.002) and item.status == "WARN"
        assert item.global_value == pytest.approx(1.0, abs=0.001)
        assert item.crosscheck.startswith(f"QPRELEX {item.value:.4f} ≠ global solution ")
        assert item.collateral.startswith("collateral: every partner is flagged")
        assert item.collateral.endswith("puts the offset on dither 2")


def test_k4_one_bad_exposure_nothing_collateral():
    sim = simulate_observation(2, "NIR_H", sources_per_detector=800, seed=5, exposure_offsets={4: _mag(0.97)})
    result = annotate(compute_observation(sim.to_catalogs()))
    assert [e.status for e in result.exposures] == ["OK", "OK", "OK", "FAIL"]
    assert all(not e.crosscheck and not e.collateral for e in result.exposures)
    assert all(abs(e.global_value - e.value) < 0.002 for e in result.exposures)


def test_bad_detector_flags_its_exposure_not_the_others():
    sim = simulate_observation(1004, "NIR_J", sources_per_detector=2500, seed=8,
                               detector_offsets={(1, 23): _mag(1 / 1.046)})
    result = annotate(compute_observation(sim.to_catalogs()))
    flagged = result.exposure(1)
    assert flagged.status == "OK" and flagged.detector_flag == "FAIL"
    assert flagged.detector_reason.startswith("1 of 16 detectors flagged (1 FAIL); worst detector 23: +4")
    assert all(e.detector_flag == "OK" and not e.detector_reason for e in result.exposures[1:])
    statuses = {(d.exposure, d.detector): d.status for d in result.detectors}
    assert statuses.pop((1, 23)) == "FAIL" and set(statuses.values()) == {"OK"}


def test_a_bad_exposure_does_not_flag_its_detectors():
    sim = simulate_observation(5, "NIR_Y", sources_per_detector=800, seed=9, exposure_offsets={3: _mag(0.95)})
    result = annotate(compute_observation(sim.to_catalogs()))
    assert result.exposure(3).status == "FAIL" and result.exposure(3).detector_flag == "OK"


def test_two_against_two_cannot_be_told_apart():
    pair_median = {(1, 2): 0.0, (3, 4): 0.0, (1, 3): -0.009, (1, 4): -0.009, (2, 3): -0.009, (2, 4): -0.009}
    pair_error = {key: 0.0005 for key in pair_median}
    statuses = {d: "WARN" for d in (1, 2, 3, 4)}
    reasons = collateral_reasons([1, 2, 3, 4], statuses, pair_median, pair_error, {d: "OK" for d in statuses})
    assert set(reasons) == {1, 2, 3, 4}
    assert all(text.endswith("the global solution flags none: the offsets cannot tell which exposures are off")
               for text in reasons.values())


@settings(max_examples=60, deadline=None)
@given(k=st.integers(4, 6), bad=st.floats(0.02, 0.06), sign=st.sampled_from([-1, 1]), seed=st.integers(0, 10**6))
def test_one_bad_exposure_among_four_or_more_leaves_no_crosscheck_on_the_good(k, bad, sign, seed):
    rng = np.random.default_rng(seed)
    truth = np.zeros(k)
    truth[0] = sign * bad
    pair_median, pair_error = {}, {}
    for a in range(1, k + 1):
        for b in range(a + 1, k + 1):
            pair_median[(a, b)] = truth[a - 1] - truth[b - 1] + rng.normal(0, 0.0005)
            pair_error[(a, b)] = 0.0005
    from relphot_core.solve import exposure_offsets_global, exposure_offsets_median

    dithers = list(range(1, k + 1))
    offset, error, _ = exposure_offsets_median(dithers, pair_median, pair_error)
    g_offset, g_error, _ = exposure_offsets_global(dithers, pair_median, pair_error)
    level = float(np.median(list(g_offset.values())))
    g_offset = {d: v - level for d, v in g_offset.items()}
    reasons = crosscheck_reasons(dithers, offset, error, g_offset, g_error)
    assert not set(reasons) - {1}


def test_crosscheck_thresholds_are_configuration():
    config = Config().replace(crosscheck={"min_difference": 0.05})
    sim = simulate_observation(1, "NIR_J", n_exposures=3, sources_per_detector=600, seed=3,
                               exposure_offsets={2: _mag(1.025)})
    result = annotate(compute_observation(sim.to_catalogs()), config)
    assert all(not e.crosscheck for e in result.exposures)
    from relphot_core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"crosscheck\.nsigma"):
        Config().replace(crosscheck={"nsigma": 0}).validate()
