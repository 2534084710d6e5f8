"""Figures of one (observation, filter): its factors, its pair statistics,
the matched sources of a pair and the per-detector statistics.

Builders take `relphot_core.results` records (the contract between the
store and the dashboard) and return `plotly.graph_objects.Figure`; no I/O.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from relphot_core.config import DETECTORS
from relphot_core.results import DetectorStat, ExposureFactor, MatchSample, PairStat
from relphot_core.status import OUT_OF_LIMITS, Status

from ..style import STATUS_COLOURS, STATUS_SYMBOLS
from .common import add_bands, base_layout, empty_figure, factor_range

DIVERGING = "RdBu_r"


def _legend_below(fig: go.Figure) -> None:
    # at the figure's bottom edge, under the x title (a paper-relative
    # position would meet the title on short plots)
    fig.update_layout(legend=dict(orientation="h", x=0, xanchor="left", yref="container", y=0, yanchor="bottom"),
                      margin=dict(b=90))


def _pair_layout(fig: go.Figure, title: str, sample: MatchSample, pair: PairStat | None, height: int) -> None:
    """Layout of a per-pair plot: title (and the sample note on a second
    line, with room for it), legend below."""
    note = sample_note(sample, pair)
    base_layout(fig, title=title + note, height=height)
    if note:
        fig.update_layout(margin=dict(t=64))
    _legend_below(fig)


FACTOR_VIEWS = {"bands": "QPRELEX with the bands", "zoom": "QPRELEX, zoomed on the values",
                "pull": "pull (QPRELEX − 1) / QPRELEXE"}
"""The views of `exposure_factor_figure`."""


def factor_pulls(values: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """(QPRELEX - 1) / QPRELEXE: how many errors each factor is from 1 (NaN
    without a value or a positive error).

    Examples
    --------
    >>> factor_pulls(np.array([0.97, 1.0, 1.01]), np.array([0.01, 0.0, 0.002])).tolist()
    [-3.0000000000000027, nan, 5.000000000000004]
    """
    values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(errors > 0, (values - 1.0) / errors, np.nan)


def zoom_range(values: np.ndarray, errors: np.ndarray, *, pad: float = 0.15) -> list[float] | None:
    """A y range around the values with their error bars (None without a value)."""
    values, errors = np.asarray(values, dtype=float), np.nan_to_num(np.asarray(errors, dtype=float))
    finite = np.isfinite(values)
    if not finite.any():
        return None
    low, high = float(np.min((values - errors)[finite])), float(np.max((values + errors)[finite]))
    span = max(high - low, 1e-4)
    return [low - pad * span, high + pad * span]


def exposure_factor_figure(exposures: Sequence[ExposureFactor], *, warn: float, fail: float,
                           height: int = 300, view: str = "bands") -> go.Figure:
    """Each exposure's factor with its error bar.

    ``view`` (`FACTOR_VIEWS`): ``bands``, against 1 with the WARN / FAIL
    bands; ``zoom``, the y axis fitted to the values and their error bars
    (the bands span +-3 % and hide errors of 0.1 %); ``pull``, (QPRELEX -
    1) / QPRELEXE in errors, with lines at +-3. Exposures without a value
    (NODATA) are listed as text, never drawn as 1.
    """
    if not exposures:
        return empty_figure("This observation has no exposures.", height=height)
    if view not in FACTOR_VIEWS:
        raise ValueError(f"view must be one of {sorted(FACTOR_VIEWS)}, not {view!r}")
    fig = go.Figure()
    values = np.array([np.nan if e.value is None else e.value for e in exposures], dtype=float)
    errors = np.array([np.nan if e.error is None else e.error for e in exposures], dtype=float)
    pulls = factor_pulls(values, errors)
    if view == "pull":
        for level, dash in ((0, "solid"), (3, "dash"), (-3, "dash")):
            fig.add_hline(y=level, line=dict(color="#3e4c59", width=1.2 if level == 0 else 1, dash=dash))
    else:
        add_bands(fig, warn=warn, fail=fail)
    for exp, value, error, pull in zip(exposures, values, errors, pulls):
        label = f"dither {exp.exposure}"
        shown = pull if view == "pull" else value
        if not np.isfinite(shown):
            fig.add_annotation(x=label, y=0.0 if view == "pull" else 1.0, text="NODATA<br>(no value)"
                               if not np.isfinite(value) else "no error", showarrow=False,
                               font=dict(color=STATUS_COLOURS[Status.NODATA], size=12))
            fig.add_trace(go.Scatter(x=[label], y=[None], mode="markers", showlegend=False))
            continue
        colour = STATUS_COLOURS.get(exp.status, STATUS_COLOURS[Status.NODATA])
        bar = 1.0 if view == "pull" else (0 if not np.isfinite(error) else error)
        error_text = "—" if not np.isfinite(error) else f"{error:.4f}"
        pull_text = "" if not np.isfinite(pull) else f" ({pull:+.1f} σ from 1)"
        fig.add_trace(go.Scatter(
            x=[label], y=[shown], mode="markers", showlegend=False,
            error_y=dict(type="data", array=[bar], color=colour, thickness=1.6, width=6),
            marker=dict(size=13, color=colour, symbol=STATUS_SYMBOLS.get(exp.status, "circle"),
                        line=dict(width=1.5, color=colour)),
            hovertemplate=(f"dither {exp.exposure}<br>QPRELEX {value:.4f} ± {error_text}{pull_text}<br>"
                           f"{exp.status}<extra></extra>")))
    titles = {"bands": "Factor per exposure (1 = consistent)", "zoom": "Factor per exposure, zoomed",
              "pull": "Pull per exposure: (QPRELEX − 1) / QPRELEXE"}
    base_layout(fig, title=titles[view], height=height)
    if view == "pull":
        finite = pulls[np.isfinite(pulls)]
        reach = max(4.0, float(np.max(np.abs(finite))) + 1.5) if finite.size else 4.0
        fig.update_yaxes(title_text="pull (σ; − = fainter)", range=[-reach, reach], zeroline=False)
    elif view == "zoom":
        fig.update_yaxes(title_text="QPRELEX", range=zoom_range(values, errors), tickformat=".4f")
    else:
        fig.update_yaxes(title_text="QPRELEX", range=factor_range(values, errors, fail=fail), tickformat=".3f")
    fig.update_xaxes(type="category")
    return fig


def colour_limit(values: np.ndarray, limit: float | None) -> float:
    """Half range (mmag) of a diverging colour scale: ``limit`` when given
    (the same on every page, so observations compare by eye), else the
    largest ``|value|``, at least 5."""
    if limit is not None and limit > 0:
        return float(limit)
    return max(5.0, float(np.nanmax(np.abs(values)))) if np.isfinite(values).any() else 5.0


def pair_matrix_figure(pairs: Sequence[PairStat], dithers: Sequence[int], *, height: int = 340,
                       limit: float | None = None) -> go.Figure:
    """Heat map of the clipped median dm = m(a) - m(b) (mmag) of every pair.

    Row a, column b holds the median of m(a) - m(b); the matrix is
    antisymmetric. Pairs left out (too few matches) are shown as "n/a".
    ``limit``: see `colour_limit` (values beyond it saturate; the cells give
    their value). Each cell's ``customdata`` is its pair as the page's pair
    menu names it, oriented as the cell (``"a-b"`` for row a, column b, so
    a lower-triangle cell is ``"b-a"`` of the stored pair a-b; empty on the
    diagonal): a click on a cell shows that pair's plots with the sign the
    cell shows.
    """
    dithers = list(dithers)
    if not pairs or len(dithers) < 2:
        return empty_figure("No pair statistics for this observation.", height=height)
    index = {d: i for i, d in enumerate(dithers)}
    k = len(dithers)
    z = np.full((k, k), np.nan)
    text = [["" for _ in range(k)] for _ in range(k)]
    keys = [["" for _ in range(k)] for _ in range(k)]
    for pair in pairs:
        if pair.exposure_a not in index or pair.exposure_b not in index:
            continue
        a, b = index[pair.exposure_a], index[pair.exposure_b]
        keys[a][b], keys[b][a] = f"{pair.exposure_a}-{pair.exposure_b}", f"{pair.exposure_b}-{pair.exposure_a}"
        if pair.median is None or not pair.valid:
            text[a][b] = text[b][a] = f"n/a<br>({pair.n_kept} kept)"
            continue
        z[a, b], z[b, a] = 1000 * pair.median, -1000 * pair.median
        text[a][b] = f"{1000 * pair.median:+.1f}<br>n={pair.n_kept}"
        text[b][a] = f"{-1000 * pair.median:+.1f}<br>n={pair.n_kept}"
    for i in range(k):
        text[i][i] = "—"
    limit = colour_limit(z, limit)
    labels = [f"dither {d}" for d in dithers]
    fig = go.Figure(go.Heatmap(
        z=z, x=labels, y=labels, text=text, texttemplate="%{text}", colorscale=DIVERGING, customdata=keys,
        zmin=-limit, zmax=limit, zmid=0, colorbar=dict(title=dict(text="mmag"), thickness=12),
        hovertemplate="%{y} − %{x}: median dm %{z:.2f} mmag (+ = %{y} fainter)<br>click for this pair's plots"
                      "<extra></extra>"))
    base_layout(fig, title="Pair medians: dm of row − column (mmag, + = row fainter)",
                height=height)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(side="bottom")
    return fig


def sample_note(sample: MatchSample, pair: PairStat | None) -> str:
    """Title suffix saying the plot shows a subsample of the pair's matches
    (its counts then differ from the pair's statistics)."""
    if pair is None or not pair.n_matched or sample.dm.size >= pair.n_matched:
        return ""
    return f"<br><sup>a sample of {sample.dm.size:,} of the pair's {pair.n_matched:,} matches</sup>"


def _pair_names(sample: MatchSample) -> tuple[str, str]:
    return f"dither {sample.exposure_a}", f"dither {sample.exposure_b}"


def pair_histogram_figure(sample: MatchSample | None, pair: PairStat | None, *, height: int = 320) -> go.Figure:
    """Histogram of dm = m(a) - m(b) of one pair, kept and rejected, with
    the clipping limits and the clipped median."""
    if sample is None or sample.dm.size == 0:
        return empty_figure("No matched sources stored for this pair.", height=height)
    dm = 1000 * np.asarray(sample.dm, dtype=float)
    kept = np.asarray(sample.kept, dtype=bool)
    finite = np.isfinite(dm)
    lo, hi = np.percentile(dm[finite], [0.5, 99.5]) if finite.any() else (-50, 50)
    if pair is not None and pair.clip_low is not None and pair.clip_high is not None:
        lo = min(lo, 1000 * pair.clip_low * 1.3)
        hi = max(hi, 1000 * pair.clip_high * 1.3)
    bins = dict(start=lo, end=hi, size=max((hi - lo) / 60, 0.1))
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=dm[kept], xbins=bins, name=f"kept ({int(kept.sum())})",
                               marker_color="#0072B2", opacity=0.85))
    fig.add_trace(go.Histogram(x=dm[~kept], xbins=bins, name=f"rejected ({int((~kept).sum())})",
                               marker_color="#D55E00", opacity=0.85))
    if pair is not None:
        for value, label in ((pair.clip_low, "clip"), (pair.clip_high, "clip"), (pair.median, "median")):
            if value is not None:
                fig.add_vline(x=1000 * value, line=dict(color="#1f2933", width=1.4,
                                                        dash="dash" if label == "clip" else "solid"),
                              annotation_text=label, annotation_position="top")
    a, b = _pair_names(sample)
    _pair_layout(fig, f"dm = m({a}) − m({b})", sample, pair, height)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title_text=f"dm (mmag; + = {a} fainter)", range=[lo, hi])
    fig.update_yaxes(title_text="sources")
    return fig


def running_median(x: np.ndarray, y: np.ndarray, *, window: int | None = None,
                   max_points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Running median of ``y`` along ``x``: the points sorted by x, a
    centred window of ``window`` points (default: 1/15 of them, 11 to 201),
    at most ``max_points`` points returned. Non-finite pairs are skipped;
    empty arrays for fewer than 5 points.

    Examples
    --------
    >>> x = np.arange(100.0)
    >>> mx, my = running_median(x, 2 * x, window=11)
    >>> bool(np.allclose(my, 2 * mx))
    True
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y = x[finite], y[finite]
    if x.size < 5:
        return np.zeros(0), np.zeros(0)
    order = np.argsort(x, kind="stable")
    x, y = x[order], y[order]
    window = window or int(np.clip(x.size // 15, 11, 201))
    window = min(window, x.size)
    least = max(3, window // 2)
    mx = pd.Series(x).rolling(window, center=True, min_periods=least).median().to_numpy()
    my = pd.Series(y).rolling(window, center=True, min_periods=least).median().to_numpy()
    keep = np.isfinite(mx) & np.isfinite(my)
    mx, my = mx[keep], my[keep]
    step = max(1, int(np.ceil(mx.size / max_points)))
    return mx[::step], my[::step]


def dm_range(dm_mmag: np.ndarray, pair: PairStat | None, *, pad: float = 0.25) -> list[float]:
    """The dm axis of a pair (mmag): its clipping limits, padded by ``pad``
    of their span; without them, the 1-99 % range of the values."""
    if pair is not None and pair.clip_low is not None and pair.clip_high is not None:
        low, high = 1000 * pair.clip_low, 1000 * pair.clip_high
    else:
        finite = dm_mmag[np.isfinite(dm_mmag)]
        low, high = (np.percentile(finite, [1, 99]) if finite.size else (-50.0, 50.0))
    span = max(float(high - low), 1.0)
    return [float(low) - pad * span, float(high) + pad * span]


def dm_mag_figure(sample: MatchSample | None, pair: PairStat | None, *, height: int = 320) -> go.Figure:
    """dm = m(a) - m(b) against magnitude for the matched sources of one
    pair, with the running median of the kept ones, on the clipping range
    (`dm_range`): sources beyond it are drawn as triangles at its edge and
    counted in the title ("off scale")."""
    if sample is None or sample.dm.size == 0:
        return empty_figure("No matched sources stored for this pair.", height=height)
    kept = np.asarray(sample.kept, dtype=bool)
    dm = 1000 * np.asarray(sample.dm, dtype=float)
    mag = np.asarray(sample.mag, dtype=float)
    y_range = dm_range(dm, pair)
    inset = 0.02 * (y_range[1] - y_range[0])
    with np.errstate(invalid="ignore"):
        below, above = dm < y_range[0], dm > y_range[1]
    drawn = np.where(below, y_range[0] + inset, np.where(above, y_range[1] - inset, dm))
    off = below | above
    fig = go.Figure()
    for mask, name, colour in ((kept, "kept", "#0072B2"), (~kept, "rejected", "#D55E00")):
        inside, out = mask & ~off, mask & off
        fig.add_trace(go.Scatter(x=mag[inside], y=drawn[inside], mode="markers", name=f"{name} ({int(mask.sum())})",
                                 legendgroup=name, marker=dict(size=4, color=colour, opacity=0.6),
                                 hovertemplate="mag %{x:.2f}<br>dm %{y:.1f} mmag<extra></extra>"))
        if out.any():
            fig.add_trace(go.Scatter(
                x=mag[out], y=drawn[out], mode="markers", name=f"{name} off scale", legendgroup=name,
                showlegend=False, customdata=dm[out],
                marker=dict(size=7, color=colour, symbol=np.where(below[out], "triangle-down", "triangle-up")),
                hovertemplate="mag %{x:.2f}<br>dm %{customdata:.1f} mmag (off scale)<extra></extra>"))
    mx, my = running_median(mag[kept], dm[kept])
    if mx.size:
        fig.add_trace(go.Scatter(x=mx, y=my, mode="lines", name="running median (kept)",
                                 line=dict(color="#E69F00", width=2.5),
                                 hovertemplate="mag %{x:.2f}<br>running median %{y:.2f} mmag<extra></extra>"))
    if pair is not None:
        for value in (pair.clip_low, pair.clip_high):
            if value is not None:
                fig.add_hline(y=1000 * value, line=dict(color="#1f2933", width=1, dash="dash"))
        if pair.median is not None:
            fig.add_hline(y=1000 * pair.median, line=dict(color="#1f2933", width=1.4))
    a, _ = _pair_names(sample)
    n_off = int(off.sum())
    title = "dm against magnitude" + (f" · {n_off:,} off scale" if n_off else "")
    _pair_layout(fig, title, sample, pair, height)
    fig.update_xaxes(title_text=f"magnitude in {a} (AB)")
    fig.update_yaxes(title_text="dm, mmag (+ = fainter)", range=y_range)
    return fig


def sky_figure(sample: MatchSample | None, pair: PairStat | None = None, *, height: int = 380) -> go.Figure:
    """Sky positions of the matched sources of one pair coloured by dm."""
    if sample is None or sample.dm.size == 0:
        return empty_figure("No matched sources stored for this pair.", height=height)
    kept = np.asarray(sample.kept, dtype=bool)
    dm = 1000 * np.asarray(sample.dm, dtype=float)
    finite = dm[kept & np.isfinite(dm)]
    limit = float(np.percentile(np.abs(finite), 98)) if finite.size else 20.0
    if pair is not None and pair.clip_high is not None and pair.clip_low is not None:
        limit = 1000 * max(abs(pair.clip_high), abs(pair.clip_low))
    limit = max(limit, 1.0)
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=sample.ra[kept], y=sample.dec[kept], mode="markers", name="kept",
        marker=dict(size=5, color=dm[kept], colorscale=DIVERGING, cmin=-limit, cmax=limit, cmid=0,
                    colorbar=dict(title=dict(text="dm (mmag)"), thickness=12)),
        hovertemplate="RA %{x:.5f}<br>Dec %{y:.5f}<br>dm %{marker.color:.1f} mmag<extra></extra>"))
    if (~kept).any():
        fig.add_trace(go.Scatter(x=sample.ra[~kept], y=sample.dec[~kept], mode="markers",
                                   name="rejected", marker=dict(size=6, symbol="x-thin", color="#52606d", opacity=0.7,
                                                                line=dict(width=1.2, color="#52606d")),
                                   hovertemplate="rejected<br>RA %{x:.5f}<br>Dec %{y:.5f}<extra></extra>"))
    _pair_layout(fig, f"Sky, coloured by dm (+ = dither {sample.exposure_a} fainter)", sample, pair, height)
    fig.update_xaxes(title_text="RA (deg)", autorange="reversed")
    fig.update_yaxes(title_text="Dec (deg)", scaleanchor="x",
                     scaleratio=1 / max(np.cos(np.radians(float(np.nanmean(sample.dec)))), 0.05))
    return fig


def focal_plane_figure(detectors: Sequence[DetectorStat], dithers: Sequence[int], *,
                       height: int = 330, limit: float | None = None) -> go.Figure:
    """Per-detector clipped medians (mmag) as the 4x4 NISP focal plane,
    one panel per exposure, on one symmetric colour scale (``limit``: see
    `colour_limit`).

    Detector ``10 * row + col``: row 1 is drawn at the top, column 1 at the left.
    """
    dithers = list(dithers)
    if not detectors or not dithers:
        return empty_figure("No per-detector statistics for this observation.", height=height)
    grids = {d: np.full((4, 4), np.nan) for d in dithers}
    errors = {d: np.full((4, 4), np.nan) for d in dithers}
    counts = {d: np.zeros((4, 4), dtype=int) for d in dithers}
    statuses = {d: np.full((4, 4), "", dtype=object) for d in dithers}
    for stat in detectors:
        if stat.exposure not in grids or stat.detector not in DETECTORS:
            continue
        row, col = divmod(stat.detector, 10)
        if stat.median is not None:
            grids[stat.exposure][row - 1, col - 1] = 1000 * stat.median
        if stat.error is not None:
            errors[stat.exposure][row - 1, col - 1] = 1000 * stat.error
        counts[stat.exposure][row - 1, col - 1] = stat.n
        statuses[stat.exposure][row - 1, col - 1] = stat.status or ""
    values = np.concatenate([g.ravel() for g in grids.values()])
    limit = colour_limit(values, limit)
    fig = make_subplots(rows=1, cols=len(dithers), subplot_titles=[f"dither {d}" for d in dithers],
                        horizontal_spacing=0.03)

    def cell(d: int, r: int, c: int) -> str:
        value, error, status = grids[d][r, c], errors[d][r, c], statuses[d][r, c]
        head = f"{10 * (r + 1) + c + 1}" + (" <b>!</b>" if status in OUT_OF_LIMITS else "")
        if not np.isfinite(value):
            return f"{head}<br>—"
        return f"{head}<br>{value:+.1f}" + (f"<br>±{error:.1f}" if np.isfinite(error) else "")

    for i, d in enumerate(dithers, start=1):
        text = [[cell(d, r, c) for c in range(4)] for r in range(4)]
        detector_ids = 10 * np.arange(1, 5)[:, None] + np.arange(1, 5)[None, :]
        custom = np.dstack([counts[d], np.nan_to_num(errors[d], nan=-1.0),
                            np.where(statuses[d] == "", "—", statuses[d]), detector_ids]).tolist()
        if not np.isfinite(grids[d]).any():
            # a dither without detector statistics (NODATA): its cells in grey, no hover (a panel whose values
            # are all NaN gives plotly no extent: it draws its axis lines as NaN paths, console errors)
            fig.add_trace(go.Heatmap(
                z=np.zeros((4, 4)), x=[1, 2, 3, 4], y=[1, 2, 3, 4], text=text, texttemplate="%{text}",
                textfont=dict(size=11, color="#666"), customdata=custom, colorscale=[[0, "#eeeeee"], [1, "#eeeeee"]],
                showscale=False, xgap=2, ygap=2, hoverinfo="skip", name="no detector statistics"), row=1, col=i)
            fig.layout.annotations[i - 1].text = f"dither {d}: no data"
        else:
            fig.add_trace(go.Heatmap(
                z=grids[d], x=[1, 2, 3, 4], y=[1, 2, 3, 4], text=text, texttemplate="%{text}",
                textfont=dict(size=11), customdata=custom, colorscale=DIVERGING, zmin=-limit, zmax=limit, zmid=0,
                showscale=i == len(dithers), xgap=2, ygap=2,
                colorbar=dict(title=dict(text="mmag"), thickness=12),
                hovertemplate="DET%{y}%{x}<br>median dm %{z:.2f} ± %{customdata[1]:.2f} mmag<br>"
                              "n = %{customdata[0]}<br>status %{customdata[2]}<br>click for its history"
                              "<extra></extra>"),
                row=1, col=i)
        flagged = np.argwhere(np.isin(statuses[d], OUT_OF_LIMITS))
        if flagged.size:  # a frame around each flagged detector
            fig.add_trace(go.Scatter(
                x=(flagged[:, 1] + 1).tolist(), y=(flagged[:, 0] + 1).tolist(), mode="markers",
                marker=dict(symbol="square-open", size=44, line=dict(width=3),
                            color=[STATUS_COLOURS[s] for s in statuses[d][flagged[:, 0], flagged[:, 1]]]),
                hoverinfo="skip", showlegend=False, name="flagged detector"), row=1, col=i)
        fig.update_xaxes(showticklabels=False, row=1, col=i, constrain="domain")
        fig.update_yaxes(showticklabels=False, autorange="reversed", row=1, col=i,
                         scaleanchor=f"x{i if i > 1 else ''}", constrain="domain")
    base_layout(fig, title="Per-detector median dm vs the other exposures (mmag ± error, + = fainter); "
                           "detector 11 top left; flagged framed; click one for its history",
                height=height)
    fig.update_layout(margin=dict(t=70))
    return fig
