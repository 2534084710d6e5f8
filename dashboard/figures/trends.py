"""Figures of the overview: factors of every exposure against time or
observation id, and their distribution per filter.

Builders take the DataFrames of `relphot_core.store.Store` (``trend`` /
``exposure_table`` rows) and return `plotly.graph_objects.Figure`; they do no
I/O. Large series are aggregated server side: every flagged, drifting or
reviewed exposure is always drawn as its own point, the OK ones are drawn one
by one up to ``max_points`` and as a binned median with its 1-99 % envelope
beyond that.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..style import (DRIFT_COLOUR, FILTER_LABELS, MEDIAN_COLOUR, REVIEW_COLOURS, STATUS_COLOURS,
                     STATUS_ORDER, STATUS_SYMBOLS)
from .common import AXIS, band_shapes, base_layout, empty_figure, esc, factor_range, layout_dict, to_float_array

X_LABELS = {"mjd_obs": "MJD of the exposure", "obs_id": "Observation id"}


def _hover_text(df: pd.DataFrame) -> list[str]:
    """One escaped hover text per row (review decisions included)."""
    texts = []
    has_review = "review_decision" in df.columns
    for row in df.itertuples(index=False):
        value = getattr(row, "value")
        error = getattr(row, "error")
        if value is None or not np.isfinite(value):
            factor = "no value"
        elif error is None or not np.isfinite(error):
            factor = f"{value:.4f}"
        else:
            factor = f"{value:.4f} ± {error:.4f}"
        text = (f"obs {int(row.obs_id)} · dither {int(row.exposure)}<br>QPRELEX {factor}"
                f"<br>status {esc(row.status)}")
        if has_review and isinstance(getattr(row, "review_decision"), str):
            text += f"<br>review: {esc(row.review_decision)} by {esc(getattr(row, 'reviewer', ''))}"
        if bool(getattr(row, "drift", False)):
            text += "<br>control chart: drift alarm"
        texts.append(text)
    return texts


def _ids(df: pd.DataFrame) -> list[int]:
    """The obs ids as a plain list: dcc.Graph reads clickData's customdata
    from the figure's own data, where a numpy (typed) array is an encoded
    object, so the click would carry no id."""
    return df["obs_id"].to_numpy(dtype=np.int64).tolist()


def _scatter_type(n: int) -> str:
    return "scattergl" if n > 1500 else "scatter"


def _point_trace(df: pd.DataFrame, x: str, status: str, *, name: str | None = None,
                 y_nodata: float | None = None, detailed: bool = True) -> dict:
    """One status's exposures as markers; ``detailed`` adds error bars and a
    full hover text (review included), otherwise obs id and value only."""
    values = to_float_array(df["value"])
    errors = to_float_array(df["error"]) if "error" in df and detailed else None
    if status == "NODATA":
        values = np.full(len(df), y_nodata if y_nodata is not None else np.nan)
        errors = None
    hover = dict(text=_hover_text(df), hovertemplate="%{text}<extra></extra>") if detailed else dict(
        hovertemplate=f"obs %{{customdata}}<br>QPRELEX %{{y:.4f}}<br>{status}<extra></extra>")
    return dict(
        type=_scatter_type(len(df)), x=df[x].to_numpy(), y=values.astype(np.float32),
        error_y=dict(type="data", array=errors, visible=errors is not None, thickness=1, width=0,
                     color=STATUS_COLOURS[status]),
        mode="markers", name=name or f"{status} ({len(df)})",
        marker=dict(color=STATUS_COLOURS[status], symbol=STATUS_SYMBOLS[status],
                    size=7 if status == "OK" else 9, line=dict(width=1.2, color=STATUS_COLOURS[status])),
        customdata=_ids(df), **hover,
        legendgroup=status,
    )


def _binned_trace(df: pd.DataFrame, x: str, n_bins: int) -> list[dict]:
    """Median and 1-99 % envelope of many OK factors, in bins along x
    (vectorised: one lexsort, no loop over bins)."""
    xs = df[x].to_numpy(dtype=float)
    ys = to_float_array(df["value"])
    finite = np.isfinite(xs) & np.isfinite(ys)
    xs, ys = xs[finite], ys[finite]
    if xs.size == 0:
        return []
    edges = np.linspace(xs.min(), xs.max() + 1e-9, n_bins + 1)
    index = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, n_bins - 1)
    order = np.lexsort((ys, index))
    ys_sorted = ys[order]
    counts = np.bincount(index, minlength=n_bins)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    full = counts > 0
    counts, starts = counts[full], starts[full]

    def quantile(q: float) -> list[float]:
        return ys_sorted[starts + np.floor(q * (counts - 1)).astype(int)].round(6).tolist()

    low, centre, high = quantile(0.01), quantile(0.5), quantile(0.99)
    mid = (np.bincount(index, weights=xs, minlength=n_bins)[full] / counts).round(5).tolist()
    colour = STATUS_COLOURS["OK"]
    return [
        dict(type="scatter", x=mid + mid[::-1], y=high + low[::-1], fill="toself", mode="lines",
             line=dict(width=0), fillcolor="rgba(0, 158, 115, 0.22)", hoverinfo="skip",
             name=f"OK ({len(df)}), 1-99 % envelope", legendgroup="OK"),
        dict(type="scatter", x=mid, y=centre, mode="lines", line=dict(color=colour, width=1.5),
             name="OK binned median", legendgroup="OK",
             hovertemplate="binned median %{y:.4f}<extra></extra>"),
    ]


def _decimate(df: pd.DataFrame, n: int) -> pd.DataFrame:
    if len(df) <= n:
        return df
    step = int(np.ceil(len(df) / n))
    return df.iloc[::step]


def trend_figure(df: pd.DataFrame, *, warn: float, fail: float, x: str = "mjd_obs",
                 filter_name: str = "", max_points: int = 6000, n_bins: int = 300,
                 max_detailed: int = 400, height: int = 380) -> go.Figure:
    """Every exposure's QPRELEX with its error bar against time or obs id.

    Parameters
    ----------
    df : pandas.DataFrame
        ``Store.trend`` rows of one filter: obs_id, exposure, mjd_obs, value,
        error, status, and optionally review_decision, reviewer,
        running_median, control_low, control_high, drift.
    warn, fail : float
        Status thresholds on |QPRELEX - 1|, drawn as bands.
    x : {"mjd_obs", "obs_id"}
        The abscissa.
    max_points : int
        Above this many OK exposures, they are drawn binned (``n_bins``).
    max_detailed : int
        A trace of more points than this gets no error bars and a short
        hover text (obs id, value), to keep survey-size plots light.

    Returns
    -------
    plotly.graph_objects.Figure
        Point traces carry ``customdata = obs_id`` for click-through.
    """
    title = f"{filter_name} — QPRELEX per exposure" if filter_name else "QPRELEX per exposure"
    if df is None or len(df) == 0:
        return empty_figure(f"No exposures of {filter_name or 'this filter'} match the filters.",
                            title=title, height=height)
    if x not in X_LABELS:
        raise ValueError(f"x must be one of {sorted(X_LABELS)}")
    wanted = ["obs_id", "exposure", "mjd_obs", "value", "error", "status", "review_decision", "reviewer",
              "drift", "running_median", "control_low", "control_high"]
    df = df[[c for c in wanted if c in df.columns]]
    if not df[x].is_monotonic_increasing:
        df = df.sort_values([x, "exposure"], kind="stable")
    df = df.reset_index(drop=True)
    codes = df["status"].map({s: i for i, s in enumerate(STATUS_ORDER)}).fillna(len(STATUS_ORDER))
    codes = codes.to_numpy(dtype=np.int8)
    values = to_float_array(df["value"])
    errors = to_float_array(df["error"])
    y_range = factor_range(values, errors, fail=fail)
    y_nodata = y_range[0] + 0.04 * (y_range[1] - y_range[0])
    traces: list[dict] = []
    drift = df["drift"].fillna(False).astype(bool) if "drift" in df else pd.Series(False, index=df.index)
    reviewed = df["review_decision"].notna() if "review_decision" in df else pd.Series(False, index=df.index)
    if "running_median" in df and df["running_median"].notna().any():
        line = _decimate(df[[x, "running_median", "control_low", "control_high"]].dropna(), 400)
        traces.append(dict(type="scatter", x=line[x].to_numpy(), y=line["running_median"].to_numpy(),
                           mode="lines", name="running median", line=dict(color=MEDIAN_COLOUR, width=1.6),
                           hoverinfo="skip"))
        for column, label in (("control_high", "control limits"), ("control_low", None)):
            traces.append(dict(type="scatter", x=line[x].to_numpy(), y=line[column].to_numpy(), mode="lines",
                               name=label or column, showlegend=label is not None, legendgroup="control",
                               line=dict(color=MEDIAN_COLOUR, width=1, dash="dash"), hoverinfo="skip"))
    for code, status in enumerate(STATUS_ORDER):
        part = df[codes == code]
        if part.empty:
            continue
        if status == "OK":
            special = drift[part.index] | reviewed[part.index]
            if len(part) > max_points:
                traces.extend(_binned_trace(part[~special], x, n_bins))
                part = part[special]
                if part.empty:
                    continue
        traces.append(_point_trace(part, x, status, y_nodata=y_nodata, detailed=len(part) <= max_detailed,
                                   name=f"{status} ({len(part)})" if status != "NODATA"
                                   else f"NODATA ({len(part)}, no value)"))
    for mask, name, colour, symbol in (
        (drift, "drift alarm", DRIFT_COLOUR, "circle-open"),
        (reviewed & (df.get("review_decision") == "confirmed"), "reviewed: confirmed",
         REVIEW_COLOURS["confirmed"], "square-open"),
        (reviewed & (df.get("review_decision") == "overruled"), "reviewed: overruled",
         REVIEW_COLOURS["overruled"], "square-open"),
    ):
        part = df[mask.to_numpy(dtype=bool)]
        if part.empty:
            continue
        y = to_float_array(part["value"])
        y = np.where(np.isfinite(y), y, y_nodata)
        hover = (dict(text=_hover_text(part), hovertemplate="%{text}<extra></extra>")
                 if len(part) <= max_detailed else
                 dict(hovertemplate=f"obs %{{customdata}}<br>QPRELEX %{{y:.4f}}<br>{name}<extra></extra>"))
        traces.append(dict(
            type=_scatter_type(len(part)), x=part[x].to_numpy(), y=y.astype(np.float32), mode="markers",
            name=f"{name} ({len(part)})",
            marker=dict(symbol=symbol, size=15 if len(part) <= max_detailed else 11, color=colour,
                        line=dict(width=2 if len(part) <= max_detailed else 1.2, color=colour)),
            customdata=_ids(part), **hover))
    layout = layout_dict(title=title, height=height)
    layout.update(
        shapes=band_shapes(warn=warn, fail=fail),
        yaxis={**AXIS, "title": {"text": "QPRELEX"}, "range": y_range, "tickformat": ".3f"},
        xaxis={**AXIS, "title": {"text": X_LABELS[x]}, "tickformat": "d" if x == "obs_id" else ".1f"},
        clickmode="event", hovermode="closest", uirevision=f"{filter_name}-{x}",
    )
    return go.Figure(data=traces, layout=layout)


def histogram_figure(frames: dict[str, pd.DataFrame], *, warn: float, fail: float,
                     bin_width: float = 0.001, height: int = 300) -> go.Figure:
    """Distribution of the factors, one panel per filter, with the bands.

    Parameters
    ----------
    frames : dict of str to DataFrame
        Rows with a ``value`` column, keyed by filter name.
    warn, fail : float
        Thresholds drawn as bands.
    bin_width : float
        Width of the bins (factor units). Values beyond +-3 fail are counted
        in the outermost bins, and the count beyond is written on the panel.
    """
    frames = {k: v for k, v in frames.items() if v is not None and len(v)}
    if not frames:
        return empty_figure("No factors to histogram.", height=height)
    fig = make_subplots(rows=1, cols=len(frames), shared_yaxes=False, horizontal_spacing=0.06,
                        subplot_titles=[f"{name} (N = {len(df)})" for name, df in frames.items()])
    lim = 3 * fail
    edges = np.arange(1 - lim, 1 + lim + bin_width / 2, bin_width)
    centres = 0.5 * (edges[:-1] + edges[1:])
    shapes: list[dict] = []
    for i, (name, df) in enumerate(frames.items(), start=1):
        values = to_float_array(df["value"])
        values = values[np.isfinite(values)]
        outside = int(np.sum((values < edges[0]) | (values > edges[-1])))
        counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
        colours = [STATUS_COLOURS["FAIL"] if abs(c - 1) > fail else STATUS_COLOURS["WARN"]
                   if abs(c - 1) > warn else STATUS_COLOURS["OK"] for c in centres]
        fig.add_trace(go.Bar(x=centres, y=counts, marker_color=colours, width=bin_width * 0.95,
                             name=name, showlegend=False,
                             hovertemplate="QPRELEX %{x:.4f}: %{y} exposures<extra>" + esc(name) + "</extra>"),
                      row=1, col=i)
        shapes += band_shapes(warn=warn, fail=fail, orientation="v", axis="" if i == 1 else str(i))
        if outside:
            fig.add_annotation(text=f"{outside} beyond ±{lim:.3f}", xref=f"x{i if i > 1 else ''} domain",
                               yref=f"y{i if i > 1 else ''} domain", x=0.98, y=0.95, showarrow=False,
                               xanchor="right", font=dict(size=11, color="#52606d"))
        fig.update_xaxes(range=[edges[0], edges[-1]], title_text="QPRELEX", tickformat=".3f", row=1, col=i)
        fig.update_yaxes(title_text="exposures" if i == 1 else None, type="log" if counts.max() > 1000 else None,
                         row=1, col=i)
    base_layout(fig, height=height)
    fig.update_layout(bargap=0, margin=dict(t=40), shapes=shapes)
    return fig


def filter_label(name: str) -> str:
    """Short label of a filter (``NIR_J`` -> ``J``)."""
    return FILTER_LABELS.get(name, name)
