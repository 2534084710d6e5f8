"""Figures of the detector page: the period's median offset per detector as
the 4x4 NISP focal plane, and one detector's offsets over time with the
WARN / FAIL bands and the control-chart alarms.

Pure builders: numpy arrays and data frames in, plotly figure dicts out
(no I/O, no store). Offsets are shown in mmag, positive = fainter.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from relphot_core.config import DETECTORS
from relphot_core.status import OUT_OF_LIMITS, Status

from ..style import BAND_FAIL, BAND_WARN, DRIFT_COLOUR, STATUS_COLOURS, STATUS_SYMBOLS
from .common import AXIS, empty_figure, esc, layout_dict
from .observation import DIVERGING

UNIX_EPOCH_MJD = 40587.0
"""MJD of 1970-01-01."""

SERIES_MAX_POINTS = 3000
"""Unflagged offsets drawn one by one up to this many; binned beyond."""

FLAGGED_FRAME_FRACTION = 0.005
"""A detector whose median is OK is framed (purple) when more than this
fraction of its exposures of the period are flagged: a few false alarms
among a survey's 160,000 offsets are no reason to look at it."""

FLAGGED_MAX_POINTS = 1000
"""Flagged offsets drawn one by one, the largest pulls first when more (a
long-bad detector of a survey has thousands: each SVG marker costs the
browser's redraw)."""


def mmag_limits(fraction: float) -> tuple[float, float]:
    """A flux-fraction limit as magnitude offsets (mmag): (brighter, fainter),
    e.g. 1.5 % -> (-16.17, +16.41)."""
    return -2500 * math.log10(1 + fraction), -2500 * math.log10(1 - fraction)


def _compact(count: int) -> str:
    """1234 -> "1.2k" (cell text that fits a detector)."""
    return f"{count:,}" if count < 1000 else f"{count / 1000:.1f}k"


PLANE_SHOWS: dict[str, str] = {"median": "median offset", "worst": "worst offset"}
"""What the focal plane's tiles show: the period's median offset of each
detector, or its worst one (one bad exposure of a detector then frames its tile)."""


def focal_plane_figure(summary: pd.DataFrame, *, selected: int | None = None, limit: float | None = None,
                       title: str = "", height: int = 430, show: str = "median") -> dict:
    """The period's median (or worst) offset per detector as the 4x4 focal plane.

    Parameters
    ----------
    summary : pandas.DataFrame
        `relphot_core.detector_qc.detector_summary` rows (detector,
        median_mmag, error_mmag, count, flagged, status).
    selected : int, optional
        The detector whose series is shown (outlined in black).
    limit : float, optional
        Symmetric colour limit (mmag); default from the values (>= 5).
    title : str
    show : str
        ``"median"``: each tile is the period's median offset, framed when
        that median is WARN / FAIL; ``"worst"``: its worst offset (the
        worst status, then the largest), framed when that one offset is
        WARN / FAIL, with its observation (`PLANE_SHOWS`).

    Returns
    -------
    dict
        A plotly figure; each cell's ``customdata`` starts with its detector
        number (a click opens that detector's series).
    """
    if show not in PLANE_SHOWS:
        raise ValueError(f"show must be one of {', '.join(PLANE_SHOWS)}, not {show!r}")
    worst = show == "worst"
    value_column, error_column, status_column = (("worst_mmag", "worst_error_mmag", "worst_status") if worst
                                                 else ("median_mmag", "error_mmag", "status"))
    if summary is None or summary.empty or not (summary["count"] > 0).any():
        return empty_figure("No detector offsets in this period.", height=height, title=title).to_plotly_json()
    rows = {int(d): r for d, r in zip(summary["detector"], summary.to_dict("records"))}
    z = np.full((4, 4), np.nan)
    text = [["" for _ in range(4)] for _ in range(4)]
    custom = [[[0, 0, 0, "", ""] for _ in range(4)] for _ in range(4)]
    for det in DETECTORS:
        r, c = det // 10 - 1, det % 10 - 1
        row = rows.get(det)
        if row is None:
            continue
        value, error, count, flagged, status = (row[value_column], row[error_column], int(row["count"]),
                                                int(row["flagged"]), str(row[status_column]))
        z[r, c] = value
        head = f"<b>{det}</b>" + (" <b>!</b>" if status in OUT_OF_LIMITS else "")
        digits = 2 if np.isfinite(error) and error < 0.1 else 1
        body = "—" if not np.isfinite(value) else f"{value:+.{digits}f} ± {error:.{digits}f}"
        where = (f"<br>obs {int(row['worst_obs'])} d{int(row['worst_exposure'])}"
                 if worst and int(row.get("worst_obs", -1)) >= 0 and np.isfinite(value) else "")
        text[r][c] = f"{head}<br>{body}" + (where or (f"<br>{_compact(flagged)} flagged" if flagged else ""))
        custom[r][c] = [det, count, flagged, status, "—" if not np.isfinite(error) else f"{error:.2f}"]
    finite = np.abs(z[np.isfinite(z)])
    if limit is None:
        limit = max(5.0, float(finite.max()) if finite.size else 5.0)
    traces = [dict(
        type="heatmap", z=z.tolist(), x=[1, 2, 3, 4], y=[1, 2, 3, 4], text=text, texttemplate="%{text}",
        textfont=dict(size=11), customdata=custom, colorscale=DIVERGING, zmin=-limit, zmax=limit, zmid=0,
        xgap=3, ygap=3, colorbar=dict(title=dict(text="mmag"), thickness=12),
        hovertemplate=f"detector %{{customdata[0]}}<br>{PLANE_SHOWS[show]} %{{z:+.2f}} ± %{{customdata[4]}} mmag<br>"
                      "%{customdata[1]:,} exposures, %{customdata[2]:,} flagged<br>status %{customdata[3]}"
                      "<br>click: its series<extra></extra>",
        name="detectors")]
    by_detector = summary.set_index("detector")
    framed = [d for d in DETECTORS if by_detector[status_column].get(d) in OUT_OF_LIMITS]
    if framed:  # a frame in the status colour around each detector whose median (or worst offset) is flagged
        traces.append(dict(
            type="scatter", x=[d % 10 for d in framed], y=[d // 10 for d in framed], mode="markers",
            marker=dict(symbol="square-open", size=70, line=dict(width=5),
                        color=[STATUS_COLOURS[by_detector[status_column][d]] for d in framed]),
            hoverinfo="skip", showlegend=False, name="flagged detector"))
    fraction = by_detector["flagged"] / by_detector["count"].clip(lower=1)
    with_flags = [d for d in DETECTORS if d not in framed and by_detector["flagged"].get(d, 0) > 0
                  and fraction.get(d, 0.0) > FLAGGED_FRAME_FRACTION]
    if with_flags:  # a thinner frame: some of its exposures are flagged (status or alarm), not its median
        traces.append(dict(
            type="scatter", x=[d % 10 for d in with_flags], y=[d // 10 for d in with_flags], mode="markers",
            marker=dict(symbol="square-open", size=64, line=dict(width=2.5), color=DRIFT_COLOUR),
            hoverinfo="skip", showlegend=False, name="detector with flagged exposures"))
    if selected in DETECTORS:
        traces.append(dict(
            type="scatter", x=[selected % 10], y=[selected // 10], mode="markers",
            marker=dict(symbol="square-open", size=80, color="#1f2933", line=dict(width=2)),
            hoverinfo="skip", showlegend=False, name="selected detector"))
    layout = layout_dict(title=title or None, height=height)
    layout["xaxis"] = dict(AXIS, showticklabels=False, showgrid=False, showline=False, ticks="",
                           range=[0.5, 4.5], constrain="domain", fixedrange=True)
    layout["yaxis"] = dict(AXIS, showticklabels=False, showgrid=False, showline=False, ticks="",
                           range=[4.5, 0.5], scaleanchor="x", constrain="domain", fixedrange=True)
    layout["margin"] = dict(l=10, r=10, t=56 if title else 16, b=10)
    layout["showlegend"] = False
    return dict(data=traces, layout=layout)


def _band_shapes(warn: float, fail: float) -> list[dict]:
    """Shaded WARN and FAIL zones of the offset (mmag) and the zero line."""
    warn_low, warn_high = mmag_limits(warn)
    fail_low, fail_high = mmag_limits(fail)
    far = 1e4
    zones = [(warn_high, fail_high, BAND_WARN), (fail_low, warn_low, BAND_WARN),
             (fail_high, far, BAND_FAIL), (-far, fail_low, BAND_FAIL)]
    shapes = [dict(type="rect", xref="x domain", yref="y", x0=0, x1=1, y0=low, y1=high, fillcolor=colour,
                   line=dict(width=0), layer="below") for low, high, colour in zones]
    shapes.append(dict(type="line", xref="x domain", yref="y", x0=0, x1=1, y0=0, y1=0,
                       line=dict(color="#3e4c59", width=1.2), layer="below"))
    return shapes


def _binned(xs: np.ndarray, ys: np.ndarray, n_bins: int, n_total: int) -> list[dict]:
    """Median and 1-99 % envelope of many offsets in equal bins along x."""
    good = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[good], ys[good]
    if xs.size == 0:
        return []
    start, width = xs.min(), (xs.max() + 1e-9 - xs.min()) / n_bins
    index = np.clip(((xs - start) / width).astype(np.int64), 0, n_bins - 1)
    order = np.lexsort((ys, index))
    ys_sorted = ys[order]
    counts = np.bincount(index, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    full = counts > 0
    counts, starts = counts[full], starts[full]

    def quantile(q: float) -> np.ndarray:
        return ys_sorted[starts + np.floor(q * (counts - 1)).astype(np.int64)]

    low, centre, high = quantile(0.01), quantile(0.5), quantile(0.99)
    mid = np.bincount(index, weights=xs, minlength=n_bins)[full] / counts
    return [
        dict(type="scatter", x=np.concatenate([mid, mid[::-1]]).tolist(),
             y=np.concatenate([high, low[::-1]]).round(3).tolist(), fill="toself", mode="lines",
             line=dict(width=0), fillcolor="rgba(0, 158, 115, 0.22)", hoverinfo="skip",
             name=f"offsets ({n_total:,}): binned median, 1-99 %"),
        dict(type="scatter", x=mid.tolist(), y=centre.round(3).tolist(), mode="lines",
             line=dict(color=STATUS_COLOURS[Status.OK], width=1.5), name="binned median",
             hovertemplate="%{x}<br>binned median %{y:+.2f} mmag<extra></extra>"),
    ]


def _hover(obs_id: np.ndarray, dither: np.ndarray, offset: np.ndarray, error: np.ndarray,
           status: np.ndarray, reason: np.ndarray) -> list[str]:
    texts = []
    for o, d, v, err, s, why in zip(obs_id.tolist(), dither.tolist(), offset.tolist(), error.tolist(),
                                   status.tolist(), reason.tolist()):
        value = "no offset" if not np.isfinite(v) else (f"{v:+.1f}" + (f" ± {err:.1f}" if np.isfinite(err) else ""))
        text = f"obs {o} · dither {d}<br>offset {value} mmag<br>status {esc(s)}"
        if why:
            text += "<br>" + esc(why)
        texts.append(text)
    return texts


def detector_series_figure(series: dict[str, np.ndarray], *, detector: int, warn: float, fail: float,
                           filter_name: str = "", max_points: int = SERIES_MAX_POINTS,
                           height: int = 470) -> dict:
    """One detector's offsets (mmag) against time.

    Parameters
    ----------
    series : dict of numpy.ndarray
        The detector's rows in time order: ``obs_id``, ``exposure``,
        ``mjd_obs``, ``offset`` (mag), ``error`` (mag), ``status`` (str),
        ``alarm`` ("" / "outside control limits" / "drift"), ``reason``
        (the alarm's text).
    detector : int
    warn, fail : float
        Flux-fraction limits of the detector statuses (``Config().detectors``).
    filter_name : str
    max_points : int
        Unflagged offsets beyond this many are drawn binned (median and
        1-99 % envelope per bin); flagged ones are always drawn one by one
        (at most `FLAGGED_MAX_POINTS`, the largest pulls).

    Returns
    -------
    dict
        A plotly figure.
    """
    title = f"Detector {detector} of {filter_name}: offset against its exposure"
    n = len(series.get("offset", ()))
    if n == 0:
        return empty_figure(f"No offsets of detector {detector} in this period.", height=height,
                            title=title).to_plotly_json()
    mjd = np.asarray(series["mjd_obs"], dtype=float)
    when = (mjd - UNIX_EPOCH_MJD) * 86_400_000.0  # ms since 1970: a date axis without strings
    offset = 1000 * np.asarray(series["offset"], dtype=float)
    error = 1000 * np.asarray(series["error"], dtype=float)
    status = np.asarray(series["status"]).astype(str)
    alarm = np.asarray(series["alarm"], dtype=object)
    reason = np.asarray(series["reason"], dtype=object)
    bad_status = np.isin(status, OUT_OF_LIMITS)
    alarmed = alarm != ""
    flagged = bad_status | alarmed
    traces: list[dict] = []
    # every offset without a WARN / FAIL status, alarms included (they get a ring on top)
    plain = np.flatnonzero(~bad_status & np.isfinite(offset))
    if plain.size > max_points:
        traces += _binned(when[plain], offset[plain], 160, plain.size)
    elif plain.size:
        traces.append(dict(
            type="scatter", x=when[plain].tolist(), y=offset[plain].round(3).tolist(), mode="markers",
            name=f"offsets ({plain.size:,})", marker=dict(size=5, color=STATUS_COLOURS[Status.OK], opacity=0.7),
            error_y=dict(type="data", array=error[plain].round(3).tolist(), visible=plain.size <= 300,
                         thickness=1, width=0, color=STATUS_COLOURS[Status.OK]),
            customdata=series["obs_id"][plain].tolist(),
            hovertemplate="obs %{customdata} · %{x}<br>offset %{y:+.1f} mmag<extra></extra>"))
    shown = np.flatnonzero(flagged)
    n_status = {name: int(np.count_nonzero(status[shown] == name)) for name in (Status.FAIL, Status.WARN)}
    n_alarms = int(np.count_nonzero(alarmed))
    if shown.size > FLAGGED_MAX_POINTS:
        with np.errstate(invalid="ignore", divide="ignore"):
            pulls = np.nan_to_num(np.abs(offset[shown] / error[shown]), nan=0.0)
        shown = np.sort(shown[np.argsort(-pulls, kind="stable")[:FLAGGED_MAX_POINTS]])
    texts = np.array(_hover(series["obs_id"][shown], series["exposure"][shown], offset[shown], error[shown],
                            status[shown], reason[shown]) if shown.size else [], dtype=object)
    for name in (Status.FAIL, Status.WARN):
        pick = status[shown] == name
        if pick.any():
            rows = shown[pick]
            drawn = "" if rows.size == n_status[name] else f"; {rows.size:,} largest drawn"
            traces.append(dict(
                type="scatter", x=when[rows].tolist(), y=offset[rows].round(3).tolist(), mode="markers",
                name=f"{name} ({n_status[name]:,}{drawn})",
                marker=dict(size=8, color=STATUS_COLOURS[name], symbol=STATUS_SYMBOLS[name]),
                error_y=dict(type="data", array=np.nan_to_num(error[rows]).round(3).tolist(),
                             visible=bool(rows.size <= 300), thickness=1, width=0, color=STATUS_COLOURS[name]),
                customdata=series["obs_id"][rows].tolist(), text=texts[pick].tolist(),
                hovertemplate="%{text}<extra></extra>"))
    ringed = alarmed[shown]
    if ringed.any():
        rows = shown[ringed]
        traces.append(dict(
            type="scatter", x=when[rows].tolist(), y=np.nan_to_num(offset[rows]).round(3).tolist(), mode="markers",
            name=f"control-chart alarm ({n_alarms:,}" + ("" if rows.size == n_alarms else f"; {rows.size:,} drawn")
                 + ")",
            marker=dict(size=13, symbol="circle-open-dot", color=DRIFT_COLOUR, line=dict(width=2, color=DRIFT_COLOUR)),
            customdata=series["obs_id"][rows].tolist(), text=texts[ringed].tolist(),
            hovertemplate="%{text}<extra></extra>"))
    fail_low, fail_high = mmag_limits(fail)
    finite = offset[np.isfinite(offset)]
    low, high = 2 * fail_low, 2 * fail_high
    if finite.size:
        q_low, q_high = np.percentile(finite, [0.1, 99.9]) if finite.size > 1000 else (finite.min(), finite.max())
        low, high = min(low, float(q_low)), max(high, float(q_high))
    pad = 0.08 * (high - low)
    layout = layout_dict(title=title, height=height)
    layout["shapes"] = _band_shapes(warn, fail)
    # dates of the exposures (UTC): the ticks say it, no axis title (the legend sits below)
    layout["xaxis"] = dict(AXIS, type="date", hoverformat="%Y-%m-%d %H:%M UTC")
    layout["yaxis"] = dict(AXIS, title=dict(text="offset (mmag, + = fainter)"), range=[low - pad, high + pad])
    layout["margin"] = dict(l=70, r=20, t=48, b=40)
    # below the plot: three entries with counts do not fit beside the title
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.16, xanchor="left", x=0.0, font=dict(size=12))
    return dict(data=traces, layout=layout)


MULTIPLES_BINS = 48
"""Time bins of each small multiple's median line."""
MULTIPLES_FLAGGED = 150
"""Flagged offsets drawn per small multiple (the largest pulls when more)."""


def detector_multiples_figure(rows: dict[int, dict[str, np.ndarray]], *, warn: float, fail: float,
                              title: str = "", selected: int | None = None, height: int = 620) -> dict:
    """The 16 detectors' offsets over time side by side, as the focal plane
    (row 1 on top): each panel a median line over time bins of its
    unflagged offsets and its flagged ones (WARN / FAIL status, or a
    control-chart alarm, as the focal plane counts them) one by one (the largest
    `MULTIPLES_FLAGGED` pulls), on shared axes (mmag, + = fainter; offsets
    beyond the range pinned at its edge). A panel's title counts its
    flagged exposures, so one bad exposure of a detector shows. Each
    point's ``customdata`` is ``[detector, obs_id]``.

    Parameters
    ----------
    rows : dict
        Detector number -> its rows in time order (`detector_series_figure`'s ``series``).
    warn, fail : float
        Flux-fraction limits of the detector statuses.
    """
    present = {d: r for d, r in rows.items() if len(r.get("offset", ()))}
    if not present:
        return empty_figure("No detector offsets in this period.", height=260, title=title).to_plotly_json()
    mjd_all = np.concatenate([np.asarray(r["mjd_obs"], dtype=float) for r in present.values()])
    start, stop = float(np.nanmin(mjd_all)), float(np.nanmax(mjd_all))
    edges = np.linspace(start, stop + 1e-6, MULTIPLES_BINS + 1)
    fail_low, fail_high = mmag_limits(fail)
    warn_low, warn_high = mmag_limits(warn)
    low, high = 2 * fail_low, 2 * fail_high
    layout = layout_dict(title=title or None, height=height)
    layout.pop("xaxis"), layout.pop("yaxis")
    layout["margin"] = dict(l=60, r=16, t=56 if title else 24, b=36)
    layout["showlegend"] = False
    traces: list[dict] = []
    annotations = []
    shapes = []
    gap = 0.03
    for det in DETECTORS:
        r, c = det // 10 - 1, det % 10 - 1
        k = r * 4 + c + 1
        axis = "" if k == 1 else str(k)
        x_domain = [c / 4 + gap / 2, (c + 1) / 4 - gap / 2]
        y_domain = [1 - (r + 1) / 4 + gap, 1 - r / 4 - gap / 2]
        layout[f"xaxis{axis}"] = dict(AXIS, domain=x_domain, anchor=f"y{axis}", type="date",
                                      range=[(start - UNIX_EPOCH_MJD) * 86_400_000.0,
                                             (stop - UNIX_EPOCH_MJD) * 86_400_000.0],
                                      showticklabels=r == 3, nticks=3, tickfont=dict(size=10))
        layout[f"yaxis{axis}"] = dict(AXIS, domain=y_domain, anchor=f"x{axis}", range=[low, high], zeroline=True,
                                      zerolinecolor="#9aa5b1", showticklabels=c == 0, nticks=5,
                                      tickfont=dict(size=10))
        for y0, y1 in ((warn_high, fail_high), (fail_low, warn_low)):
            shapes.append(dict(type="rect", xref=f"x{axis} domain", yref=f"y{axis}", x0=0, x1=1, y0=y0, y1=y1,
                               fillcolor=BAND_WARN, line=dict(width=0), layer="below"))
        for y0, y1 in ((fail_high, 10 * high), (10 * low, fail_low)):
            shapes.append(dict(type="rect", xref=f"x{axis} domain", yref=f"y{axis}", x0=0, x1=1, y0=y0, y1=y1,
                               fillcolor=BAND_FAIL, line=dict(width=0), layer="below"))
        series = present.get(det)
        n_flagged = 0
        if series is not None:
            mjd = np.asarray(series["mjd_obs"], dtype=float)
            offset = 1000 * np.asarray(series["offset"], dtype=float)
            error = 1000 * np.asarray(series["error"], dtype=float)
            status = np.asarray(series["status"]).astype(str)
            alarm = np.asarray(series.get("alarm", np.full(offset.size, "")), dtype=object) != ""
            # flagged as on the focal plane: a WARN / FAIL status or a control-chart alarm
            bad = (np.isin(status, OUT_OF_LIMITS) | alarm) & np.isfinite(offset)
            n_flagged = int(bad.sum())
            status = np.where(np.isin(status, OUT_OF_LIMITS), status, "alarm")
            plain = ~bad & np.isfinite(offset)
            which = np.clip(np.digitize(mjd[plain], edges) - 1, 0, MULTIPLES_BINS - 1)
            order = np.argsort(which, kind="stable")
            values, first = offset[plain][order], np.searchsorted(which[order], np.arange(MULTIPLES_BINS))
            last = np.append(first[1:], values.size)
            medians = np.array([np.median(values[a:b]) if b > a else np.nan for a, b in zip(first, last)])
            centres = 0.5 * (edges[:-1] + edges[1:])
            traces.append(dict(type="scatter", mode="lines", xaxis=f"x{axis}", yaxis=f"y{axis}",
                               x=((centres - UNIX_EPOCH_MJD) * 86_400_000.0).tolist(),
                               y=np.clip(medians, low, high).round(3).tolist(), connectgaps=False,
                               line=dict(color="#0072B2", width=1.5), name=f"{det} median",
                               hovertemplate=f"detector {det}<br>%{{x|%Y-%m-%d}}: median %{{y:+.2f}} mmag"
                                             "<extra></extra>", customdata=[[det, 0]] * MULTIPLES_BINS))
            shown = np.flatnonzero(bad)
            if shown.size > MULTIPLES_FLAGGED:
                with np.errstate(invalid="ignore", divide="ignore"):
                    pulls = np.nan_to_num(np.abs(offset[shown] / error[shown]), nan=0.0)
                shown = np.sort(shown[np.argsort(-pulls, kind="stable")[:MULTIPLES_FLAGGED]])
            for name, colour, symbol in (("alarm", DRIFT_COLOUR, "circle-open-dot"),
                                         (Status.WARN, STATUS_COLOURS[Status.WARN], STATUS_SYMBOLS[Status.WARN]),
                                         (Status.FAIL, STATUS_COLOURS[Status.FAIL], STATUS_SYMBOLS[Status.FAIL])):
                pick = shown[status[shown] == name]
                if pick.size:
                    traces.append(dict(
                        type="scatter", mode="markers", xaxis=f"x{axis}", yaxis=f"y{axis}",
                        x=((mjd[pick] - UNIX_EPOCH_MJD) * 86_400_000.0).tolist(),
                        y=np.clip(offset[pick], low, high).round(3).tolist(), name=f"{det} {name}",
                        marker=dict(size=7, color=colour, symbol=symbol),
                        customdata=[[det, int(o), float(v)] for o, v in zip(series["obs_id"][pick], offset[pick])],
                        hovertemplate=f"detector {det} · obs %{{customdata[1]}}<br>%{{x|%Y-%m-%d}}: "
                                      f"{'control-chart alarm' if name == 'alarm' else name} "
                                      "%{customdata[2]:+.1f} mmag"
                                      "<extra></extra>"))
        colour = STATUS_COLOURS[Status.FAIL] if n_flagged else "#52606d"
        label = f"<b>{det}</b>" + (f" · {n_flagged:,} flagged" if n_flagged else "")
        if det == selected:
            label += " (shown above)"
        annotations.append(dict(text=label, xref=f"x{axis} domain", yref=f"y{axis} domain", x=0.02, y=1.0,
                                xanchor="left", yanchor="bottom", showarrow=False, font=dict(size=11, color=colour)))
    layout["annotations"] = annotations
    layout["shapes"] = shapes
    layout["hovermode"] = "closest"
    return dict(data=traces, layout=layout)
