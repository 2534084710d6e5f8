"""Statuses from thresholds, and the drift control chart."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from relphot_core.config import Thresholds
from relphot_core.flags import control_chart, exposure_status, flag_reason


@pytest.mark.parametrize("value, error, status", [
    (1.0, 0.001, "OK"),
    (0.984, 0.0001, "FAIL"),       # beyond 1.5 %
    (1.016, 0.05, "FAIL"),         # FAIL whatever the error
    (1.007, 0.001, "WARN"),        # beyond 0.5 % and 7 sigma
    (1.007, 0.004, "OK"),          # beyond 0.5 % but under 3 sigma
    (1.004, 0.0001, "OK"),         # significant but inside 0.5 %
    (np.nan, np.nan, "NODATA"),
])
def test_status_rules(value, error, status):
    assert exposure_status([value], [error]).tolist() == [status]


def test_thresholds_are_configuration():
    loose = Thresholds(fail=0.05, warn=0.02)
    assert exposure_status([0.97], [0.001], loose).tolist() == ["WARN"]


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


def test_flag_reason_says_why_an_exposure_is_flagged():
    from relphot_core.config import Thresholds

    bands = Thresholds(warn=0.005, fail=0.015)
    assert flag_reason("FAIL", 0.9742, 0.0006, bands) == "|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)"
    assert flag_reason("WARN", 1.008, None, bands) == "|QPRELEX − 1| = 0.0080 > WARN limit 0.005"
    assert flag_reason("OK", 1.001, 0.001, bands) == flag_reason("FAIL", 0.97, 0.001, None) == ""
    assert flag_reason("NODATA", None, None, bands) == ""
    assert flag_reason("FAIL", 1.01, 0.001, bands) == ""  # a run with other thresholds: no wrong claim
    assert flag_reason("FAIL", float("nan"), 0.001, bands) == ""
    assert flag_reason("FAIL", 0.98, -0.001, bands).endswith("(20 σ)")
