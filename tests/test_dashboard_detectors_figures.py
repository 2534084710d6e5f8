"""The detector page's pure figure builders and its cached per-filter table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.detector_cache import prepare
from dashboard.figures.detectors import (SERIES_MAX_POINTS, detector_series_figure, focal_plane_figure,
                                         mmag_limits)
from relphot_core.config import DETECTORS, Control, Detectors
from relphot_core.detector_qc import detector_summary
from relphot_core.store.detectors import DETECTOR_COLUMNS, DETECTOR_STATUSES


def table(n_exposures: int = 200, seed: int = 0) -> pd.DataFrame:
    """A store-like detector table (sorted by detector then time), detector 23 bad from exposure 150."""
    rng = np.random.default_rng(seed)
    index = np.tile(np.arange(n_exposures), len(DETECTORS))
    detector = np.repeat(np.array(DETECTORS), n_exposures)
    offset = rng.normal(0, 0.002, index.size)
    offset[(detector == 23) & (index >= 150)] += 0.03
    status = np.where((detector == 23) & (index >= 150), "FAIL", "OK")
    return pd.DataFrame({
        "obs_id": 1000 + index // 4, "exposure": (index % 4 + 1).astype(np.int8), "detector": detector.astype(np.int8),
        "mjd_obs": 60000.0 + index * 0.1, "offset": offset, "error": np.full(index.size, 0.002),
        "n": np.full(index.size, 100, dtype=np.int32),
        "status": pd.Categorical(status, categories=list(DETECTOR_STATUSES)),
    }, columns=list(DETECTOR_COLUMNS))


def test_mmag_limits():
    low, high = mmag_limits(0.015)
    assert low == pytest.approx(-16.17, abs=0.01) and high == pytest.approx(16.41, abs=0.01)


def test_focal_plane_frames_the_bad_detector_and_selection():
    series = prepare("NIR_J", table(), Control())
    summary = series.summary(60015.0, None, Detectors())  # the bad part of the season
    figure = focal_plane_figure(summary, selected=41)
    names = [t.get("name") for t in figure["data"]]
    framed = figure["data"][names.index("flagged detector")]
    assert [10 * y + x for x, y in zip(framed["x"], framed["y"])] == [23]
    selected = figure["data"][names.index("selected detector")]
    assert (selected["x"], selected["y"]) == ([1], [4])
    heatmap = figure["data"][0]
    assert heatmap["z"][1][2] == pytest.approx(30, abs=1)  # detector 23: row 2, column 3
    assert heatmap["customdata"][1][2][0] == 23 and "flagged" in heatmap["text"][1][2]
    empty = focal_plane_figure(detector_summary([], [], [], [], []))
    assert "No detector offsets" in str(empty["layout"]["annotations"])


def test_the_worst_offset_frames_the_tile_of_a_detector_with_one_bad_exposure():
    """Detector 32 FAIL in one exposure of 200: its median is fine (no frame,
    under the 0.5 % of flagged exposures), its worst offset is that
    exposure's, framed, with its observation."""
    rows = table()
    bad = (rows["detector"] == 32) & (rows["obs_id"] == 1020) & (rows["exposure"] == 2)
    rows.loc[bad, "offset"] = 0.04
    rows["status"] = rows["status"].where(~bad, "FAIL")
    summary = prepare("NIR_J", rows, Control()).summary(None, 60015.0, Detectors())  # before detector 23 went bad
    by_detector = summary.set_index("detector")
    assert by_detector.loc[32, "status"] == "OK" and by_detector.loc[32, "worst_status"] == "FAIL"
    assert (by_detector.loc[32, "worst_obs"], by_detector.loc[32, "worst_exposure"]) == (1020, 2)
    assert by_detector.loc[32, "worst_mmag"] == pytest.approx(40.0)

    def framed(figure):
        names = [t.get("name") for t in figure["data"]]
        if "flagged detector" not in names:
            return []
        trace = figure["data"][names.index("flagged detector")]
        return [10 * y + x for x, y in zip(trace["x"], trace["y"])]

    assert framed(focal_plane_figure(summary)) == []
    worst = focal_plane_figure(summary, show="worst")
    assert framed(worst) == [32]
    assert worst["data"][0]["z"][2][1] == pytest.approx(40.0) and "obs 1020 d2" in worst["data"][0]["text"][2][1]
    assert "worst offset" in worst["data"][0]["hovertemplate"]
    with pytest.raises(ValueError, match="show must be one of"):
        focal_plane_figure(summary, show="mean")


def test_series_figure_draws_flagged_points_alarms_and_bands():
    series = prepare("NIR_J", table(), Control(min_reference_points=20))
    rows = series.detector_rows(23, None, None)
    figure = detector_series_figure(rows, detector=23, warn=0.005, fail=0.015, filter_name="NIR_J")
    names = [t["name"] for t in figure["data"]]
    assert "FAIL (50)" in names and any(n.startswith("control-chart alarm") for n in names)
    fail = figure["data"][names.index("FAIL (50)")]
    assert all("status FAIL" in text for text in fail["text"])
    rings = figure["data"][[n.startswith("control-chart alarm") for n in names].index(True)]
    assert any("drift of detector 23 since" in text for text in rings["text"])
    assert len(figure["layout"]["shapes"]) == 5 and figure["layout"]["xaxis"]["type"] == "date"
    assert figure["layout"]["title"]["text"].startswith("Detector 23 of NIR_J")


def test_series_figure_bins_many_points_and_handles_none():
    many = table(n_exposures=SERIES_MAX_POINTS + 500)
    series = prepare("NIR_J", many, Control())
    figure = detector_series_figure(series.detector_rows(11, None, None), detector=11, warn=0.005, fail=0.015)
    names = [t["name"] for t in figure["data"]]
    assert names[0].startswith("offsets (") and "binned median" in names
    assert sum(len(t["x"]) for t in figure["data"]) < 1000
    period = series.rows(11, 60010.0, 60020.0)
    assert period.stop - period.start == 100
    empty = detector_series_figure(series.detector_rows(11, 70000.0, None), detector=11, warn=0.005, fail=0.015)
    assert "No offsets of detector 11" in str(empty["layout"]["annotations"])


def test_detector_multiples_mark_each_flagged_exposure():
    from dashboard.figures.detectors import detector_multiples_figure

    def rows(n: int, bad: int | None = None, alarm: int | None = None) -> dict:
        offset = np.full(n, 0.001)
        status = np.full(n, "OK", dtype=object)
        alarms = np.full(n, "", dtype=object)
        if bad is not None:
            offset[bad], status[bad] = 0.05, "FAIL"
        if alarm is not None:
            alarms[alarm] = "drift"
        return {"obs_id": np.arange(n) + 1000, "exposure": np.ones(n, int), "mjd_obs": 60000 + np.arange(n) / 4,
                "offset": offset, "error": np.full(n, 0.001), "status": status, "alarm": alarms,
                "reason": alarms}

    data = {d: rows(400) for d in DETECTORS}
    data[23] = rows(400, bad=123)
    data[41] = rows(400, alarm=7)
    figure = detector_multiples_figure(data, warn=0.005, fail=0.015, selected=23)
    titles = [a["text"] for a in figure["layout"]["annotations"]]
    assert titles[DETECTORS.index(23)] == "<b>23</b> · 1 flagged (shown above)"
    assert titles[DETECTORS.index(41)] == "<b>41</b> · 1 flagged" and titles[0] == "<b>11</b>"
    fail = next(t for t in figure["data"] if t["name"] == "23 FAIL")
    assert fail["customdata"][0][:2] == [23, 1123]
    assert fail["y"][0] == pytest.approx(2 * 2500 * np.log10(1 / (1 - 0.015)), rel=1e-3)  # pinned at the edge
    assert [t["name"] for t in figure["data"] if t["name"].startswith("41 ")] == ["41 median", "41 alarm"]
    assert len({t["xaxis"] for t in figure["data"]}) == 16
