"""Figures of the overview: factors of every exposure of one filter against
time (a UTC date axis) or observation id, with their distribution in a
marginal histogram on the same QPRELEX axis (one plotly figure per filter:
each figure costs the browser ~100 ms to redraw).

The numbers (which exposures are drawn one by one, the binned envelope of
the OK ones, the control lines, the pinned off-scale factors, the
histogram's bins) come from `dashboard.figures.trend_data.reduce_trend`;
this module turns them into plotly traces, hover texts and the layout. It
does no I/O. Traces are SVG: see `SVG_LIMIT`.
"""
from __future__ import annotations

import base64
import functools
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from relphot_core.status import Status

from ..style import DITHER_STYLES, DRIFT_COLOUR, MEDIAN_COLOUR, REVIEW_COLOURS, STATUS_COLOURS, STATUS_SYMBOLS
from .common import AXIS, band_shapes, empty_figure, esc, layout_dict
from .trend_data import (FLAG_LABEL, GAP_DAYS, WORST_GROUPS, Envelope, FactorHistogram, Line, PointGroup,  # noqa: F401
                         TrendData, binned_quantiles, factor_histogram, fair_shares, mjd_to_epoch_ms, mjd_to_text,
                         reduce_trend)

X_LABELS = {"mjd_obs": "Date of the exposure (UTC)", "obs_id": "Observation id"}


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


def axis_x(xs: np.ndarray, x: str) -> np.ndarray:
    """Abscissae as drawn: MJDs as milliseconds since 1970 (a plotly date
    axis reads them as UTC moments), obs ids as they are."""
    return mjd_to_epoch_ms(xs) if x == "mjd_obs" else np.asarray(xs)


def _review_text(decision, reviewer, flagged: bool, escape) -> str:
    if isinstance(decision, str):
        return f"review: {escape(decision)} by {escape(reviewer)}"
    return "review: awaiting" if flagged else ""


def _flagged_partners(cols: dict[str, np.ndarray], idx: np.ndarray, escape) -> dict[int, list[tuple[int, str]]]:
    """``obs_id -> [(dither, what), ...]``: the flagged exposures of the
    observations of ``idx`` (a status other than OK, or another flag:
    its first reason line), for the hover of their partners."""
    flagged = np.flatnonzero(((cols["code"] != 0) | cols["flag"]) & np.isin(cols["obs_id"], cols["obs_id"][idx]))
    reasons = cols.get("flag_reason")
    statuses = cols.get("status")
    out: dict[int, list[tuple[int, str]]] = {}
    for row in flagged.tolist():
        status = str(statuses[row]) if statuses is not None else ""
        reason = reasons[row] if reasons is not None else None
        first = reason.split("\n")[0] if isinstance(reason, str) and reason else ""
        what = first if cols["code"][row] == 0 and first else status
        if len(what) > 70:
            what = what[:69] + "…"
        out.setdefault(int(cols["obs_id"][row]), []).append((int(cols["exposure"][row]), escape(what)))
    return out


def hover_texts(cols: dict[str, np.ndarray], idx: np.ndarray) -> list[str]:
    """One escaped hover text per row of ``idx``: UTC date and MJD, obs id
    and dither, QPRELEX ± error, status and its reason, the review state
    (``awaiting`` for a flagged exposure nobody reviewed), the other
    flags' reasons, and the observation's other flagged dithers (the four
    dithers of an observation share a pixel on a season's axis: whichever
    one the pointer finds, a flag of the observation shows)."""
    escape = functools.lru_cache(maxsize=1024)(esc)  # statuses, reasons, reviewers repeat
    partners = _flagged_partners(cols, idx, escape)

    def picked(name: str) -> list:
        column = cols.get(name)
        return [None] * idx.size if column is None else np.asarray(column[idx], dtype=object).tolist()

    mjd = np.asarray(cols["mjd_obs"][idx], dtype=float) if "mjd_obs" in cols else np.full(idx.size, np.nan)
    dates = mjd_to_text(mjd).tolist()
    flagged = ((cols["code"][idx] != 0) | cols["flag"][idx]).tolist()
    texts = []
    for obs, exposure, day, moment, value, error, status, reason, decision, reviewer, flag, other in zip(
            cols["obs_id"][idx].tolist(), cols["exposure"][idx].tolist(), dates, mjd.tolist(),
            cols["value"][idx].tolist(), cols["error"][idx].tolist(), picked("status"), picked("reason"),
            picked("review_decision"), picked("reviewer"), flagged, picked("flag_reason")):
        if not np.isfinite(value):
            factor = "no value"
        elif not np.isfinite(error):
            factor = f"{value:.4f}"
        else:
            factor = f"{value:.4f} ± {error:.4f}"
        when = f"{day} UTC · MJD {moment:.4f}" if day else "no date"
        text = f"{when}<br>obs {int(obs)} · dither {int(exposure)}<br>QPRELEX {factor}<br>{escape(status)}"
        if isinstance(reason, str) and reason:
            text += ": " + escape(reason)
        review = _review_text(decision, reviewer, flag, escape)
        if review:
            text += "<br>" + review
        if isinstance(other, str) and other:
            text += "<br>" + "<br>".join(escape(part) for part in other.split("\n"))
        also = [f"dither {d}: {what}" for d, what in partners.get(int(obs), []) if d != int(exposure)]
        if also:
            text += "<br><b>flagged in this observation</b>: " + "; ".join(also)
        texts.append(text)
    return texts


SVG_LIMIT = 5000
"""Largest trace drawn as SVG; larger ones (only without binning, see
`dashboard.create_app`'s ``max_points``) use WebGL, which needs the full
plotly.js bundle. Below it SVG is the faster: without a GPU (software
WebGL) each WebGL plot costs ~0.3 s to set up."""


def _scatter_type(n: int) -> str:
    return "scattergl" if n > SVG_LIMIT else "scatter"


def _markers(data: TrendData, idx: np.ndarray, *, name: str, colour: str, symbol: str, size: float,
             y: np.ndarray, errors: np.ndarray | None, detailed: bool, label: str, group: str | None = None,
             line_width: float = 1.2, filter_name: str = "") -> dict:
    """A marker trace of the rows ``idx``. Detailed traces carry error bars,
    a full hover text (`hover_texts`) and ``customdata = [obs_id,
    filter_name]`` per point; light ones ``[obs_id, mjd]`` and a short
    hover. (Plain lists: dcc.Graph reads clickData's customdata from the
    figure's own data, where a typed array would be an encoded object. A
    click never needs x: on the date axis it is a date string.)"""
    cols, x = data.cols, data.x
    obs = cols["obs_id"][idx].astype(np.int64).tolist()
    trace = dict(
        type=_scatter_type(len(idx)), x=axis_x(cols[x][idx], x), y=y.astype(np.float32), mode="markers", name=name,
        # An outline only where it draws the symbol: per-point stroke styling
        # doubles the time plotly.js takes to draw filled markers.
        marker=dict(color=colour, symbol=symbol, size=size,
                    **({"line": dict(width=line_width, color=colour)} if symbol.endswith("-open") else {})),
        legendgroup=group or name,
    )
    if detailed:
        trace.update(customdata=[[o, filter_name] for o in obs], text=hover_texts(cols, idx),
                     hovertemplate="%{text}<extra></extra>")
        if errors is not None:
            trace["error_y"] = dict(type="data", array=errors, visible=True, thickness=1, width=0, color=colour)
    elif len(idx) <= SVG_LIMIT:
        mjd = np.round(np.asarray(cols["mjd_obs"][idx], dtype=float), 4) if "mjd_obs" in cols else np.zeros(len(idx))
        trace["customdata"] = [[o, m] for o, m in zip(obs, np.nan_to_num(mjd).tolist())]
        trace["hovertemplate"] = ("MJD %{customdata[1]:.4f}<br>obs %{customdata[0]}<br>QPRELEX %{y:.4f}<br>"
                                  + label + "<extra></extra>")
    else:  # WebGL, without binning: no per-point lists (megabytes)
        trace["hovertemplate"] = ("%{x}" if x == "obs_id" else "%{x|%Y-%m-%d %H:%M} UTC") \
            + f"<br>QPRELEX %{{y:.4f}}<br>{label}<extra></extra>"
    return trace


def _binned_trace(xs: np.ndarray, ys: np.ndarray, n_bins: int, n_total: int, x: str = "obs_id") -> list[dict]:
    """Median and 1-99 % envelope of many OK factors, in bins along x
    (`binned_quantiles`), as an area and a line."""
    envelope = binned_quantiles(xs, ys, n_bins)
    return [] if envelope is None else _envelope_traces(envelope, n_total, x)


def _envelope_traces(envelope: Envelope, n_total: int, x: str) -> list[dict]:
    mid = axis_x(envelope.x, x)
    colour = STATUS_COLOURS[Status.OK]
    return [
        dict(type="scatter", x=np.concatenate([mid, mid[::-1]]), y=np.concatenate([envelope.high, envelope.low[::-1]]),
             fill="toself", mode="lines", line=dict(width=0), fillcolor="rgba(0, 158, 115, 0.22)",
             hoverinfo="skip", name=f"OK ({n_total:,}): median, 1-99 %", legendgroup="OK"),
        dict(type="scatter", x=mid, y=envelope.median, mode="lines", line=dict(color=colour, width=1.5),
             name="OK binned median", legendgroup="OK", hovertemplate="binned median %{y:.4f}<extra></extra>"),
    ]


def _rgba(hex_colour: str, alpha: float) -> str:
    """``#RRGGBB`` -> ``rgba(r, g, b, alpha)``."""
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


LEGEND_MARGIN = 140
"""Bottom margin (px) of the trend: x tick labels, x title and a legend of
two rows (the short entry names keep a survey's legend to two rows on an
800 px screen)."""

MARGIN_DOMAIN = (0.87, 1.0)
"""Horizontal extent (paper fraction) of the trend's marginal histogram."""


def marginal_histogram(values: np.ndarray, y_range: list[float], *, warn: float, fail: float,
                       name: str = "") -> tuple[list[dict], dict, bool]:
    """Distribution of the factors along the trend's y axis.

    Parameters
    ----------
    values : numpy.ndarray
        The factors of the selected exposures (non-finite ones are skipped).
    y_range : list of float
        The trend's y range. The bins (see `trend_data.bin_count`) cover it, but never more than
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
    return histogram_traces(factor_histogram(values, y_range, warn=warn, fail=fail), name=name)


def histogram_traces(histogram: FactorHistogram, *, name: str = "") -> tuple[list[dict], dict, bool]:
    """The traces and counts axis of `marginal_histogram` from its bins."""
    edges, counts, zone = histogram.edges, histogram.counts, histogram.zone
    breaks = np.flatnonzero(np.diff(zone)) + 1
    log = histogram.log
    # Empty bins of a log axis sit at 0.5, left of its range (log 0 is -inf
    # and would break the line and its fill).
    lengths = np.where(counts > 0, counts, 0.5).astype(np.float32) if log else counts.astype(np.int32)
    traces = []
    for start, stop in zip(np.concatenate([[0], breaks]), np.concatenate([breaks, [zone.size]])):
        status = (Status.OK, Status.WARN, Status.FAIL)[zone[start]]
        texts = [f"QPRELEX {edges[j]:.4f} to {edges[j + 1]:.4f}: {counts[j]:,} exposure{'' if counts[j] == 1 else 's'}"
                 for j in range(start, stop)]
        traces.append(dict(
            type="scatter", mode="lines", line=dict(shape="vh", width=1, color=STATUS_COLOURS[status]),
            fill="tozerox", fillcolor=_rgba(STATUS_COLOURS[status], 0.7), name=f"distribution {status}",
            showlegend=False, x=np.append(lengths[start:stop], lengths[stop - 1]), y=edges[start:stop + 1],
            text=texts + texts[-1:], hovertemplate="%{text}<extra>" + esc(name) + "</extra>",
            xaxis="x2", yaxis="y"))
    top = float(counts.max()) if counts.size and counts.max() > 0 else 1.0
    beyond = histogram.beyond
    title = "exposures" + (f"<br>{beyond:,} beyond 1 ± {histogram.span:.3f}" if beyond else "")
    axis = {**AXIS, "domain": list(MARGIN_DOMAIN), "anchor": "y", "title": {"text": title, "font": {"size": 12}},
            "nticks": 3, **({"type": "log", "range": [np.log10(0.8), np.log10(top * 1.6)]} if log
                            else {"range": [0, top * 1.08]})}
    return traces, axis, bool(log)


def _line_traces(lines: list[Line], x: str) -> list[dict]:
    traces: list[dict[str, Any]] = []
    for line in lines:
        xs = axis_x(line.x, x)
        if line.role == "median":
            traces.append(dict(type="scatter", x=xs, y=line.y, mode="lines", name="running median",
                               line=dict(color=MEDIAN_COLOUR, width=1.6), hoverinfo="skip"))
        elif line.role == "control":
            first = line.name == "control_high"
            traces.append(dict(type="scatter", x=xs, y=line.y, mode="lines",
                               name="control limits" if first else line.name, showlegend=first,
                               legendgroup="control", line=dict(color=MEDIAN_COLOUR, width=1, dash="dash"),
                               hoverinfo="skip"))
        else:
            assert line.dither is not None  # the other lines are a dither's
            colour, dash = DITHER_STYLES[(line.dither - 1) % len(DITHER_STYLES) + 1]
            traces.append(dict(type="scatter", x=xs, y=line.y, mode="lines", name=line.name,
                               legendgroup=f"median dither {line.dither}", line=dict(color=colour, width=2, dash=dash),
                               hovertemplate=f"dither {line.dither} running median %{{y:.4f}}<extra></extra>"))
    return traces


def _group_trace(data: TrendData, group: PointGroup, *, max_detailed: int, filter_name: str) -> dict:
    """The marker trace of one `PointGroup`."""
    idx, kind = group.rows, group.kind
    detailed = idx.size <= max_detailed
    off = data.below[idx] | data.above[idx]
    if group.dither is not None:  # OK points in their dither's colour
        colour = DITHER_STYLES[(group.dither - 1) % len(DITHER_STYLES) + 1][0]
        return _markers(data, idx, name=f"OK dither {group.dither} ({idx.size:,})", colour=colour,
                        symbol=STATUS_SYMBOLS[Status.OK], size=7, y=data.drawn_y[idx],
                        errors=np.where(off, np.nan, data.cols["error"][idx]), detailed=detailed,
                        label=f"OK, dither {group.dither}", group=kind, filter_name=filter_name)
    if kind in STATUS_COLOURS:
        count = f"{idx.size:,}" if idx.size == group.total or kind == Status.OK else f"{idx.size:,} of {group.total:,}"
        nodata = kind == Status.NODATA
        return _markers(data, idx, name=f"{kind} ({count})", colour=STATUS_COLOURS[kind], symbol=STATUS_SYMBOLS[kind],
                        size=7 if kind == Status.OK else 9,
                        y=np.full(idx.size, data.y_nodata) if nodata else data.drawn_y[idx],
                        errors=None if nodata else np.where(off, np.nan, data.cols["error"][idx]),
                        detailed=detailed, label=kind, group=kind, filter_name=filter_name)
    colour = DRIFT_COLOUR if kind == FLAG_LABEL else REVIEW_COLOURS[kind.split(": ")[1]]
    y = np.where(np.isfinite(data.cols["value"][idx]), data.drawn_y[idx], data.y_nodata)
    return _markers(data, idx, name=f"{kind} ({idx.size})", colour=colour,
                    symbol="circle-open" if kind == FLAG_LABEL else "square-open", size=16 if detailed else 11,
                    y=y, errors=None, detailed=detailed, label=kind,
                    line_width=(2.5 if kind == FLAG_LABEL else 2) if detailed else 1.2,
                    filter_name=filter_name)


def _off_scale_trace(data: TrendData, limit: int = 40) -> dict | None:
    """Arrows at the edge with the true value of the factors beyond the y range."""
    rows = data.off_scale_rows
    if rows.size == 0:
        return None
    shown = rows[:limit]
    below = data.below[shown]
    return dict(
        type="scatter", mode="markers+text", x=axis_x(data.cols[data.x][shown], data.x), y=data.drawn_y[shown],
        marker=dict(symbol=np.where(below, "triangle-down", "triangle-up").tolist(), size=11, color="#52606d"),
        text=[f"{v:.3f}" for v in data.cols["value"][shown]],
        customdata=[[int(o), ""] for o in data.cols["obs_id"][shown]],
        textposition=np.where(below, "top center", "bottom center").tolist(),
        textfont=dict(size=10, color="#52606d"), name=f"off scale ({rows.size})",
        hovertemplate="off scale: QPRELEX %{text}<br>obs %{customdata[0]}<extra></extra>", legendgroup="off scale")


def trend_spec(df: pd.DataFrame, *, warn: float, fail: float, x: str = "mjd_obs", filter_name: str = "",
               max_points: int = 3000, n_bins: int = 300, max_detailed: int = 400, max_shown: int = 250,
               height: int = 460, chart: pd.DataFrame | None = None,
               by: str = "status", fit_all: bool = False) -> tuple[list[dict], dict] | None:
    """Traces and layout of `trend_figure` as plain dicts (numpy arrays
    inside), or None when ``df`` is empty. See `trend_figure`."""
    data = reduce_trend(df, warn=warn, fail=fail, x=x, max_points=max_points, n_bins=n_bins, max_shown=max_shown,
                        chart=chart, by=by, fit_all=fit_all)
    if data is None:
        return None
    traces: list[dict] = _line_traces(data.lines, x)
    if data.envelope is not None:
        traces.extend(_envelope_traces(data.envelope, data.n_binned, x))
    # the rings last: on top of the four dithers of their observation (which share their pixel on a season's axis)
    groups = sorted(data.groups, key=lambda group: group.kind == FLAG_LABEL)
    traces.extend(_group_trace(data, group, max_detailed=max_detailed, filter_name=filter_name) for group in groups)
    histogram, xaxis2, _ = histogram_traces(data.histogram, name=filter_name)
    traces.extend(histogram)
    pinned = _off_scale_trace(data)
    if pinned is not None:
        traces.append(pinned)
    bands = band_shapes(warn=warn, fail=fail)
    title = f"{filter_name} — QPRELEX per exposure" if filter_name else "QPRELEX per exposure"
    layout = layout_dict(title=title, height=height)
    # a tick label at the axis' end would run into the histogram's counts
    xaxis = {**AXIS, "title": {"text": X_LABELS[x]}, "domain": [0.0, MARGIN_DOMAIN[0] - 0.02], "automargin": False,
             "ticklabeloverflow": "hide past domain"}
    if x == "mjd_obs":
        xaxis.update(type="date", hoverformat="%Y-%m-%d %H:%M")
    else:
        xaxis.update(tickformat="d")
    # Fixed margins, no automargin: measuring tick labels and pushing the
    # margins cost plotly.js ~10 ms of each redraw (the y labels are .3f,
    # the x labels one line; the legend sits at the figure's bottom).
    layout.update(
        shapes=bands + [dict(shape, xref="x2 domain") for shape in bands],
        yaxis={**AXIS, "title": {"text": "QPRELEX"}, "range": data.y_range, "tickformat": ".3f",
               "automargin": False},
        xaxis=xaxis,
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
    if data.has_nodata:
        # the NODATA row sits at the bottom of the axis: say it is no value
        layout["annotations"] = [dict(xref="x domain", x=0.0, y=data.y_nodata, yref="y", xanchor="left",
                                      yanchor="bottom", yshift=6, showarrow=False, text="NODATA: no value",
                                      font=dict(size=10, color=STATUS_COLOURS[Status.NODATA]))]
    if data.n_hidden:
        # under the title, off the plot (where it would hide the NODATA row)
        layout["title"]["subtitle"] = dict(
            # one short line: a subtitle does not wrap (~600 px here)
            text=f"Drawn: {data.n_shown:,} of {data.n_candidates:,} flagged, an even share per kind, the "
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
        The abscissa: time, drawn on a UTC date axis (the hover gives the
        date and the MJD), or the observation id.
    max_points : int
        Above this many OK exposures, they are drawn binned (``n_bins``):
        median and 1-99 % envelope. Flagged, drifting and reviewed
        exposures are drawn one by one...
    max_shown : int
        ...up to this many (each costs the browser ~0.2 ms per redraw):
        beyond, FAIL, NODATA, WARN, other flags and reviewed exposures
        share them evenly, the farthest from 1 of each kind first (see
        `trend_data.worst_rows`), and a note on the plot says how many are left out.
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

