"""The pure halves of the overview: the trend's reduction (numpy arrays in
and out, no plotly objects) and the page's view model (controls and tables
in, everything the page shows out; no Dash app, no request)."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard.data import compact_table
from dashboard.figures.trend_data import (GAP_DAYS, broken_at_gaps, mjd_to_epoch_ms, mjd_to_text, pin_off_scale,
                                          reduce_trend)
from dashboard.pages.overview_model import Controls, default_trend, overview_view, trend_options
from relphot_core.mjd import datetime_to_mjd

WARN, FAIL = 0.005, 0.015


def series(n_obs: int = 30, bad: dict | None = None, start: float = 60000.0) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n_obs):
        for dither in range(1, 5):
            value, status = 1 + rng.normal(0, 0.001), "OK"
            if bad and (i, dither) in bad:
                value, status = bad[i, dither]
            rows.append(dict(obs_id=1000 + i, filter="NIR_J", exposure=dither, mjd_obs=start + i + dither / 100,
                             value=value, error=0.001, status=status, reason="", review_decision=None,
                             reviewer=None, reviewed=False, running_median=1.0, control_low=0.997,
                             control_high=1.003, flag=False))
    return pd.DataFrame(rows)


# ------------------------------------------------------------ trend_data
def test_epoch_ms_is_the_utc_moment_of_the_mjd():
    mjd = datetime_to_mjd(datetime(2025, 2, 1, 6, 30, tzinfo=timezone.utc))
    ms = mjd_to_epoch_ms(np.array([mjd, np.nan]))
    assert ms[0] == pytest.approx(datetime(2025, 2, 1, 6, 30, tzinfo=timezone.utc).timestamp() * 1000, abs=1e-3)
    assert np.isnan(ms[1])
    assert mjd_to_text(np.array([mjd])).tolist() == ["2025-02-01 06:30"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.2, 2.0), min_size=1, max_size=50), st.floats(0.9, 0.99), st.floats(1.01, 1.1))
def test_pinned_values_stay_inside_the_range_and_others_are_untouched(values, low, high):
    values = np.array(values)
    drawn, below, above = pin_off_scale(values, [low, high])
    assert ((drawn >= low) & (drawn <= high)).all()
    inside = ~(below | above)
    np.testing.assert_array_equal(drawn[inside], values[inside])
    assert (values[below] < low).all() and (values[above] > high).all()


def test_gaps_break_lines_only_where_the_time_jumps():
    t = np.array([0.0, 1.0, 1.0 + GAP_DAYS + 0.5, 2.0 + GAP_DAYS + 0.5])
    xs, ys = broken_at_gaps(t, t, np.ones(4))
    assert np.isnan(xs).sum() == 1 and np.isnan(xs[2]) and np.isnan(ys[2])
    xs, _ = broken_at_gaps(t[:2], t[:2], np.ones(2))
    assert not np.isnan(xs).any()


def test_reduce_trend_groups_pins_and_caps():
    bad = {(3, 2): (0.60, "FAIL"), (4, 1): (1.008, "WARN"), (5, 4): (None, "NODATA")}
    df = series(bad=bad)
    data = reduce_trend(df, warn=WARN, fail=FAIL)
    kinds = {g.kind: g for g in data.groups}
    assert set(kinds) == {"OK", "WARN", "FAIL", "NODATA"}
    fail = kinds["FAIL"].rows
    assert data.cols["obs_id"][fail].tolist() == [1003]
    # 0.60 is beyond the robust range: pinned inside it, reported off scale
    assert data.below[fail].all() and data.y_range[0] < data.drawn_y[fail][0] < data.y_range[1]
    assert data.cols["obs_id"][data.off_scale_rows].tolist() == [1003]
    assert data.has_nodata and data.n_hidden == 0 and data.envelope is None
    assert [line.role for line in data.lines] == ["median", "control", "control"]
    # the histogram counts every factor with a value, the pinned one beyond its bins
    assert data.histogram.counts.sum() + data.histogram.beyond == len(df) - 1
    # fitting all takes the extreme value in
    assert reduce_trend(df, warn=WARN, fail=FAIL, fit_all=True).off_scale_rows.size == 0


def test_reduce_trend_bins_many_ok_and_caps_the_flagged():
    bad = {(i, 1): (1.008 + 1e-5 * i, "WARN") for i in range(300)}
    data = reduce_trend(series(n_obs=300, bad=bad), warn=WARN, fail=FAIL, max_points=100, max_shown=50)
    assert data.envelope is not None and data.n_binned == 900
    assert not any(g.kind == "OK" for g in data.groups)
    warn = next(g for g in data.groups if g.kind == "WARN")
    assert (warn.rows.size, warn.total) == (50, 300) and data.n_hidden == 250
    assert data.cols["value"][warn.rows].min() >= 1.008 + 1e-5 * 250 - 1e-12  # the worst ones


def test_reduce_trend_by_dither_and_errors():
    data = reduce_trend(series(), warn=WARN, fail=FAIL, by="dither", x="obs_id")
    assert [g.dither for g in data.groups] == [1, 2, 3, 4]
    assert [line.dither for line in data.lines] == [1, 2, 3, 4]
    assert reduce_trend(series().iloc[:0], warn=WARN, fail=FAIL) is None
    with pytest.raises(ValueError, match="x must be one of"):
        reduce_trend(series(), warn=WARN, fail=FAIL, x="ra")


# ------------------------------------------------------------ view model
def tables(**frames):
    return {name: compact_table(frame) if frame is not None else None for name, frame in frames.items()}


def test_view_opens_on_the_filter_awaiting_review_and_disables_empty_ones():
    flagged = series(bad={(2, 3): (0.97, "FAIL")}).assign(filter="NIR_H")
    data = tables(NIR_Y=series().assign(filter="NIR_Y"), NIR_J=None, NIR_H=flagged)
    assert default_trend(["NIR_Y", "NIR_J", "NIR_H"], data) == "NIR_H"
    assert default_trend(["NIR_Y", "NIR_J"], data) == "NIR_Y"  # the first with data, not an empty one
    options = trend_options(["NIR_Y", "NIR_J"], data)
    assert options[1] == {"label": "NIR_J (no data)", "value": "NIR_J", "disabled": True}


def test_view_shows_counts_figure_and_url_and_skips_what_is_drawn():
    data = tables(NIR_J=series(bad={(2, 3): (0.97, "FAIL"), (4, 1): (1.008, "WARN")}), NIR_H=series())
    view = overview_view(Controls(["NIR_J", "NIR_H"], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_J"), data,
                         warn=WARN, fail=FAIL, max_points=3000)
    assert view.search == "?filter=NIR_J,NIR_H&status=WARN,FAIL" and view.trend_filter == "NIR_J"
    assert view.problems == []
    assert view.counts.total == 2 and view.counts.hidden == ["OK", "NODATA"]
    by_status, _, n_obs = view.counts.counts["NIR_J"]
    assert (by_status["FAIL"], by_status["OK"], n_obs) == (1, 118, 30)
    assert view.counts.links["NIR_H", "FAIL"] == "/?filter=NIR_J,NIR_H&status=FAIL&trend=NIR_H"
    names = [t["name"] for t in view.figure["data"]]
    assert any(n.startswith("FAIL") for n in names) and not any(n.startswith("OK (") for n in names)
    assert view.figure["layout"]["xaxis"]["type"] == "date"
    # the same controls again: nothing to send but the messages and the URL
    again = overview_view(Controls(["NIR_J", "NIR_H"], ["FAIL", "WARN"], "any", "", "", "", "time", "NIR_J"), data,
                          warn=WARN, fail=FAIL, max_points=3000, drawn=view.drawn)
    assert again.figure is None and again.counts is None and again.search == view.search
    # another tab: the figure only
    tab = overview_view(Controls(["NIR_J", "NIR_H"], ["FAIL", "WARN"], "any", "", "", "", "obsid", "NIR_H"), data,
                        warn=WARN, fail=FAIL, max_points=3000, drawn=view.drawn)
    assert tab.counts is None and "NIR_H" in tab.figure["layout"]["title"]["text"]
    assert tab.figure["layout"]["xaxis"].get("type") != "date"
    assert tab.search.endswith("&x=obsid&trend=NIR_H")


def test_view_of_no_filter_and_no_status_says_it_shows_all():
    data = tables(NIR_Y=series().assign(filter="NIR_Y"), NIR_J=series(), NIR_H=series().assign(filter="NIR_H"))
    view = overview_view(Controls([], [], "any", "", "", "", "time", "NIR_Y"), data, warn=WARN, fail=FAIL,
                         max_points=None)
    assert "No filter selected: showing all filters." in view.problems
    assert "No status selected: showing all statuses." in view.problems
    assert set(view.counts.counts) == {"NIR_Y", "NIR_J", "NIR_H"} and view.counts.total == 3 * 120
    # a tab whose filter was unticked falls back to the first selected filter
    view = overview_view(Controls(["NIR_H"], ["OK"], "any", "", "", "", "time", "NIR_Y"), data, warn=WARN,
                         fail=FAIL, max_points=None)
    assert view.trend_filter == "NIR_H"


# ------------------------------------------------------------ observation page
def test_next_flagged_and_the_queue_order():
    from dashboard.pages.observation_model import next_in_queue, queue_order
    from relphot_core.qc.flags import next_flagged as next_flagged_in

    j = compact_table(series(bad={(2, 3): (0.97, "FAIL"), (9, 1): (1.008, "WARN"), (20, 2): (None, "NODATA")}))
    h = compact_table(series(bad={(5, 1): (0.90, "FAIL")}).assign(filter="NIR_H"))
    assert next_flagged_in(j, 1000) == 1002 and next_flagged_in(j, 1002) == 1009
    assert next_flagged_in(j, 1020) is None and next_flagged_in(j, 1009, before=True) == 1002
    j = j.drop(columns="flags").assign(alarm=np.where(j["obs_id"] == 1015, "drift", ""))  # an alarm flags too
    assert next_flagged_in(j, 1009) == 1015
    queue = queue_order({"NIR_J": j, "NIR_H": h})
    # worst status first, then farthest from 1: FAIL 0.90, FAIL 0.97, WARN, NODATA, the alarm (an OK status)
    assert queue == [(1005, "NIR_H"), (1002, "NIR_J"), (1009, "NIR_J"), (1020, "NIR_J"), (1015, "NIR_J")]
    assert next_in_queue(queue, 1002, "NIR_J") == (1009, "NIR_J")
    assert next_in_queue(queue, 1003, "NIR_J") == (1005, "NIR_H")  # not queued: the head
    assert next_in_queue(queue, 1015, "NIR_J") == (1005, "NIR_H")  # the last one: the queue goes round
    assert next_in_queue([(1015, "NIR_J")], 1015, "NIR_J") is None  # nothing else waits
    assert next_in_queue([], 1015, "NIR_J") is None
    j.loc[j["obs_id"] == 1002, "reviewed"] = True  # reviewed: out of the queue
    assert (1002, "NIR_J") not in queue_order({"NIR_J": j})


def test_back_links_lead_only_to_pages_of_the_dashboard():
    from dashboard.pages.observation_model import back_link, with_back

    assert back_link(None) == ("Overview", "/")
    assert back_link("/?filter=NIR_J&status=FAIL") == ("Overview", "/?filter=NIR_J&status=FAIL")
    assert back_link("%2Ftriage") == ("Problem queue", "/triage")
    for hostile in ("//evil.example/", "https://evil.example/", "javascript:alert(1)", "/observation/1"):
        assert back_link(hostile) == ("Overview", "/")
    href = with_back("/observation/7?filter=NIR_J", "/?filter=NIR_J,NIR_H&status=FAIL")
    assert href == "/observation/7?filter=NIR_J&back=/%3Ffilter=NIR_J,NIR_H%26status=FAIL"
    assert with_back("/observation/7", None) == "/observation/7"


def test_filter_summary_and_worst_filter_first():
    from dashboard.pages.observation_model import filter_summary, worst_first
    from relphot_core.testing.synth import make_result

    y = make_result(7, "NIR_Y", values=[1.0, 1.0, 1.0, 1.0])
    j = make_result(7, "NIR_J", values=[1.0, 1.0, 0.99, 1.0])
    h = make_result(7, "NIR_H", values=[1.0, 0.95, 1.0, None])
    summary = filter_summary(h)
    assert summary.worst == "FAIL" and summary.worst_dither == 2 and summary.worst_value == pytest.approx(0.95)
    assert sum(summary.counts.values()) == 4 and summary.counts.get("NODATA") == 1
    assert [r.filter for r in worst_first([y, j, h])] == ["NIR_H", "NIR_J", "NIR_Y"]
