"""Control charts per dither position (relphot_core.qc): named alarms and
known false-alarm behaviour."""
from __future__ import annotations

import re

import numpy as np
import pytest

from relphot_core.config import Control
from relphot_core.mjd import mjd_to_day
from relphot_core.qc import dither_alarms, pull_width


def _season(n_obs: int, seed: int, error: float = 0.0005):
    rng = np.random.default_rng(seed)
    obs = np.repeat(np.arange(1000, 1000 + n_obs), 4)
    dither = np.tile([1, 2, 3, 4], n_obs)
    mjd = 60700.0 + np.repeat(np.arange(n_obs) / 10.0, 4) + dither * 0.002
    value = 1.0 + rng.normal(0.0, error, obs.size)
    return obs, dither, mjd, value, np.full(obs.size, error)


def test_noise_raises_no_alarm_over_many_seeds():
    alarms = 0
    for seed in range(20):
        found = dither_alarms(*_season(500, seed))
        alarms += int((found.alarm != "").sum())
    assert alarms / (20 * 2000) <= 3e-4  # ~1e-4 expected per point


def test_a_step_in_one_dither_is_a_drift_of_that_dither_named_with_its_start():
    obs, dither, mjd, value, error = _season(600, 1)
    step = (dither == 2) & (obs >= 1450)
    value[step] -= 0.005
    found = dither_alarms(obs, dither, mjd, value, error)
    hit = np.flatnonzero(found.alarm == "drift")
    assert set(dither[hit]) == {2}
    assert obs[hit].min() - 1450 <= 10
    reason = found.reason[hit[0]]
    assert reason.startswith("drift of dither 2 since ") and "(obs 1450)" in reason
    assert re.search(r"now -0\.(4[6-9]|5[0-4]) ± 0\.0\d %", reason)  # the 0.5 % step, within its error
    assert abs(found.drift_since[hit[0]] - mjd[(dither == 2) & (obs == 1450)][0]) < 3


def test_a_single_bad_exposure_is_outside_control_limits_not_a_drift():
    obs, dither, mjd, value, error = _season(300, 2)
    value[(obs == 1100) & (dither == 3)] = 0.97
    found = dither_alarms(obs, dither, mjd, value, error)
    hit = np.flatnonzero(found.alarm != "")
    assert [(int(obs[i]), int(dither[i]), found.alarm[i]) for i in hit] == [(1100, 3, "outside control limits")]
    assert found.reason[hit[0]].startswith("outside control limits: QPRELEX 0.9700 is -")


def test_nodata_short_series_and_gaps():
    obs, dither, mjd, value, error = _season(5, 3)
    value[2] = np.nan
    found = dither_alarms(obs, dither, mjd, value, error)
    assert (found.alarm == "").all() and len(found.reason) == 20
    empty = dither_alarms([], [], [], [], [])
    assert empty.alarm.size == 0
    assert mjd_to_day(60700.0) == "2025-01-25" and mjd_to_day(float("nan")) == ""


def test_pull_width_ignores_what_comes_after_the_reference_windows():
    values = np.r_[1 + np.random.default_rng(0).normal(0, 0.001, 400), np.full(400, 1.02)]
    errors = np.full(800, 0.001)
    groups = np.zeros(800, dtype=int)
    assert pull_width(values, errors, groups, 400) == pytest.approx(1.0, abs=0.15)
    assert pull_width(values, errors) > 5


def test_control_parameters_are_used():
    obs, dither, mjd, value, error = _season(600, 1)
    value[(dither == 2) & (obs >= 1450)] -= 0.002
    strict = dither_alarms(obs, dither, mjd, value, error, Control(cusum_h=4.0))
    loose = dither_alarms(obs, dither, mjd, value, error, Control(cusum_h=1e5))
    assert (strict.alarm == "drift").sum() > 0 and (loose.alarm == "drift").sum() == 0
