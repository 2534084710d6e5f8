"""Detector statuses from thresholds, and the drift control chart (the
exposure status rules are tested in test_status.py)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from relphot_core.flags import control_chart


def test_control_chart_flags_a_jump_and_a_slow_drift():
    rng = np.random.default_rng(0)
    steady = 1 + rng.normal(0, 0.001, 200)
    jump = steady.copy()
    jump[150] = 0.99
    chart = control_chart(jump)
    assert chart.outlier[150] and chart.outlier.sum() <= 3
    assert not chart.drift.any()
    drifting = steady - np.linspace(0, 0.02, 200)  # 2 % over the series
    chart = control_chart(drifting)
    assert chart.drift[-1] and not chart.drift[:60].any()


def test_control_chart_compares_with_previous_points_only_and_skips_nan():
    values = np.r_[np.ones(30), np.nan, np.ones(5)]
    chart = control_chart(values, window=10, min_points=5)
    assert np.isnan(chart.center[:5]).all()
    assert not chart.outlier.any()
    assert chart.center[-1] == 1.0


@given(arrays(np.float64, st.tuples(st.integers(1, 30), st.integers(1, 12)),
              elements=st.one_of(st.floats(-10, 10), st.just(np.nan))))
def test_row_nanmedian_is_numpys(rows):
    from relphot_core.flags import _row_nanmedian

    n_finite = np.isfinite(rows).sum(axis=1)
    rows = rows[n_finite > 0]
    if rows.size:
        expected = np.nanmedian(rows, axis=1)
        np.testing.assert_allclose(_row_nanmedian(rows, n_finite[n_finite > 0]), expected, rtol=0, atol=1e-12)


from relphot_core.config import Detectors  # noqa: E402
from relphot_core.flags import detector_reason, detector_status, exposure_detector_flag  # noqa: E402

TWO_PERCENT = 2.5 * np.log10(1 / 0.98)  # +21.9 mmag: 2 % fainter


@pytest.mark.parametrize("offset, error, n, status", [
    (TWO_PERCENT, 0.002, 300, "FAIL"),     # 2 % at 11 sigma
    (TWO_PERCENT, 0.030, 12, "OK"),        # 2 % but a few sources: under 1 sigma, not flagged by noise
    (-TWO_PERCENT, 0.002, 300, "FAIL"),    # brighter as well
    (0.008, 0.001, 300, "WARN"),           # 0.7 % at 8 sigma
    (0.008, 0.002, 300, "OK"),             # 0.7 % at 4 sigma < 5
    (0.003, 0.0001, 300, "OK"),            # significant but inside 0.5 %
    (0.0162, 0.0001, 300, "WARN"),         # 16.2 mmag fainter is 1.48 %: not yet FAIL
    (0.0165, 0.0001, 300, "FAIL"),
    (np.nan, 0.002, 300, "NODATA"),
    (0.05, np.nan, 300, "NODATA"),         # error missing
    (0.05, 0.0, 300, "NODATA"),
    (0.05, 0.002, 9, "NODATA"),            # below min_sources
])
def test_detector_status_rules(offset, error, n, status):
    assert detector_status([offset], [error], [n]).tolist() == [status]


def test_detector_status_is_vectorised_and_configurable():
    offsets = np.full((4, 16), 0.03)
    assert detector_status(offsets, np.full((4, 16), 0.002), np.full((4, 16), 100)).shape == (4, 16)
    assert detector_status([], [], []).size == 0
    loose = Detectors(fail=0.05, warn=0.02, nsigma=3.0, min_sources=2)
    assert detector_status([0.03], [0.002], [3], loose).tolist() == ["WARN"]


def test_detector_reason_reads_the_signed_offset_in_mmag():
    assert detector_reason(23, "FAIL", 0.0498, 0.0021) == "detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag"
    assert detector_reason(12, "WARN", -0.008, 0.001) == "detector 12: -8.0 ± 1.0 mmag (8 σ) > WARN limit 5.4 mmag"
    assert detector_reason(12, "OK", 0.03, 0.001) == detector_reason(12, "FAIL", 0.03, 0.001, thresholds=None) == ""
    assert detector_reason(12, "FAIL", 0.01, 0.001) == ""  # other thresholds: no wrong claim
    assert detector_reason(44, "NODATA", None, None, n=3) == "detector 44: no offset (3 sources < 10)"


def test_exposure_detector_flag_names_the_worst_detector_and_counts():
    detectors = [11, 12, 23, 34, 44]
    flag = exposure_detector_flag(detectors, [0.001, 0.02, 0.0498, 0.007, np.nan],
                                  [0.002, 0.001, 0.0021, 0.001, np.nan], [300, 300, 280, 310, 0])
    assert (flag.kind, flag.worst, flag.n_fail, flag.n_warn, flag.n_nodata) == ("FAIL", 23, 2, 1, 1)
    assert flag.reason == ("3 of 5 detectors flagged (2 FAIL, 1 WARN); worst "
                           "detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag")
    ok = exposure_detector_flag(detectors[:2], [0.001, 0.002], [0.002, 0.002], [300, 300])
    assert (ok.kind, ok.reason, ok.worst) == ("OK", "", None)
    assert exposure_detector_flag([11], [np.nan], [np.nan], [0]).kind == "NODATA"
    warn = exposure_detector_flag([11, 12], [0.007, -0.009], [0.001, 0.001], [300, 300])
    assert warn.kind == "WARN" and warn.worst == 12 and "1 WARN" not in warn.reason and "2 WARN" in warn.reason
