"""Control charts with a known false-alarm rate (relphot_core.control)."""
import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from relphot_core.config import Config
from relphot_core.control import (
    ALARM_DRIFT,
    ALARM_OUTSIDE_LIMITS,
    DRIFT,
    OUTSIDE_LIMITS,
    control_rules,
    cusum_arl0_siegmund,
    detection_delay,
    false_alarm_rate,
)


@pytest.mark.parametrize("errors", [False, True])
def test_false_alarm_rates_on_gaussian_noise_are_below_one_in_ten_thousand(errors):
    rates = [false_alarm_rate(200, 5000, seed=seed, errors=errors) for seed in (11, 12)]
    outside = np.mean([r["outside"] for r in rates])
    drift = np.mean([r["drift"] for r in rates])
    assert 2e-6 < outside <= 3e-5  # nominal 2 Phi(-4.5) = 6.8e-6, more with estimated parameters
    assert drift <= 1e-4


def test_siegmund_matches_the_published_cusum_table():
    assert cusum_arl0_siegmund(0.5, 5.0, two_sided=False) == pytest.approx(930, rel=0.02)  # Montgomery table
    assert cusum_arl0_siegmund(0.5, 9.0) > 10_000
    assert cusum_arl0_siegmund(0.5, 9.0, shift=3.0, two_sided=False) < 5


def test_a_half_percent_step_is_caught_within_ten_observations_with_its_start():
    rng = np.random.default_rng(3)
    n_before, n_after, n_series = 500, 60, 100
    n = n_before + n_after
    sigma = rng.uniform(0.001, 0.002, (n_series, n))  # 1-2 mmag ~ 0.1-0.2 %
    values = rng.normal(0, 1, (n_series, n)) * sigma - 0.005 * (np.arange(n) >= n_before)  # 0.5 % fainter
    result = control_rules(values.ravel(), sigma.ravel(), np.tile(np.arange(n, dtype=float), n_series),
                           np.repeat(np.arange(n_series), n))
    drifts = [a for a in result.alarms if a.kind == DRIFT]
    firsts = {a.group: a for a in drifts if a.first % n >= n_before}
    assert len(firsts) == n_series
    delays = np.array([a.first % n - n_before for a in firsts.values()])
    starts = np.array([a.start % n - n_before for a in firsts.values()])
    assert delays.max() < 10 and np.median(delays) <= 6
    # The last zero of the CUSUM: exact or a few points early (in-control noise just before).
    assert np.all((starts <= 2) & (starts >= -15)) and np.median(np.abs(starts)) <= 1
    assert np.percentile(np.abs(starts), 90) <= 6
    assert all(a.direction == -1 and -0.006 < a.magnitude < -0.004 for a in firsts.values())
    assert len(drifts) - len(firsts) <= 1  # false drifts before the step: ARL0 >> 50,000 points
    # Per point: the drift bit and its start, from the alarm on.
    alarm = next(iter(firsts.values()))
    assert result.alarm[alarm.first] & ALARM_DRIFT and result.drift_start[alarm.end] == alarm.start
    assert result.drift_start[alarm.start - 1] == -1


def test_a_ramp_of_a_tenth_of_a_percent_per_day_is_caught_before_it_reaches_one_and_a_half():
    delays = detection_delay(0.0, ramp=0.001, sigma=0.0015, n_series=100, seed=4)
    assert (delays >= 0).sum() >= 97  # the others had a false alarm in the 400 points before
    reached = 0.001 * (delays[delays >= 0] + 1)
    assert reached.max() < 0.015 and np.median(reached) < 0.010


def test_one_wild_point_is_outside_the_limits_and_never_a_drift():
    rng = np.random.default_rng(5)
    values = rng.normal(0, 0.001, 1000)
    values[700] = 0.05  # 50 sigma
    result = control_rules(values)
    assert [(a.kind, a.first, a.direction) for a in result.alarms] == [(OUTSIDE_LIMITS, 700, 1)]
    assert result.alarm[700] == ALARM_OUTSIDE_LIMITS
    assert result.statistic[700] <= 4.0 - 0.5 + 1e-9 + max(result.statistic[699], 0)


def test_points_outside_the_limits_inside_a_drift_belong_to_the_drift():
    rng = np.random.default_rng(6)
    values = rng.normal(0, 0.001, 800)
    values[500:] += 0.01  # 10 sigma: every point beyond the limits
    result = control_rules(values)
    assert [a.kind for a in result.alarms] == [DRIFT]
    assert result.alarms[0].start == 500 and result.alarms[0].end == 799
    assert np.all(result.alarm[505:] == ALARM_DRIFT | ALARM_OUTSIDE_LIMITS)  # 5 points of 2 sigma past h


def test_the_drift_alarm_ends_when_the_series_is_back():
    rng = np.random.default_rng(7)
    values = rng.normal(0, 0.001, 2000)
    values[500:1500] += 0.005
    result = control_rules(values, cusum_window=100)
    (drift,) = [a for a in result.alarms if a.kind == DRIFT]
    assert drift.start == 500 and 1497 <= drift.end <= 1502
    assert not result.alarm[1505:].any()


def test_without_the_return_test_the_drift_alarm_ends_within_the_memory():
    rng = np.random.default_rng(7)
    values = rng.normal(0, 0.001, 2000)
    values[500:1500] += 0.005
    result = control_rules(values, cusum_window=100, end_h=None)
    (drift,) = [a for a in result.alarms if a.kind == DRIFT]
    assert drift.start == 500 and 1500 <= drift.end < 1600


@pytest.mark.parametrize("shift_sigma, length", [(1.0, 60), (2.5, 20), (2.5, 200), (5.0, 8), (-2.5, 30)])
def test_a_step_that_ends_stops_alarming_within_ten_points(shift_sigma, length):
    """Steps of 1 to 5 sigma lasting 8 to 200 points, 50 series each: every
    alarm ends at most 10 points after the step, and the series is quiet after."""
    n_series, n = 50, 900
    rng = np.random.default_rng(11)
    values = rng.normal(0, 1.0, (n_series, n))
    values[:, 500:500 + length] += shift_sigma
    result = control_rules(values.ravel(), np.ones(values.size), groups=np.repeat(np.arange(n_series), n),
                           center=0.0, scale=1.0)
    late = [a for a in result.alarms if a.kind == DRIFT and a.end % n > 500 + length + 10]
    assert late == []
    caught = {a.first // n for a in result.alarms if a.kind == DRIFT and 500 <= a.first % n < 500 + length + 10}
    if abs(shift_sigma) >= 2.5 and length >= 20:
        assert len(caught) == n_series


def test_missing_points_are_skipped_never_counted_nor_flagged():
    rng = np.random.default_rng(8)
    values = rng.normal(0, 0.001, 900)
    values[600:] += 0.004
    holed = values.copy()
    holes = rng.choice(900, 150, replace=False)
    holed[holes] = np.nan
    errors = np.full(900, 0.001)
    errors[5] = np.nan  # a missing error makes the point missing
    full = control_rules(values[np.isfinite(holed)], cusum_window=10_000)
    result = control_rules(holed, errors, cusum_window=10_000)
    kept = np.isfinite(holed) & np.isfinite(errors)
    assert np.all(np.isnan(result.statistic[~kept])) and not np.any(result.alarm[~kept] & ALARM_OUTSIDE_LIMITS)
    # With an unbounded memory, skipping a point is removing it.
    unbounded = control_rules(holed[kept], errors[kept], cusum_window=10_000)
    np.testing.assert_allclose(result.statistic[kept], unbounded.statistic)
    first = next(a for a in result.alarms if a.kind == DRIFT)
    assert np.isfinite(holed[first.start]) and np.isfinite(holed[first.first])
    assert full.alarms and any(a.kind == DRIFT for a in full.alarms)


@pytest.mark.parametrize("values", [[], [1.0], [np.nan], [1.0, 1.2], [np.nan] * 100])
def test_short_or_empty_series_have_no_alarm(values):
    result = control_rules(values)
    assert result.alarms == [] and not result.alarm.any() and np.all(np.isnan(result.statistic))
    assert result.statistic.shape == (len(values),)


def test_a_constant_series_never_has_a_zero_scale():
    result = control_rules(np.r_[np.ones(500), 1.0002, np.ones(10)])
    assert np.all(result.scale == 1e-4)
    assert [a.first for a in result.alarms if a.kind == OUTSIDE_LIMITS] == []  # 2 sigma of the floor


def test_a_gap_restarts_the_cusum_and_is_reported():
    rng = np.random.default_rng(9)
    values = rng.normal(0, 0.001, 700)
    values[590:600] += 0.003  # evidence building up just before the gap
    times = np.arange(700, dtype=float)
    times[600:] += 60.0  # two months without data
    result = control_rules(values, times=times)
    assert np.flatnonzero(result.segment_start).tolist() == [0, 600]
    z = result.zscore[600]
    assert result.statistic[600] == pytest.approx(max(z - 0.5, 0) if z >= 0 else -max(-z - 0.5, 0), abs=1e-9)
    assert control_rules(values, times=times, max_gap_days=90).segment_start.sum() == 1


def test_a_known_center_is_used_instead_of_the_reference_median():
    rng = np.random.default_rng(10)
    values = rng.normal(0.004, 0.001, 600)  # a constant 0.4 % offset from the start
    assert not [a for a in control_rules(values).alarms if a.kind == DRIFT]
    drifts = [a for a in control_rules(values, center=0.0).alarms if a.kind == DRIFT]
    assert drifts and drifts[0].start == 0


def test_groups_are_independent_series_in_any_order():
    rng = np.random.default_rng(12)
    a = rng.normal(0, 0.001, 600)
    b = rng.normal(0, 0.002, 600)
    b[400:] -= 0.006
    labels = np.r_[np.zeros(600, int), np.ones(600, int)]
    order = np.argsort(np.tile(np.arange(600), 2), kind="stable")  # interleaved in time
    values = np.r_[a, b][order]
    result = control_rules(values, groups=np.array(["dither 1", "dither 4"])[labels[order]])
    alone_b = control_rules(b)
    np.testing.assert_allclose(result.statistic[labels[order] == 1], alone_b.statistic)
    (drift,) = [x for x in result.alarms if x.kind == DRIFT]
    assert drift.group == "dither 4" and order[drift.start] == 600 + alone_b.alarms[-1].start
    assert result.drift_start[result.alarm & ALARM_DRIFT > 0].tolist() == [drift.start] * int(
        (result.alarm & ALARM_DRIFT > 0).sum())


def _brute_force(y, window):
    """S_i = max(0, largest sum of y over the last 1..window points ending at i)."""
    out = np.zeros(len(y))
    for i in range(len(y)):
        best = 0.0
        for length in range(1, min(window, i + 1) + 1):
            best = max(best, y[i - length + 1:i + 1].sum())
        out[i] = best
    return out


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=1, max_size=60), st.integers(1, 80))
def test_the_vectorised_cusum_is_the_recursion(steps, window):
    from relphot_core.control import _cusum

    y = np.array(steps)
    statistic, _, _ = _cusum(y, np.zeros(y.size, dtype=np.int64), 1, window)
    np.testing.assert_allclose(statistic, _brute_force(y, window), atol=1e-9)
    if window >= y.size:  # the unbounded CUSUM
        recursion, s = [], 0.0
        for value in y:
            s = max(0.0, s + value)
            recursion.append(s)
        np.testing.assert_allclose(statistic, recursion, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-3, 3), st.integers(0, 3)), min_size=1, max_size=60), st.integers(1, 20))
def test_segments_never_leak_into_each_other(rows, window):
    from relphot_core.control import _cusum

    y = np.array([r[0] for r in rows])
    segment = np.cumsum(np.r_[0, np.diff(np.sort([r[1] for r in rows])) > 0])
    statistic, _, _ = _cusum(y, segment, int(segment[-1]) + 1, window)
    expected = np.concatenate([_brute_force(y[segment == g], window) for g in range(segment[-1] + 1)])
    np.testing.assert_allclose(statistic, expected, atol=1e-9)


def test_the_configuration_feeds_the_rules():
    config = Config().replace(control={"cusum_h": 20.0})
    rng = np.random.default_rng(13)
    values = rng.normal(0, 0.001, 600)
    values[594:] += 0.0035
    assert [a for a in control_rules(values).alarms if a.kind == DRIFT]
    assert not [a for a in control_rules(values, **dataclasses.asdict(config.control)).alarms if a.kind == DRIFT]


@pytest.mark.parametrize("keywords", [{"cusum_h": 0}, {"cusum_k": -1}, {"outlier_nsigma": 0}, {"cusum_window": 0},
                                      {"max_gap_days": -1}, {"min_sigma": 0}, {"reference_points": 1}])
def test_impossible_parameters_are_refused(keywords):
    with pytest.raises(ValueError):
        control_rules(np.zeros(10), **keywords)
    with pytest.raises(ValueError, match="errors"):
        control_rules(np.zeros(10), np.zeros(3))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3), st.integers(200, 1500), st.floats(0.0, 0.05),
       st.booleans())
def test_resuming_each_pass_at_its_restart_gives_the_plain_fixed_point(seed, n_series, length, gap_rate, missing):
    """The passes of the drift rule recompute each series only from its
    earliest new restart: the same statistics and drifts as recomputing the
    whole series at every pass, on series with many steps that start and end,
    outliers, gaps and missing points."""
    from relphot_core.control import _judge_drifts

    rng = np.random.default_rng(seed)
    series = np.repeat(np.arange(n_series), length)
    z = rng.normal(0.0, 1.0, series.size)
    for _ in range(rng.integers(1, 40)):  # steps of a few sigma over a few to a hundred points
        start = rng.integers(0, series.size)
        z[start:start + rng.integers(3, 100)] += rng.choice([-1, 1]) * rng.uniform(1.0, 6.0)
    z[rng.random(series.size) < 0.02] += 8.0
    usable = ~(rng.random(series.size) < (0.1 if missing else 0.0))
    boundary = np.r_[True, series[1:] != series[:-1]] | (rng.random(series.size) < gap_rate / 10)
    clipped = np.clip(np.where(usable, z, 0.0), -2.5, 2.5)
    arguments = (clipped, usable, boundary, series, n_series, 0.5, 11.0, 2.5, 100, 4.0)
    high, low, runs, restarts = _judge_drifts(*arguments)
    plain_high, plain_low, plain_runs, plain_restarts = _judge_drifts(*arguments, resume=False)
    # the cumulative sums start elsewhere: the statistics agree to rounding, the drifts exactly
    np.testing.assert_allclose(high, plain_high, rtol=0, atol=1e-9)
    np.testing.assert_allclose(low, plain_low, rtol=0, atol=1e-9)
    assert runs == plain_runs
    assume(any(run[2] > run[0] for run in runs))  # an example with a drift that lasts
    np.testing.assert_array_equal(restarts, plain_restarts)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.8, 3.0), st.one_of(st.none(), st.integers(1900, 3900)),
       st.one_of(st.none(), st.integers(2000, 3900)), st.floats(0.0, 0.05))
def test_a_chart_resumed_inside_a_drift_finds_what_the_whole_series_finds(seed, size, end, again, missing):
    """A chart started again inside a drift still on (at a row
    `ControlResult.resumable` marks, warmed up by the ``cusum_window + 2``
    rows before, `Resumed` with the drift's direction and delta) gives from
    there on the alarms, restarts and resumable rows of the whole series'
    chart, night after night, resumed from its own resumed tail: on steps
    that go on, end, or are followed by another one, with outliers, missing
    points and a gap."""
    from relphot_core.control import DRIFT, Resumed

    rng = np.random.default_rng(seed)
    n = 4000
    x = rng.normal(0.0, 1.0, n)
    x[800:end] += size
    if again is not None and (end is None or again > end):
        x[again:] -= size
    x[rng.random(n) < missing] = np.nan
    x[rng.random(n) < 0.01] = 8.0
    t = np.arange(n) / 10.0
    t[1500:] += 40.0  # a gap longer than max_gap_days
    warm = 102  # cusum_window + 2
    state, base, resumed_nights = None, 0, 0
    for night_end in range(1800, n + 1, 300):
        tail = control_rules(x[base:night_end], None, t[base:night_end], center=0.0, scale=1.0, resumed=state)
        whole = control_rules(x[:night_end], None, t[:night_end], center=0.0, scale=1.0)
        judged = 0 if state is None else warm
        np.testing.assert_array_equal(tail.alarm[judged:], whole.alarm[base + judged:])
        np.testing.assert_array_equal(tail.restart[judged:], whole.restart[base + judged:])
        np.testing.assert_array_equal(tail.resumable[judged:], whole.resumable[base + judged:])
        drifts = [a for a in tail.alarms if a.kind == DRIFT]
        places = np.flatnonzero(tail.resumable)
        if places.size and drifts:  # the next night starts inside the drift
            state = {None: Resumed(warm, drifts[-1].direction, drifts[-1].delta)}
            base += int(places[-1]) - warm
            resumed_nights += 1
        else:  # the next night from the first row
            state, base = None, 0
    assert resumed_nights or not (size >= 1.5 and end is None)  # a strong step that goes on is resumed
