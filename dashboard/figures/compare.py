"""Figures of the compare page: the histogram of the factor changes between
two runs (mmag, + = now fainter) and the status transition matrix.

Pure builders: numpy arrays and data frames in, plotly figure dicts out
(no I/O, no store).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..style import STATUS_COLOURS
from .common import AXIS, layout_dict

HISTOGRAM_BINS = 61
"""Bins of the delta histogram (odd: one bin centred on no change)."""

PINNED_PERCENTILE = 99.5
"""The histogram spans this percentile of ``|delta|``; larger changes are
counted in the edge bins (and said in the title)."""


def delta_histogram(delta_mmag: np.ndarray, *, bins: int = HISTOGRAM_BINS) -> tuple[np.ndarray, np.ndarray, int]:
    """Counts of the finite changes on a symmetric range.

    Returns
    -------
    edges : numpy.ndarray
        ``bins + 1`` bin edges (mmag), symmetric about 0, spanning
        `PINNED_PERCENTILE` of ``|delta|`` (at least 0.1 mmag).
    counts : numpy.ndarray
        Changes per bin; those beyond the range are counted in the edge bins.
    pinned : int
        How many were beyond the range.

    >>> edges, counts, pinned = delta_histogram(np.array([-1.0, 0.0, 0.0, 1.0, np.nan]), bins=3)
    >>> counts.tolist(), pinned
    ([1, 2, 1], 0)
    """
    values = np.asarray(delta_mmag, dtype=float)
    values = values[np.isfinite(values)]
    span = float(np.percentile(np.abs(values), PINNED_PERCENTILE)) if values.size else 0.0
    span = max(span * 1.02, 0.1)
    edges = np.linspace(-span, span, int(bins) + 1)
    pinned = int(np.count_nonzero(np.abs(values) > span))
    counts, _ = np.histogram(np.clip(values, -span, span), bins=edges)
    return edges, counts, pinned


def delta_histogram_figure(delta_mmag: np.ndarray, *, title: str = "", height: int = 340) -> dict:
    """The histogram of the factor changes (mmag, + = the exposure now reads fainter)."""
    edges, counts, pinned = delta_histogram(delta_mmag)
    centres = 0.5 * (edges[:-1] + edges[1:])
    n = int(counts.sum())
    layout = layout_dict(title=title or None, height=height)
    layout["xaxis"] = dict(AXIS, title=dict(text="Δ (2.5 log10 QPRELEX before / after), mmag · + = now fainter"))
    layout["yaxis"] = dict(AXIS, title=dict(text="exposures"))
    layout["bargap"] = 0.05
    if not n:
        layout["annotations"] = [dict(text="No exposure with a value in both runs.", x=0.5, y=0.5, xref="paper",
                                      yref="paper", showarrow=False, font=dict(size=14, color="#52606d"))]
    elif pinned:
        layout["annotations"] = [dict(text=f"{pinned:,} beyond ±{edges[-1]:.2f} mmag counted in the edge bins",
                                      x=1, y=1, xref="paper", yref="paper", xanchor="right", yanchor="top",
                                      showarrow=False, font=dict(size=12, color="#52606d"))]
    bar = dict(type="bar", x=centres, y=counts, width=float(edges[1] - edges[0]), marker=dict(color="#0072B2"),
               hovertemplate="%{x:.3f} mmag: %{y:,} exposures<extra></extra>", name="exposures")
    return {"data": [bar] if n else [], "layout": layout}


def transition_figure(matrix: pd.DataFrame, *, title: str = "", height: int = 340) -> dict:
    """The status transition matrix as a heatmap (rows: status before,
    columns: status after; counts written in the cells, colour on a log
    scale; the diagonal, unchanged, in grey). A cell's ``x``/``y`` are the
    statuses (what a click gives)."""
    statuses = [str(s) for s in matrix.index]
    counts = matrix.to_numpy(dtype=float)
    changed = ~np.eye(len(statuses), dtype=bool)
    level = np.log10(1 + counts)
    z_changed = np.where(changed & (counts > 0), level, np.nan)
    z_same = np.where(~changed & (counts > 0), level, np.nan)
    text = [[f"{int(c):,}" for c in row] for row in counts]
    hover = "%{y} → %{x}: %{text} exposures<extra>click to list them</extra>"
    common = dict(type="heatmap", x=statuses, y=statuses, text=text, texttemplate="%{text}", hovertemplate=hover,
                  showscale=False, xgap=3, ygap=3, textfont=dict(size=14), hoverongaps=False)
    top = float(np.nanmax(level)) if np.isfinite(level).any() and level.max() > 0 else 1.0
    traces = [
        dict(common, z=np.where(np.isnan(z_same) & np.isnan(z_changed), 0.0, np.nan).tolist(),
             colorscale=[[0, "#f5f7fa"], [1, "#f5f7fa"]], hoverinfo="skip", hovertemplate=None,
             texttemplate=None),
        dict(common, z=z_same.tolist(), colorscale=[[0, "#e4e7eb"], [1, "#9aa5b1"]], zmin=0, zmax=top),
        dict(common, z=z_changed.tolist(), colorscale=[[0, "#fde9d9"], [1, STATUS_COLOURS["FAIL"]]], zmin=0,
             zmax=top),
    ]
    # the empty cells' trace draws the grid and the zero counts
    traces[0]["text"], traces[0]["texttemplate"] = text, "%{text}"
    layout = layout_dict(title=title or None, height=height)
    layout["xaxis"] = dict(AXIS, title=dict(text="status after"), side="bottom", showgrid=False, type="category")
    layout["yaxis"] = dict(AXIS, title=dict(text="status before"), autorange="reversed", showgrid=False,
                           type="category")
    layout["margin"] = dict(layout["margin"], l=80)
    return {"data": traces, "layout": layout}
