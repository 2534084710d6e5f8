"""The dashboard's figure builders, as plain functions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.figures import (dm_mag_figure, exposure_factor_figure, focal_plane_figure, marginal_histogram,
                               pair_histogram_figure, pair_matrix_figure, sky_figure, trend_figure)
from dashboard.figures.trend_data import mjd_to_epoch_ms
from dashboard.style import STATUS_COLOURS
from relphot_core.results import DetectorStat, ExposureFactor, MatchSample, PairStat

WARN, FAIL = 0.005, 0.015


def trend_rows(n_obs: int = 20, bad: dict | None = None, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_obs):
        for dither in range(1, 5):
            value = 1 + rng.normal(0, 0.001)
            status = "OK"
            if bad and (i, dither) in bad:
                value, status = bad[(i, dither)]
            rows.append(dict(obs_id=1000 + i, filter="NIR_J", exposure=dither, mjd_obs=60000 + i + dither / 100,
                             value=value, error=0.001 if value is not None else np.nan, status=status,
                             review_decision=None, reviewer=None, reviewed=False,
                             running_median=1.0, control_low=0.997, control_high=1.003, flag=False))
    return pd.DataFrame(rows)


def traces_named(fig, prefix):
    return [t for t in fig.data if (t.name or "").startswith(prefix)]


def test_trend_points_statuses_and_click_data():
    df = trend_rows(bad={(5, 3): (0.97, "FAIL"), (7, 2): (1.008, "WARN")})
    fig = trend_figure(df, warn=WARN, fail=FAIL, filter_name="NIR_J")
    fail = traces_named(fig, "FAIL")[0]
    assert list(fail.y) == [0.97]
    assert fail.marker.color == STATUS_COLOURS["FAIL"]
    assert [list(c) for c in fail.customdata] == [[1005, "NIR_J"]]
    ok = traces_named(fig, "OK")[0]
    assert len(ok.y) == 78 and ok.error_y.array is not None
    assert traces_named(fig, "WARN")[0].marker.color == STATUS_COLOURS["WARN"]
    # the bad value and both FAIL limits are inside the y range
    low, high = fig.layout.yaxis.range
    assert low < 0.97 and high > 1 + FAIL
    # bands: 2 WARN + 2 FAIL rectangles and the line at 1, behind the trend and its distribution
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert len(rects) == 8 and sum(s.xref == "x domain" for s in rects) == 4
    assert any(s.type == "line" and s.y0 == 1.0 == s.y1 for s in fig.layout.shapes)
    assert traces_named(fig, "running median") and traces_named(fig, "control limits")


def test_control_chart_follows_the_whole_series_not_the_selected_points():
    df = trend_rows(bad={(5, 3): (0.97, "FAIL"), (15, 2): (0.975, "FAIL")})
    df["running_median"] = 1.0 + 0.0001 * (df["obs_id"] - 1000)
    df["control_low"], df["control_high"] = df["running_median"] - 0.004, df["running_median"] + 0.004
    only_fail = df[df["status"] == "FAIL"]
    alone = trend_figure(only_fail, warn=WARN, fail=FAIL)
    assert len(traces_named(alone, "running median")[0].x) == 2  # joins the two selected points
    fig = trend_figure(only_fail, warn=WARN, fail=FAIL, chart=df, x="obs_id")
    median = traces_named(fig, "running median")[0]
    assert len(median.x) == len(df) and list(median.x) == sorted(median.x)
    assert len(traces_named(fig, "control limits")[0].y) == len(df)
    np.testing.assert_allclose(traces_named(fig, "FAIL")[0].y, [0.97, 0.975], rtol=1e-6)


def test_trend_by_obs_id_and_invalid_axis():
    df = trend_rows(n_obs=5)
    fig = trend_figure(df, warn=WARN, fail=FAIL, x="obs_id")
    assert set(traces_named(fig, "OK")[0].x) == {1000, 1001, 1002, 1003, 1004}
    with pytest.raises(ValueError):
        trend_figure(df, warn=WARN, fail=FAIL, x="ra")


def test_trend_nodata_is_never_drawn_at_one():
    df = trend_rows(n_obs=3, bad={(1, 4): (None, "NODATA")})
    fig = trend_figure(df, warn=WARN, fail=FAIL)
    nodata = traces_named(fig, "NODATA")[0]
    assert nodata.y[0] < 1 - FAIL  # parked at the bottom of the plot, labelled "no value"
    assert "no value" in nodata.text[0]


def test_trend_aggregates_many_ok_points_but_keeps_every_flag():
    df = trend_rows(n_obs=5000, bad={(4321, 2): (0.95, "FAIL"), (10, 1): (1.02, "FAIL")})
    fig = trend_figure(df, warn=WARN, fail=FAIL, max_points=5000, n_bins=200)
    assert max(len(t.x) for t in fig.data if t.x is not None) <= 2 * 200 + 2000
    fail = traces_named(fig, "FAIL")[0]
    assert sorted(fail.y) == [0.95, 1.02]
    assert traces_named(fig, "OK binned median")


def test_trend_empty_and_escaped_hover():
    fig = trend_figure(pd.DataFrame(), warn=WARN, fail=FAIL, filter_name="NIR_H")
    assert "No exposures" in fig.layout.annotations[0].text
    df = trend_rows(n_obs=2)
    df.loc[0, "review_decision"] = "confirmed"
    df.loc[0, "reviewer"] = "<script>alert(1)</script>"
    fig = trend_figure(df, warn=WARN, fail=FAIL)
    texts = [t for trace in fig.data if trace.text is not None for t in trace.text]
    assert any("&lt;script&gt;" in t for t in texts)
    assert not any("<script>" in t for t in texts)
    assert traces_named(fig, "reviewed: confirmed")


def _histogram_counts(traces) -> dict[float, int]:
    """Bin lower edge -> count, read back from the marginal step traces."""
    counts = {}
    for trace in traces:
        for y, text in zip(trace["y"][:-1], trace["text"][:-1]):
            counts[round(float(y), 6)] = int(text.rsplit(": ", 1)[1].split()[0].replace(",", ""))
    return counts


def test_marginal_histogram_counts_zones_and_outliers():
    values = np.array([1.0, 1.001, 0.999, 1.2, np.nan])
    traces, axis, log = marginal_histogram(values, [0.95, 1.05], warn=WARN, fail=FAIL, name="NIR_J")
    assert not log and axis["domain"][0] > 0.8
    assert {t["line"]["shape"] for t in traces} == {"vh"} and {t["xaxis"] for t in traces} == {"x2"}
    counts = _histogram_counts(traces)
    assert sum(counts.values()) == 3  # NaN skipped, 1.2 beyond the bins and counted in the title
    assert "1 beyond 1 ± 0.045" in axis["title"]["text"]
    # the steps of each zone are coloured like it, and the zones tile the range
    for trace in traces:
        status = trace["name"].rsplit(" ", 1)[1]
        assert trace["line"]["color"] == STATUS_COLOURS[status]
        low, high = float(trace["y"][0]), float(trace["y"][-1])
        width = float(trace["y"][1]) - low
        assert (status == "FAIL") == (min(abs(low - 1), abs(high - 1)) >= FAIL - width)
    # no bin straddles a threshold: every edge of a zone's steps lies in that zone
    for trace in traces:
        offsets = np.abs(np.asarray(trace["y"], dtype=float) - 1)
        status = trace["name"].rsplit(" ", 1)[1]
        lowest, highest = {"OK": (0, WARN), "WARN": (WARN, FAIL), "FAIL": (FAIL, np.inf)}[status]
        assert ((offsets >= lowest - 1e-12) & (offsets <= highest + 1e-12)).all(), status
    # the bins cover the axis up to 1 +- 3 fail
    assert min(float(t["y"][0]) for t in traces) == pytest.approx(1 - 3 * FAIL)
    assert max(float(t["y"][-1]) for t in traces) >= 1 + 3 * FAIL - 1e-9
    # survey-size counts: log axis, empty bins left of its range
    big = np.r_[np.ones(5000), 1.02 + np.zeros(3)]
    traces, axis, log = marginal_histogram(big, [0.95, 1.05], warn=WARN, fail=FAIL)
    assert log and axis["type"] == "log" and 10 ** axis["range"][0] > 0.5
    assert sum(_histogram_counts(traces).values()) == 5003


def test_marginal_histogram_resolves_a_narrow_core():
    # 200 factors within ~0.001 of 1 and three outliers: 2 sqrt(N) bins would
    # put the whole core into one or two bins; the Freedman-Diaconis width does not
    core = 1 + 0.0005 * np.random.default_rng(3).standard_normal(200)
    traces, _, _ = marginal_histogram(np.r_[core, 1.03, 1.03, 0.96], [0.95, 1.05], warn=WARN, fail=FAIL)
    counts = _histogram_counts(traces)
    assert sum(counts.values()) == 203
    assert sum(count > 0 for count in counts.values()) >= 5
    assert len(counts) <= 160 + 4  # 160 at most, plus one per zone split at a threshold


def test_trend_figure_carries_its_marginal_distribution():
    fig = trend_figure(trend_rows(), warn=WARN, fail=FAIL, filter_name="NIR_J")
    margin = [t for t in fig.data if t.xaxis == "x2"]
    assert margin and not any(t.showlegend for t in margin)
    assert fig.layout.xaxis.domain[1] < fig.layout.xaxis2.domain[0]
    # the bands are drawn behind both panels
    assert {s.xref for s in fig.layout.shapes} == {"x domain", "x2 domain"}


def exposures():
    return [ExposureFactor(1, 1.001, 0.001, None, "OK"), ExposureFactor(2, 0.97, 0.001, None, "FAIL"),
            ExposureFactor(3, None, None, None, "NODATA", reason="no valid pair")]


def test_exposure_factor_figure():
    fig = exposure_factor_figure(exposures(), warn=WARN, fail=FAIL)
    ys = [t.y[0] for t in fig.data if t.y is not None and t.y[0] is not None]
    assert ys == [1.001, 0.97]
    assert any("NODATA" in a.text for a in fig.layout.annotations)
    assert fig.data[1].marker.color == STATUS_COLOURS["FAIL"]


def test_pair_matrix_is_antisymmetric_and_marks_invalid_pairs():
    pairs = [PairStat(1, 2, 0.01, 0.001, 0.02, 100, 95, 5, valid=True),
             PairStat(1, 3, None, None, None, 3, 3, 0, valid=False),
             PairStat(2, 3, -0.004, 0.001, 0.02, 100, 95, 5, valid=True)]
    fig = pair_matrix_figure(pairs, [1, 2, 3])
    z = np.array(fig.data[0].z, dtype=float)
    assert z[0, 1] == pytest.approx(10.0) and z[1, 0] == pytest.approx(-10.0)
    assert z[1, 2] == pytest.approx(-4.0) and z[2, 1] == pytest.approx(4.0)
    assert np.isnan(z[0, 2]) and "n/a" in fig.data[0].text[0][2]
    assert "No pair" in pair_matrix_figure([], [1]).layout.annotations[0].text
    # a fixed colour scale (the same on every observation) saturates beyond it
    assert pair_matrix_figure(pairs, [1, 2, 3], limit=32.0).data[0].zmax == 32.0
    assert fig.data[0].zmax == pytest.approx(10.0)  # default: the largest |value|


def sample():
    rng = np.random.default_rng(3)
    n = 200
    dm = rng.normal(0.01, 0.02, n)
    kept = np.abs(dm - 0.01) < 0.05
    return MatchSample(1, 2, ra=150 + rng.uniform(0, 0.5, n), dec=2 + rng.uniform(0, 0.5, n),
                       mag=rng.uniform(17, 22, n), dm=dm, kept=kept)


def test_pair_histogram_dm_mag_and_sky():
    s = sample()
    pair = PairStat(1, 2, 0.01, 0.001, 0.02, 200, int(s.kept.sum()), int((~s.kept).sum()),
                    clip_low=-0.05, clip_high=0.07, valid=True)
    fig = pair_histogram_figure(s, pair)
    assert len(fig.data[0].x) == s.kept.sum() and len(fig.data[1].x) == (~s.kept).sum()
    lines = sorted(round(sh.x0, 3) for sh in fig.layout.shapes if sh.type == "line")
    assert lines == [-50.0, 10.0, 70.0]  # clip limits and median, in mmag
    fig = dm_mag_figure(s, pair)
    assert len(fig.data[0].x) + len(fig.data[1].x) == 200
    fig = sky_figure(s, pair)
    assert list(fig.data[0].marker.color) == pytest.approx(list(1000 * s.dm[s.kept]))
    assert "sample" not in fig.layout.title.text  # all 200 matches are drawn
    # a stored subsample says so: its counts differ from the pair's
    bigger = PairStat(1, 2, 0.01, 0.001, 0.02, 1569, 1329, 240, clip_low=-0.05, clip_high=0.07, valid=True)
    for build in (pair_histogram_figure, dm_mag_figure, sky_figure):
        assert "a sample of 200 of the pair's 1,569 matches" in build(s, bigger).layout.title.text
    assert fig.layout.xaxis.autorange == "reversed"  # east to the left
    assert "No matched" in sky_figure(None).layout.annotations[0].text


def test_focal_plane_layout():
    stats = [DetectorStat(1, 23, 0.005, 0.001, 40), DetectorStat(2, 11, -0.002, 0.001, 50)]
    fig = focal_plane_figure(stats, [1, 2])
    assert len(fig.data) == 2
    grid1 = np.array(fig.data[0].z, dtype=float)
    assert grid1[1, 2] == pytest.approx(5.0)  # detector 23: row 2, column 3
    assert np.isnan(grid1[0, 0])
    assert np.array(fig.data[1].z, dtype=float)[0, 0] == pytest.approx(-2.0)
    assert fig.data[0].zmin == -fig.data[0].zmax  # one symmetric scale for all panels
    assert "No per-detector" in focal_plane_figure([], [1]).layout.annotations[0].text


def test_trend_caps_individual_points_at_survey_size_worst_first():
    bad = {(i, 1): (1.008 + i * 1e-5, "WARN") for i in range(0, 4000)}
    bad[(3999, 4)] = (0.95, "FAIL")
    df = trend_rows(n_obs=4000, bad=bad)
    fig = trend_figure(df, warn=WARN, fail=FAIL, max_shown=500)
    warn = traces_named(fig, "WARN")[0]
    assert len(warn.y) == 499 and "499 of 4,000" in warn.name
    assert min(warn.y) > 1.008 + 3400e-5  # the largest deviations were kept
    assert list(traces_named(fig, "FAIL")[0].y) == [0.95]  # FAIL before WARN
    assert "Drawn: 500 of 4,001 flagged" in fig.layout.title.subtitle.text


def test_trend_cap_keeps_every_kind_of_flag():
    # thousands of WARN, a few hundred FAIL, a handful of drift alarms and
    # reviewed OK exposures: each kind keeps its share of the points drawn
    bad = {(i, 1): (1.008 + i * 1e-6, "WARN") for i in range(3000)}
    bad.update({(i, 2): (0.95 - i * 1e-5, "FAIL") for i in range(300)})
    df = trend_rows(n_obs=3000, bad=bad)
    drift = (df["status"] == "OK") & (df["exposure"] == 3) & (df["obs_id"] < 1006)
    reviewed = (df["status"] == "OK") & (df["exposure"] == 4) & (df["obs_id"] < 1020)
    df.loc[drift, "flag"] = True
    df.loc[reviewed, ["reviewed", "review_decision", "reviewer"]] = [True, "overruled", "eve"]
    fig = trend_figure(df, warn=WARN, fail=FAIL, max_shown=100)
    assert len(traces_named(fig, "other flag")[0].x) == 6  # all: fewer than an even share
    assert len(traces_named(fig, "reviewed: overruled")[0].x) == 20
    fail, warn = traces_named(fig, "FAIL")[0], traces_named(fig, "WARN")[0]
    assert (len(fail.y), len(warn.y)) == (37, 37) and "37 of 300" in fail.name
    assert max(fail.y) <= 0.95 - 263e-5 + 1e-12  # the farthest from 1 of each kind
    assert min(warn.y) >= 1.008 + 2963e-6 - 1e-12
    assert "Drawn: 100 of 3,326 flagged" in fig.layout.title.subtitle.text
    # one legend entry per kind: a horizontal legend stacks a group's entries over the x axis
    shown = [t.legendgroup for t in fig.data if t.showlegend is not False and t.legendgroup]
    assert len(shown) == len(set(shown)) and "OK" in shown


def test_a_flagged_detector_shows_on_every_dither_of_its_observation_and_its_ring_is_on_top():
    """The four dithers of an observation share a pixel on a season's axis:
    the ring of the exposure whose detector is bad is drawn after every
    other marker, and the hover of each of its partners names that flag."""
    df = trend_rows(bad={(5, 3): (0.97, "FAIL")})
    bad = (df["obs_id"] == 1004) & (df["exposure"] == 1)
    df["flag_reason"] = None
    df.loc[bad, "flag"] = True
    df.loc[bad, "flag_reason"] = "1 of 16 detectors flagged (1 FAIL); worst detector 23: +49.7 mmag\nanother line"
    fig = trend_figure(df, warn=WARN, fail=FAIL)
    markers = [t for t in fig.data if t.mode == "markers" and t.xaxis in (None, "x")]
    assert markers[-1].name == "other flag (1)" and markers[-1].marker.line.width == 2.5
    ok = traces_named(fig, "OK")[0]
    partner = next(text for text, (obs, _) in zip(ok.text, ok.customdata) if obs == 1004 and "dither 4" in text)
    assert "flagged in this observation</b>: dither 1: 1 of 16 detectors flagged (1 FAIL); worst detector 23" in partner
    assert "another line" not in partner
    # the FAIL of obs 1005 shows on its partners too, by its status
    partner = next(text for text, (obs, _) in zip(ok.text, ok.customdata) if obs == 1005 and "dither 1" in text)
    assert "dither 3: FAIL" in partner
    lone = next(text for text, (obs, _) in zip(ok.text, ok.customdata) if obs == 1010)
    assert "flagged in this observation" not in lone


def test_trend_cap_keeps_drift_alarms_on_warn_exposures():
    # a drift alarm on a mild WARN is still drawn (with its ring) among thousands of worse WARN
    bad = {(i, 1): (1.006 + i * 1e-6, "WARN") for i in range(3000)}
    df = trend_rows(n_obs=3000, bad=bad)
    mild = (df["status"] == "WARN") & (df["obs_id"] < 1005)
    ok_drift = (df["status"] == "OK") & (df["exposure"] == 2) & (df["obs_id"] < 1003)
    df.loc[mild | ok_drift, "flag"] = True
    fig = trend_figure(df, warn=WARN, fail=FAIL, max_shown=250)
    ring = traces_named(fig, "other flag")[0]
    np.testing.assert_allclose(sorted(ring.x), sorted(mjd_to_epoch_ms(df.loc[mild | ok_drift, "mjd_obs"])))
    # every OK exposure counted in the legend, the binned ones and the 3 drawn one by one
    assert traces_named(fig, "OK")[0].name.startswith("OK (9,000)")


def test_trend_cap_spreads_nodata_along_the_series():
    # no value, no "worst": the NODATA drawn cover the whole series, not its start
    bad = {(i, 1): (None, "NODATA") for i in range(1000)}
    bad.update({(i, 2): (0.95, "FAIL") for i in range(1000)})
    fig = trend_figure(trend_rows(n_obs=1000, bad=bad), warn=WARN, fail=FAIL, max_shown=20)
    nodata = traces_named(fig, "NODATA")[0]
    assert len(nodata.x) == 10 and "10 of 1,000" in nodata.name
    assert min(nodata.x) < mjd_to_epoch_ms(60010) and max(nodata.x) > mjd_to_epoch_ms(60990)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 500), min_size=1, max_size=6), st.integers(0, 1000))
def test_fair_shares_split_the_limit_evenly(sizes, limit):
    from dashboard.figures.trend_data import fair_shares

    shares = fair_shares(np.array(sizes), limit)
    assert (shares >= 0).all() and (shares <= sizes).all()
    assert shares.sum() == min(limit, sum(sizes))
    # a group cut short got at least as much as any other group, less one
    cut = shares < np.array(sizes)
    if cut.any():
        assert shares[cut].min() >= shares.max() - 1


def test_exposure_records_without_review_have_empty_review_columns():
    from dashboard.components import exposure_records

    df = pd.DataFrame({"obs_id": [7, 7], "filter": ["NIR_J"] * 2, "exposure": [1, 2], "value": [1.0, 0.97],
                       "error": [0.001, 0.001], "status": ["OK", "FAIL"],
                       "review_decision": [np.nan, "confirmed"], "reviewer": [np.nan, "<b>eve</b>"],
                       "review_comment": [np.nan, "<script>x</script>"],
                       "reviewed_at": [pd.NaT, pd.Timestamp("2026-01-02 10:00", tz="UTC")]})
    plain, reviewed = exposure_records(df)
    assert plain["review"] == "" and plain["review_comment"] == ""
    assert reviewed["review"].startswith("confirmed by <b>eve</b>")  # the grid shows text, never HTML
    assert reviewed["review_comment"] == "<script>x</script>"


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), n_bins=st.integers(1, 300), seed=st.integers(0, 2**31), wild=st.booleans())
def test_binned_trace_matches_a_loop_over_bins(n, n_bins, seed, wild):
    from dashboard.figures.trend_data import binned_quantiles

    rng = np.random.default_rng(seed)
    xs = np.sort(60000 + 900 * rng.random(n))
    ys = 1 + 0.004 * rng.standard_normal(n)
    if wild:  # one absurd value: the exact sort takes over
        ys[rng.integers(n)] = 1e12
    env = binned_quantiles(xs, ys, n_bins)
    width = (xs.max() + 1e-9 - xs.min()) / n_bins
    index = np.clip(((xs - xs.min()) / width).astype(int), 0, n_bins - 1)
    expected = {q: [] for q in (0.01, 0.5, 0.99)}
    centres = []
    for b in np.unique(index):
        values = np.sort(ys[index == b])
        for q in expected:
            expected[q].append(values[int(np.floor(q * (values.size - 1)))])
        centres.append(xs[index == b].mean())
    k = len(centres)
    np.testing.assert_allclose(env.median, expected[0.5], rtol=0, atol=1e-12)
    np.testing.assert_allclose(env.x, centres, rtol=1e-12)
    np.testing.assert_allclose(env.high, expected[0.99], rtol=0, atol=1e-12)
    np.testing.assert_allclose(env.low, expected[0.01], rtol=0, atol=1e-12)
    assert len(env.x) == k


def test_no_control_line_is_drawn_across_a_gap_of_weeks():
    from dashboard.figures.trends import trend_spec

    mjd = np.r_[60000.0 + np.arange(40), 60100.0 + np.arange(40)]  # 60 days without data
    rows = pd.DataFrame({"obs_id": np.arange(80), "exposure": 1, "mjd_obs": mjd, "value": 1.0, "error": 0.001,
                         "status": "OK", "running_median": 1.0, "control_low": 0.997, "control_high": 1.003})
    for by in ("status", "dither"):
        traces, _ = trend_spec(rows, warn=0.005, fail=0.015, by=by)
        line = next(t for t in traces if t.get("mode") == "lines" and "median" in str(t.get("name")))
        xs = np.asarray(line["x"], dtype=float) / 86_400_000  # a date axis: ms
        assert np.isnan(xs).sum() == 1 and np.nanmax(np.diff(xs[~np.isnan(xs)][:40])) < 30


def test_dm_mag_is_ranged_to_the_clipping_limits_with_a_running_median():
    s = sample()
    s.dm[:3] = [1.0, -1.0, 0.9]  # a few wild matches (1000 mmag)
    pair = PairStat(1, 2, 0.01, 0.001, 0.02, 200, int(s.kept.sum()), int((~s.kept).sum()),
                    clip_low=-0.05, clip_high=0.07, valid=True)
    fig = dm_mag_figure(s, pair)
    low, high = fig.layout.yaxis.range
    assert (low, high) == pytest.approx((-80.0, 100.0))  # the clipping range, padded by a quarter
    assert "3 off scale" in fig.layout.title.text and "+ = fainter" in fig.layout.yaxis.title.text
    off = [t for t in fig.data if (t.name or "").endswith("off scale")]
    assert sum(len(t.y) for t in off) == 3 and all(low <= y <= high for t in off for y in t.y)
    assert sorted(np.round(np.concatenate([t.customdata for t in off]))) == [-1000, 900, 1000]
    drawn = sum(len(t.x) for t in fig.data if t.mode == "markers")
    assert drawn == 200  # every match drawn, inside or pinned
    median = next(t for t in fig.data if (t.name or "").startswith("running median"))
    assert np.all(np.diff(median.x) >= 0) and abs(np.median(median.y) - 10) < 5  # the sample is centred on +10
    # the pair histogram and the sky say which way dm goes
    assert "+ = dither 1 fainter" in pair_histogram_figure(s, pair).layout.xaxis.title.text
    assert "+ = dither 1 fainter" in sky_figure(s, pair).layout.title.text


def test_running_median_and_dm_range():
    from dashboard.figures.observation import dm_range, running_median

    x = np.linspace(16, 24, 500)
    y = 5 + 0.5 * (x - 16) + np.random.default_rng(1).normal(0, 0.1, 500)
    mx, my = running_median(x[::-1], y[::-1])  # any order in
    assert mx.size <= 200 and np.all(np.diff(mx) > 0)
    np.testing.assert_allclose(my, 5 + 0.5 * (mx - 16), atol=0.1)
    assert running_median(x[:4], y[:4])[0].size == 0 and running_median([np.nan] * 9, y[:9])[0].size == 0
    assert dm_range(np.array([0.0]), PairStat(1, 2, 0, 0, 0, 1, 1, 0, clip_low=-0.01, clip_high=0.01)) == \
        pytest.approx([-15.0, 15.0])
    assert dm_range(np.linspace(-5, 5, 101), None, pad=0) == pytest.approx([-4.9, 4.9])


def test_factor_plot_views_show_the_error_bars():
    from dashboard.figures.observation import factor_pulls

    exposures = [ExposureFactor(1, 1.0004, 0.0002, 0.0, "OK"), ExposureFactor(2, 0.9990, 0.0002, 0.0, "WARN"),
                 ExposureFactor(3, None, None, None, "NODATA")]
    bands = exposure_factor_figure(exposures, warn=WARN, fail=FAIL)
    zoom = exposure_factor_figure(exposures, warn=WARN, fail=FAIL, view="zoom")
    pull = exposure_factor_figure(exposures, warn=WARN, fail=FAIL, view="pull")
    span = np.diff(bands.layout.yaxis.range)[0]
    zspan = np.diff(zoom.layout.yaxis.range)[0]
    assert zspan < span / 10  # the error bars (0.0002) take a visible part of the axis
    assert zoom.layout.yaxis.range[0] < 0.9988 and zoom.layout.yaxis.range[1] > 1.0006
    ys = [t.y[0] for t in pull.data if t.y and t.y[0] is not None]
    assert ys == pytest.approx([2.0, -5.0]) and "Pull" in pull.layout.title.text
    assert "− = fainter" in pull.layout.yaxis.title.text  # QPRELEX 0.97: 3 % faint
    assert all(t.error_y.array[0] == 1.0 for t in pull.data if t.y and t.y[0] is not None)
    assert any("NODATA" in a.text for a in pull.layout.annotations)
    np.testing.assert_allclose(factor_pulls([1.01, 1.0], [0.005, np.nan]), [2.0, np.nan])
    with pytest.raises(ValueError, match="view"):
        exposure_factor_figure(exposures, warn=WARN, fail=FAIL, view="log")


def test_a_lower_triangle_pair_is_drawn_with_the_sign_its_cell_shows():
    from dashboard.pages.observation import _pair, _pair_options
    from relphot_core.results import MatchSample, ObservationResult

    pair = PairStat(1, 2, 0.01, 0.001, 0.02, 100, 95, 5, clip_low=-0.05, clip_high=0.07, valid=True)
    sample = MatchSample(1, 2, np.zeros(3), np.zeros(3), np.array([18.0, 19.0, 20.0]), np.array([0.01, 0.02, -0.2]),
                         np.array([True, True, False]))
    result = ObservationResult(obs_id=1, filter="NIR_J", method="median", exposures=[], pairs=[pair], detectors=[],
                               samples=[sample])
    assert [o["value"] for o in _pair_options(result)] == ["1-2", "2-1"]
    assert _pair(result, "1-2") == (pair, sample)
    seen, drawn = _pair(result, "2-1")
    assert (seen.exposure_a, seen.exposure_b, seen.median, seen.clip_low, seen.clip_high) == (2, 1, -0.01, -0.07, 0.05)
    assert (drawn.exposure_a, drawn.exposure_b) == (2, 1) and drawn.dm.tolist() == [-0.01, -0.02, 0.2]
    histogram = pair_histogram_figure(drawn, seen)
    assert "m(dither 2) − m(dither 1)" in histogram.layout.title.text
    assert pair.median == 0.01 and sample.dm[0] == 0.01  # the stored ones untouched


def test_matrix_cells_and_focal_plane_cells_name_what_a_click_opens():
    from dashboard.pages.observation import detector_from_click, pair_from_click

    pairs = [PairStat(1, 2, 0.01, 0.001, 0.02, 100, 95, 5, valid=True),
             PairStat(1, 3, None, None, None, 3, 3, 0, valid=False)]
    fig = pair_matrix_figure(pairs, [1, 2, 3])
    keys = fig.data[0].customdata
    # each cell names its pair oriented as it shows it: row 2, column 1 is m(2) - m(1)
    assert keys[0][1] == "1-2" and keys[1][0] == "2-1" and keys[2][0] == "3-1" and keys[1][1] == ""
    assert fig.data[0].z[1][0] == -fig.data[0].z[0][1] == -10.0
    assert "m_a" not in fig.layout.title.text and "+ = row fainter" in fig.layout.title.text
    assert pair_from_click({"points": [{"customdata": "1-3"}]}) == "1-3"
    assert pair_from_click({"points": [{"customdata": ""}]}) is None and pair_from_click(None) is None
    plane = focal_plane_figure([DetectorStat(1, 23, 0.005, 0.001, 40)], [1])
    cell = plane.data[0].customdata[1][2]
    assert int(cell[3]) == 23
    assert detector_from_click({"points": [{"customdata": list(cell), "x": 3, "y": 2}]}) == 23
    assert detector_from_click({"points": [{"x": 4, "y": 1}]}) == 14
    assert detector_from_click({"points": [{"x": 5, "y": 1}]}) is None and detector_from_click({}) is None
