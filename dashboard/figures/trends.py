"""Figures of the overview: factors of every exposure of one filter against
time or observation id, with their distribution in a marginal histogram on
the same QPRELEX axis (one plotly figure per filter: each figure costs the
browser ~100 ms to redraw).

Builders take the DataFrames of `relphot_core.store.Store` (``trend`` /
``exposure_table`` rows) and return `plotly.graph_objects.Figure`; they do no
I/O. Large series are aggregated server side: flagged, drifting and
reviewed exposures are drawn as their own points (the ``max_shown`` worst
when there are more), the OK ones one by one up to ``max_points`` and as a
binned median with its 1-99 % envelope beyond that. Traces are SVG: see
`SVG_LIMIT`.
"""
from __future__ import annotations

import base64
import functools

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from relphot_core.status import STATUS_ORDER, Status

from ..style import DITHER_STYLES, DRIFT_COLOUR, MEDIAN_COLOUR, REVIEW_COLOURS, STATUS_COLOURS, STATUS_SYMBOLS
from .common import AXIS, band_shapes, empty_figure, esc, factor_range, layout_dict, off_scale, to_float_array

X_LABELS = {"mjd_obs": "MJD of the exposure", "obs_id": "Observation id"}


_WANTED = ("obs_id", "exposure", "mjd_obs", "value", "error", "status", "review_decision", "reviewer",
           "flag", "flag_reason", "running_median", "control_low", "control_high")


def typed_array(values: np.ndarray) -> dict | list:
    """A numeric numpy array as a plotly.js typed-array spec (base64), the
    compact form plotly.py itself sends; other arrays as lists."""
    values = np.ascontiguousarray(values)
    kinds = {"float64": "f8", "float32": "f4", "int32": "i4", "int16": "i2", "int8": "i1", "uint8": "u1"}
    if values.dtype == np.int64:
        values = values.astype(np.int32) if values.size and abs(values).max() < 2**31 else values
    code = kinds.get(str(values.dtype))
    if code is None or values.ndim != 1:
        return values.tolist()
    return {"dtype": code, "bdata": base64.b64encode(values.tobytes()).decode("ascii")}


def _status_codes(status: pd.Series) -> np.ndarray:
    """Index in STATUS_ORDER of each row's status (len(STATUS_ORDER) if unknown)."""
    unknown = len(STATUS_ORDER)
    if isinstance(status.dtype, pd.CategoricalDtype):
        lut = np.array([STATUS_ORDER.index(c) if c in STATUS_ORDER else unknown
                        for c in status.cat.categories] + [unknown], dtype=np.int8)
        return lut[status.cat.codes.to_numpy()]
    return status.map({name: i for i, name in enumerate(STATUS_ORDER)}).fillna(unknown).to_numpy(dtype=np.int8)


def _column(series: pd.Series) -> np.ndarray | pd.Categorical:
    """A column as a numpy array, or as a `pandas.Categorical` (whose
    indexing and comparisons work on its integer codes: 100x cheaper than an
    array of Python strings at survey size)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.array
    return series.to_numpy()


def _columns(df: pd.DataFrame, x: str) -> dict[str, np.ndarray]:
    """The columns the trend needs (see `_column`), sorted along x."""
    cols = {c: _column(df[c]) for c in _WANTED if c in df.columns}
    cols["code"] = _status_codes(df["status"])
    cols["value"] = _floats(cols["value"])
    cols["error"] = _floats(cols["error"]) if "error" in cols else np.full(len(df), np.nan)
    flag = cols.get("flag")
    if flag is None:
        cols["flag"] = np.zeros(len(df), dtype=bool)
    elif flag.dtype != bool:
        cols["flag"] = np.where(pd.isna(flag), False, flag).astype(bool)
    decision = cols.get("review_decision")
    cols["reviewed"] = ~pd.isna(decision) if decision is not None else np.zeros(len(df), dtype=bool)
    xs = cols[x]
    if len(xs) > 1 and not np.all(xs[1:] >= xs[:-1]):
        order = np.lexsort((cols["exposure"], xs))
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def _hover_text(cols: dict[str, np.ndarray], idx: np.ndarray) -> list[str]:
    """One escaped hover text per selected row (review decisions included)."""
    escape = functools.lru_cache(maxsize=1024)(esc)  # statuses, decisions, reviewers repeat

    def picked(name: str) -> list:
        column = cols.get(name)
        return [None] * idx.size if column is None else np.asarray(column[idx], dtype=object).tolist()

    texts = []
    for obs, exposure, value, error, status, decision, reviewer, flag in zip(
            cols["obs_id"][idx].tolist(), cols["exposure"][idx].tolist(), cols["value"][idx].tolist(),
            cols["error"][idx].tolist(), picked("status"), picked("review_decision"), picked("reviewer"),
            picked("flag_reason")):
        if not np.isfinite(value):
            factor = "no value"
        elif not np.isfinite(error):
            factor = f"{value:.4f}"
        else:
            factor = f"{value:.4f} ± {error:.4f}"
        text = f"obs {int(obs)} · dither {int(exposure)}<br>QPRELEX {factor}<br>status {escape(status)}"
        if isinstance(decision, str):
            text += f"<br>review: {escape(decision)} by {escape(reviewer)}"
        if isinstance(flag, str) and flag:
            text += "<br>" + "<br>".join(escape(part) for part in flag.split("\n"))
        texts.append(text)
    return texts


SVG_LIMIT = 5000
"""Largest trace drawn as SVG; larger ones (only without binning, see
`dashboard.create_app`'s ``max_points``) use WebGL, which needs the full
plotly.js bundle. Below it SVG is the faster: without a GPU (software
WebGL) each WebGL plot costs ~0.3 s to set up."""


def _scatter_type(n: int) -> str:
    return "scattergl" if n > SVG_LIMIT else "scatter"


def _markers(cols: dict[str, np.ndarray], idx: np.ndarray, x: str, *, name: str, colour: str, symbol: str,
             size: float, y: np.ndarray, errors: np.ndarray | None, detailed: bool, label: str,
             group: str | None = None, line_width: float = 1.2, filter_name: str = "") -> dict:
    """A marker trace of the rows ``idx``. Detailed traces carry error bars,
    a full hover text and ``customdata = [obs_id, filter_name]`` per point
    (plain lists: dcc.Graph reads clickData's customdata from the figure's
    own data, where a typed array would be an encoded object); light ones
    obs id and value only, and a click on them is resolved from x by the
    page."""
    trace = dict(
        type=_scatter_type(len(idx)), x=cols[x][idx], y=y.astype(np.float32), mode="markers", name=name,
        # An outline only where it draws the symbol: per-point stroke styling
        # doubles the time plotly.js takes to draw filled markers.
        marker=dict(color=colour, symbol=symbol, size=size,
                    **({"line": dict(width=line_width, color=colour)} if symbol.endswith("-open") else {})),
        legendgroup=group or name,
    )
    if detailed:
        trace.update(customdata=[[obs, filter_name] for obs in cols["obs_id"][idx].astype(np.int64).tolist()],
                     text=_hover_text(cols, idx),
                     hovertemplate="%{text}<extra></extra>")
        if errors is not None:
            trace["error_y"] = dict(type="data", array=errors, visible=True, thickness=1, width=0, color=colour)
    else:
        obs = "%{x}" if x == "obs_id" else "MJD %{x:.4f}"
        trace["hovertemplate"] = f"{obs}<br>QPRELEX %{{y:.4f}}<br>{label}<extra></extra>"
    return trace


def _binned_trace(xs: np.ndarray, ys: np.ndarray, n_bins: int, n_total: int) -> list[dict]:
    """Median and 1-99 % envelope of many OK factors, in bins along x
    (vectorised: one sort, no loop over bins)."""
    xs = np.asarray(xs, dtype=float)
    finite = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[finite], ys[finite]
    if xs.size == 0:
        return []
    start, width = xs.min(), (xs.max() + 1e-9 - xs.min()) / n_bins
    index = np.clip(((xs - start) / width).astype(np.int64), 0, n_bins - 1)  # equal bins: no search
    # Sorting by bin, then y, as one sort of keys bin + fraction of y (5x
    # faster than an argsort); y comes back from the fraction.
    low_y, scale = float(ys.min()), (float(ys.max() - ys.min()) or 1.0) * (1 + 1e-9)
    if np.isfinite(scale) and scale < 1e3:  # key precision ~1e-16 x scale: exact for factors
        keys = np.sort(index + (ys - low_y) / scale)
        ys_sorted = low_y + (keys - np.floor(keys)) * scale
    else:  # absurd values among the OK ones: the exact, slower sort
        ys_sorted = ys[np.lexsort((ys, index))]
    counts = np.bincount(index, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    full = counts > 0
    counts, starts = counts[full], starts[full]

    def quantile(q: float) -> np.ndarray:
        return ys_sorted[starts + np.floor(q * (counts - 1)).astype(int)]

    low, centre, high = quantile(0.01), quantile(0.5), quantile(0.99)
    mid = np.bincount(index, weights=xs, minlength=n_bins)[full] / counts
    colour = STATUS_COLOURS[Status.OK]
    return [
        dict(type="scatter", x=np.concatenate([mid, mid[::-1]]), y=np.concatenate([high, low[::-1]]),
             fill="toself", mode="lines", line=dict(width=0), fillcolor="rgba(0, 158, 115, 0.22)",
             hoverinfo="skip", name=f"OK ({n_total:,}): median, 1-99 %", legendgroup="OK"),
        dict(type="scatter", x=mid, y=centre, mode="lines", line=dict(color=colour, width=1.5),
             name="OK binned median", legendgroup="OK", hovertemplate="binned median %{y:.4f}<extra></extra>"),
    ]


def _rgba(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` -> ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def _decimate(n: int, limit: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / limit))))


LEGEND_MARGIN = 140
"""Bottom margin (px) of the trend: x tick labels, x title and a legend of
two rows (the short entry names keep a survey's legend to two rows on an
800 px screen)."""

MARGIN_DOMAIN = (0.87, 1.0)
"""Horizontal extent (paper fraction) of the trend's marginal histogram."""


def _bin_count(values: np.ndarray, span: float) -> int:
    """Bins over ``span``: the finer of 2 sqrt(N) and the Freedman-Diaconis
    width (which follows a narrow core among a few outliers), 20 to 160."""
    n = values.size
    if n >= 6400:  # 2 sqrt(N) is at the cap already
        return 160
    bins = 2 * np.sqrt(n)
    if n >= 8:
        q25, q75 = np.percentile(values, [25, 75])
        if q75 > q25:
            bins = max(bins, span / (2 * (q75 - q25) / np.cbrt(n)))
    return int(np.clip(bins, 20, 160))


def _zone_edges(low: float, high: float, width: float, thresholds: list[float]) -> np.ndarray:
    """Bin edges from ``low`` to ``high``, at most ``width`` apart, with
    every threshold inside the range an edge: no bin straddles two zones of
    |QPRELEX - 1|. (A bin of the WARN zone may still hold OK factors: WARN
    also asks for ``warn_nsigma`` errors from 1; and a factor exactly on a
    threshold counts in the bin above it.)"""
    stops = [low] + sorted(t for t in thresholds if low < t < high) + [high]
    parts = [np.linspace(a, b, max(1, int(np.ceil((b - a) / width - 1e-9))) + 1)[:-1]
             for a, b in zip(stops[:-1], stops[1:])]
    return np.append(np.concatenate(parts), high)


def marginal_histogram(values: np.ndarray, y_range: list[float], *, warn: float, fail: float,
                       name: str = "") -> tuple[list[dict], dict, bool]:
    """Distribution of the factors along the trend's y axis.

    Parameters
    ----------
    values : numpy.ndarray
        The factors of the selected exposures (non-finite ones are skipped).
    y_range : list of float
        The trend's y range. The bins (see `_bin_count`) cover it, but never more than
        1 +- 3 ``fail`` (one far outlier would otherwise make the bins too
        coarse to show the core); values beyond the bins are counted in the
        axis title.
    warn, fail : float
        Status thresholds: each run of bins in one status zone is a filled
        step line of that zone's colour.
    name : str
        Filter name, for the hover text.

    Returns
    -------
    traces : list of dict
        Step traces on ``xaxis2`` (counts) / ``yaxis`` (QPRELEX); each
        point's ``text`` gives its bin and count.
    xaxis2 : dict
        The counts axis (log when a bin holds more than 1000 exposures).
    log : bool
        Whether the counts axis is logarithmic.
    """
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high = max(y_range[0], 1 - 3 * fail), min(y_range[1], 1 + 3 * fail)
    width = (high - low) / _bin_count(values[(values >= low) & (values <= high)], high - low)
    edges = _zone_edges(low, high, width, [1 - fail, 1 - warn, 1 + warn, 1 + fail])
    inside = (values >= edges[0]) & (values <= edges[-1])
    counts, _ = np.histogram(values[inside], bins=edges)
    beyond = int(values.size - np.count_nonzero(inside))
    deviation = np.abs(0.5 * (edges[:-1] + edges[1:]) - 1)
    zone = np.where(deviation > fail, 2, np.where(deviation > warn, 1, 0))
    breaks = np.flatnonzero(np.diff(zone)) + 1
    log = counts.size > 0 and counts.max() > 1000
    # Empty bins of a log axis sit at 0.5, left of its range (log 0 is -inf
    # and would break the line and its fill).
    lengths = np.where(counts > 0, counts, 0.5).astype(np.float32) if log else counts.astype(np.int32)
    traces = []
    for start, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [zone.size]])):
        status = (Status.OK, Status.WARN, Status.FAIL)[zone[start]]
        texts = [f"QPRELEX {edges[j]:.4f} to {edges[j + 1]:.4f}: {counts[j]:,} exposures"
                 for j in range(start, stop)]
        traces.append(dict(
            type="scatter", mode="lines", line=dict(shape="vh", width=1, color=STATUS_COLOURS[status]),
            fill="tozerox", fillcolor=_rgba(STATUS_COLOURS[status], 0.7), name=f"distribution {status}",
            showlegend=False, x=np.append(lengths[start:stop], lengths[stop - 1]), y=edges[start:stop + 1],
            text=texts + texts[-1:], hovertemplate="%{text}<extra>" + esc(name) + "</extra>",
            xaxis="x2", yaxis="y"))
    top = float(counts.max()) if counts.size and counts.max() > 0 else 1.0
    title = "exposures" + (f"<br>{beyond:,} beyond 1 ± {3 * fail:.3f}" if beyond else "")
    axis = {**AXIS, "domain": list(MARGIN_DOMAIN), "anchor": "y", "title": {"text": title, "font": {"size": 12}},
            "nticks": 3, **({"type": "log", "range": [np.log10(0.8), np.log10(top * 1.6)]} if log
                            else {"range": [0, top * 1.08]})}
    return traces, axis, bool(log)


def trend_spec(df: pd.DataFrame, *, warn: float, fail: float, x: str = "mjd_obs", filter_name: str = "",
               max_points: int = 3000, n_bins: int = 300, max_detailed: int = 400, max_shown: int = 250,
               height: int = 460, chart: pd.DataFrame | None = None,
               by: str = "status", fit_all: bool = False) -> tuple[list[dict], dict] | None:
    """Traces and layout of `trend_figure` as plain dicts (numpy arrays
    inside), or None when ``df`` is empty. See `trend_figure`."""
    if df is None or len(df) == 0:
        return None
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}")
    cols = _columns(df, x)
    values, errors, codes = cols["value"], cols["error"], cols["code"]
    y_range = factor_range(values, errors, fail=fail, fit_all=fit_all)
    y_nodata = y_range[0] + 0.04 * (y_range[1] - y_range[0])
    below, above = off_scale(values, y_range)
    span = y_range[1] - y_range[0]
    # off-scale factors are drawn pinned just inside the edge (their hover
    # and the labels give the value); the true values stay in `values`
    pinned = np.where(below, y_range[0] + 0.015 * span, np.where(above, y_range[1] - 0.015 * span, values))
    traces: list[dict] = []
    if by == "dither":  # a running median per dither position instead of the pooled one
        traces.extend(dither_medians(cols if chart is None else _columns(chart, x), x))
    else:
        traces.extend(_control_chart(cols if chart is None else _chart_columns(chart, x), x))
    special = cols["flag"] | cols["reviewed"]
    ok_code = Status.OK.rank
    candidates = (codes != ok_code) | special
    shown = _worst(cols, candidates, max_shown)
    n_hidden = int(candidates.sum() - shown.sum())
    for code, status in enumerate(STATUS_ORDER):
        mask = codes == code
        if not mask.any():
            continue
        total = int(mask.sum())
        if status == Status.OK and total > max_points:
            plain = mask & ~shown
            traces.extend(_binned_trace(cols[x][plain], values[plain], n_bins, total))
            mask = mask & shown
            if not mask.any():
                continue
        elif status != Status.OK:
            mask = mask & shown
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            continue
        nodata = status == Status.NODATA
        if idx.size == total or status == Status.OK:
            count = f"{idx.size:,}"
        else:
            count = f"{idx.size:,} of {total:,}"  # which ones: the subtitle says
        if status == Status.OK and by == "dither":  # the OK points in their dither's colour
            dithers = cols["exposure"][idx]
            for dither in np.unique(dithers):
                part = idx[dithers == dither]
                colour = DITHER_STYLES[(int(dither) - 1) % len(DITHER_STYLES) + 1][0]
                traces.append(_markers(
                    cols, part, x, name=f"OK dither {int(dither)} ({part.size:,})", colour=colour,
                    symbol=STATUS_SYMBOLS[status], size=7, y=values[part], errors=errors[part],
                    detailed=idx.size <= max_detailed, label=f"OK, dither {int(dither)}",
                    group=f"OK dither {int(dither)}", filter_name=filter_name))
            continue
        traces.append(_markers(
            cols, idx, x, name=f"{status} ({count})",
            colour=STATUS_COLOURS[status], symbol=STATUS_SYMBOLS[status], size=7 if status == Status.OK else 9,
            y=np.full(idx.size, y_nodata) if nodata else pinned[idx],
            errors=None if nodata else np.where(below[idx] | above[idx], np.nan, errors[idx]),
            detailed=idx.size <= max_detailed, label=status, group=status, filter_name=filter_name))
    decision = cols.get("review_decision")
    for mask, name, colour in (
        (_ringed(cols), FLAG_LABEL, DRIFT_COLOUR),
        (cols["reviewed"] & (decision == "confirmed") if decision is not None else None, "reviewed: confirmed",
         REVIEW_COLOURS["confirmed"]),
        (cols["reviewed"] & (decision == "overruled") if decision is not None else None, "reviewed: overruled",
         REVIEW_COLOURS["overruled"]),
    ):
        if mask is None or not (mask & shown).any():
            continue
        idx = np.flatnonzero(mask & shown)
        detailed = idx.size <= max_detailed
        y = np.where(np.isfinite(values[idx]), pinned[idx], y_nodata)
        traces.append(_markers(cols, idx, x, name=f"{name} ({idx.size})", colour=colour,
                               symbol="circle-open" if name == FLAG_LABEL else "square-open",
                               size=15 if detailed else 11, y=y, errors=None, detailed=detailed, label=name,
                               line_width=2 if detailed else 1.2, filter_name=filter_name))
    selected = values[codes != Status.NODATA.rank]
    histogram, xaxis2, _ = marginal_histogram(selected, y_range, warn=warn, fail=fail, name=filter_name)
    traces.extend(histogram)
    outside = np.flatnonzero(below | above)
    if outside.size:  # pinned: an arrow at the edge with the true value
        traces.append(dict(
            type="scatter", mode="markers+text", x=cols[x][outside][:40], y=pinned[outside][:40],
            marker=dict(symbol=np.where(below[outside][:40], "triangle-down", "triangle-up").tolist(), size=11,
                        color="#52606d"),
            text=[f"{v:.3f}" for v in values[outside][:40]],
            textposition=np.where(below[outside][:40], "top center", "bottom center").tolist(),
            textfont=dict(size=10, color="#52606d"), name=f"off scale ({outside.size})",
            hovertemplate="off scale: QPRELEX %{text}<extra></extra>", legendgroup="off scale"))
    bands = band_shapes(warn=warn, fail=fail)
    title = f"{filter_name} — QPRELEX per exposure" if filter_name else "QPRELEX per exposure"
    layout = layout_dict(title=title, height=height)
    # Fixed margins, no automargin: measuring tick labels and pushing the
    # margins cost plotly.js ~10 ms of each redraw (the y labels are .3f,
    # the x labels one line; the legend sits at the figure's bottom).
    layout.update(
        shapes=bands + [dict(shape, xref="x2 domain") for shape in bands],
        yaxis={**AXIS, "title": {"text": "QPRELEX"}, "range": y_range, "tickformat": ".3f",
               "automargin": False},
        xaxis={**AXIS, "title": {"text": X_LABELS[x]}, "tickformat": "d" if x == "obs_id" else ".1f",
               "domain": [0.0, MARGIN_DOMAIN[0] - 0.02], "automargin": False},
        xaxis2={**xaxis2, "automargin": False},
        clickmode="event", hovermode="closest", uirevision=f"{filter_name}-{x}-{by}",
        # under the plot (a survey's ten entries would run over the title),
        # anchored to the figure's bottom: a legend placed in paper
        # coordinates below the axis pushes the margin, which costs plotly.js
        # a second drawing of the first view (+0.17 s measured)
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0.0, xanchor="left", x=0.0,
                    font=dict(size=12)),
        margin=dict(l=76, r=16, t=40, b=LEGEND_MARGIN),
    )
    if (codes == Status.NODATA.rank).any():
        # the NODATA row sits at the bottom of the axis: say it is no value
        layout["annotations"] = [dict(xref="x domain", x=0.0, y=y_nodata, yref="y", xanchor="left",
                                      yanchor="bottom", yshift=6, showarrow=False, text="NODATA: no value",
                                      font=dict(size=10, color=STATUS_COLOURS[Status.NODATA]))]
    if n_hidden:
        # under the title, off the plot (where it would hide the NODATA row)
        layout["title"]["subtitle"] = dict(
            # one short line: a subtitle does not wrap (~600 px here)
            text=f"Drawn: {int(shown.sum()):,} of {int(candidates.sum()):,} flagged, an even share per kind, the "
                 "farthest from 1 first. Narrow the selection to see all.",
            font=dict(size=11, color="#52606d"))
        layout["margin"]["t"] = 58
    _one_legend_entry_per_group(traces)
    return traces, layout


def _one_legend_entry_per_group(traces: list[dict]) -> None:
    """Keep the legend entry of the first trace of each legend group only
    (in place). A horizontal legend stacks a group's entries in a column:
    the OK envelope, binned median and individually drawn OK points made a
    legend of four rows, over the x axis."""
    seen: set[str] = set()
    for trace in traces:
        group = trace.get("legendgroup")
        if group is None or trace.get("showlegend") is False:
            continue
        if group in seen:
            trace["showlegend"] = False
        seen.add(group)


def _chart_columns(chart: pd.DataFrame, x: str) -> dict[str, np.ndarray]:
    """x and the control chart's columns of ``chart``, sorted along x."""
    cols = {c: chart[c].to_numpy(dtype=float, na_value=np.nan)
            for c in (x, "running_median", "control_low", "control_high") if c in chart.columns}
    xs = cols.get(x)
    if xs is not None and len(xs) > 1 and not np.all(xs[1:] >= xs[:-1]):
        order = np.argsort(xs, kind="stable")
        cols = {k: v[order] for k, v in cols.items()}
    return cols


def _floats(values: np.ndarray) -> np.ndarray:
    """A float array as is; other arrays (None for missing) converted."""
    return values if getattr(values, "dtype", None) is not None and values.dtype.kind == "f" else to_float_array(values)


GAP_DAYS = 30.0
"""No line is drawn across a gap longer than this (days) between exposures
(`relphot_core.config.Control.max_gap_days`: the control charts restart there too)."""


def _broken_at_gaps(cols: dict[str, np.ndarray], rows: np.ndarray, x: str,
                    ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of a line through ``rows`` with a NaN after each gap of more
    than `GAP_DAYS` in MJD (plotly does not join across a NaN)."""
    xs = np.asarray(cols[x][rows], dtype=float)
    times = cols.get("mjd_obs")
    if times is None or rows.size < 2:
        return xs, ys
    t = np.asarray(times[rows], dtype=float)
    with np.errstate(invalid="ignore"):
        gaps = np.flatnonzero(np.diff(t) > GAP_DAYS) + 1
    if gaps.size == 0:
        return xs, ys
    return np.insert(xs, gaps, np.nan), np.insert(np.asarray(ys, dtype=float), gaps, np.nan)


def _control_chart(cols: dict[str, np.ndarray], x: str) -> list[dict]:
    """The running median and its control limits as lines (at most 400
    points each, broken at gaps of weeks)."""
    if "running_median" not in cols or x not in cols:
        return []
    median = _floats(cols["running_median"])
    finite = np.isfinite(median)
    ok = np.flatnonzero(finite)[_decimate(int(finite.sum()), 400)]
    if ok.size == 0:
        return []
    xs, ys = _broken_at_gaps(cols, ok, x, median[ok])
    traces = [dict(type="scatter", x=xs, y=ys, mode="lines", name="running median",
                   line=dict(color=MEDIAN_COLOUR, width=1.6), hoverinfo="skip")]
    for column, label in (("control_high", "control limits"), ("control_low", None)):
        if column in cols:
            xs, ys = _broken_at_gaps(cols, ok, x, _floats(cols[column][ok]))
            traces.append(dict(type="scatter", x=xs, y=ys,
                               mode="lines", name=label or column, showlegend=label is not None,
                               legendgroup="control", line=dict(color=MEDIAN_COLOUR, width=1, dash="dash"),
                               hoverinfo="skip"))
    return traces


def dither_medians(cols: dict[str, np.ndarray], x: str, *, max_points: int = 400) -> list[dict]:
    """A running median of QPRELEX per dither position, as lines (at most
    ``max_points`` points each): a drifting dither shows as its own line
    leaving 1, where the pooled median of all dithers stays put.

    The window is 1/50 of the dither's exposures, 5 to 400 (a few days of
    a survey), centred."""
    if "exposure" not in cols or x not in cols:
        return []
    values = _floats(cols["value"])
    traces = []
    for dither in np.unique(cols["exposure"]):
        idx = np.flatnonzero((cols["exposure"] == dither) & np.isfinite(values))
        if idx.size < 2:
            continue
        window = int(np.clip(idx.size // 50, 5, 400))
        median = pd.Series(values[idx]).rolling(window, center=True, min_periods=max(1, window // 3)).median()
        pick = np.arange(idx.size)[_decimate(idx.size, max_points)]
        colour, dash = DITHER_STYLES[(int(dither) - 1) % len(DITHER_STYLES) + 1]
        xs, ys = _broken_at_gaps(cols, idx[pick], x, median.to_numpy()[pick])
        traces.append(dict(type="scatter", x=xs, y=ys, mode="lines",
                           name=f"dither {int(dither)} median", legendgroup=f"median dither {int(dither)}",
                           line=dict(color=colour, width=2, dash=dash),
                           hovertemplate=f"dither {int(dither)} running median %{{y:.4f}}<extra></extra>"))
    return traces


def _fair_shares(sizes: np.ndarray, limit: int) -> np.ndarray:
    """How many of each group to keep: at most ``limit`` in all, shared as
    evenly as the groups allow (a small group keeps all its members and
    leaves the rest of its share to the larger ones)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    if sizes.sum() <= limit:
        return sizes
    # water-filling: the smallest groups, while they fit in an even split
    # of what is left, are kept whole; the others get that split
    left, level = limit, 0
    for taken, size in enumerate(np.sort(sizes)):
        others = sizes.size - taken
        if size * others > left:
            level = left // others
            break
        left -= size
    shares = np.minimum(sizes, level)
    extra = limit - int(shares.sum())
    for index in np.argsort(-sizes, kind="stable")[:extra]:
        shares[index] += 1
    return shares


FLAG_LABEL = "other flag"
"""The legend's name of the rings: a control-chart alarm, a flagged
detector or a disagreement with the global solution (the hover says which)."""


def _ringed(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Flags beyond the status drawn as rings (``flag``: a control-chart
    alarm, a flagged detector, a cross-check), on OK or WARN exposures. A
    FAIL or NODATA exposure is flagged already; on an OK or WARN one the
    ring is what flags it (and makes it a kind of its own in `_worst`)."""
    quiet = np.isin(cols["code"], [Status.OK.rank, Status.WARN.rank])
    return cols["flag"] & quiet


WORST_GROUPS = (Status.FAIL, Status.NODATA, Status.WARN, FLAG_LABEL, "reviewed")
"""The kinds of exposure drawn one by one, ranked in this order."""


def _worst(cols: dict[str, np.ndarray], candidates: np.ndarray, limit: int) -> np.ndarray:
    """The ``limit`` candidate rows to draw one by one.

    The candidates are FAIL, NODATA and WARN exposures, other flags
    (`_ringed`, WARN ones included) and reviewed exposures of the
    other statuses (`WORST_GROUPS`). Beyond the
    limit each group keeps a fair share (`_fair_shares`), its members
    farthest from 1 first (NODATA ones, without a value, spread along the
    series): every kind of flag stays on the plot, however
    many of another kind there are (thousands of WARN at survey size, or
    reviews accumulating over a survey, do not crowd out the rare drift
    alarm or FAIL)."""
    if candidates.sum() <= limit:
        return candidates
    group = np.full(candidates.size, len(WORST_GROUPS), dtype=np.int8)
    for position, status in enumerate(WORST_GROUPS[:3]):
        group[cols["code"] == Status(status).rank] = position
    group[_ringed(cols)] = 3
    group[cols["reviewed"] & (group == len(WORST_GROUPS))] = 4
    group[~candidates] = len(WORST_GROUPS)
    deviation = np.nan_to_num(np.abs(cols["value"] - 1.0), nan=np.inf)
    idx = np.flatnonzero(candidates)
    order = idx[np.lexsort((-deviation[idx], group[idx]))]  # by group, worst first within each
    sizes = np.bincount(group[idx], minlength=len(WORST_GROUPS))[:len(WORST_GROUPS)]
    shares = _fair_shares(sizes, limit)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    shown = np.zeros(candidates.size, dtype=bool)
    nodata = WORST_GROUPS.index(Status.NODATA)
    for position, (start, size, share) in enumerate(zip(starts, sizes, shares)):
        if position == nodata and share < size:
            # no value, no "worst": spread over the series instead (the
            # rows are in x order within the group)
            members = np.sort(order[start:start + size])
            shown[members[np.linspace(0, size - 1, share).round().astype(np.int64)]] = True
        else:
            shown[order[start:start + share]] = True
    return shown


def trend_figure(df: pd.DataFrame, *, warn: float, fail: float, x: str = "mjd_obs",
                 filter_name: str = "", max_points: int = 3000, n_bins: int = 300,
                 max_detailed: int = 400, max_shown: int = 250, height: int = 460,
                 chart: pd.DataFrame | None = None, by: str = "status", fit_all: bool = False) -> go.Figure:
    """Every exposure's QPRELEX with its error bar against time or obs id.

    Parameters
    ----------
    df : pandas.DataFrame
        ``Store.trend`` rows of one filter: obs_id, exposure, mjd_obs, value,
        error, status, and optionally review_decision, reviewer,
        running_median, control_low, control_high, flag, flag_reason.
    warn, fail : float
        Status thresholds on |QPRELEX - 1|, drawn as bands.
    x : {"mjd_obs", "obs_id"}
        The abscissa.
    max_points : int
        Above this many OK exposures, they are drawn binned (``n_bins``):
        median and 1-99 % envelope. Flagged, drifting and reviewed
        exposures are drawn one by one...
    max_shown : int
        ...up to this many (each costs the browser ~0.2 ms per redraw):
        beyond, FAIL, NODATA, WARN, other flags and reviewed exposures
        share them evenly, the farthest from 1 of each kind first (see
        `_worst`), and a note on the plot says how many are left out.
    max_detailed : int
        A trace of more points than this gets no error bars and a short
        hover text, to keep survey-size plots light.
    chart : pandas.DataFrame, optional
        The rows whose running median and control limits are drawn (default
        ``df``). The control chart belongs to the whole series: with only
        some statuses or only reviewed exposures selected, pass the rows of
        the same dates and obs ids with every status, or the lines would
        join the few selected points.
    by : {"status", "dither"}
        ``dither``: a running median per dither position instead of the
        filter's pooled one, and the OK points drawn one by one in their
        dither's colour (`dither_medians`).
    fit_all : bool
        Fit every factor in the y range. Default: a robust range (at most
        1 +- 4 x ``fail``), factors beyond it pinned at the edge as arrows
        labelled with their value.

    Returns
    -------
    plotly.graph_objects.Figure
        Detailed point traces carry ``customdata = [obs_id, filter_name]``
        per point, for click-through.
        On the right, on ``xaxis2``, the distribution of the factors of
        ``df`` (see `marginal_histogram`), with the same bands.
    """
    spec = trend_spec(df, warn=warn, fail=fail, x=x, filter_name=filter_name, max_points=max_points,
                      n_bins=n_bins, max_detailed=max_detailed, max_shown=max_shown, height=height, chart=chart,
                      by=by, fit_all=fit_all)
    if spec is None:
        title = f"{filter_name} — QPRELEX per exposure" if filter_name else "QPRELEX per exposure"
        return empty_figure(f"No exposures of {filter_name or 'this filter'} match the filters.",
                            title=title, height=height)
    traces, layout = spec
    return go.Figure(data=traces, layout=layout)


def trend_figure_dict(df: pd.DataFrame, **options) -> dict:
    """`trend_figure` as a plain dict with typed arrays, for Dash callbacks:
    the same content without plotly.py's validation and copies (several
    times faster at survey size)."""
    spec = trend_spec(df, **options)
    if spec is None:
        return trend_figure(df, **options).to_plotly_json()
    traces, layout = spec
    for trace in traces:
        for key in ("x", "y"):
            if isinstance(trace.get(key), np.ndarray):
                trace[key] = typed_array(trace[key])
        error = trace.get("error_y")
        if error is not None and isinstance(error.get("array"), np.ndarray):
            error["array"] = typed_array(error["array"].astype(np.float32))
    return {"data": traces, "layout": layout}

