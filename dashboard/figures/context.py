"""The context of an observation's factors against the season: sources
matched, fraction clipped and pair dispersion of each exposure
(`relphot_core.survey.exposure_context`), the season as a median line and
10-90 % band over time bins, the observation's exposures as markers.

Pure builder: a data frame in, a plotly figure dict out.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..style import DITHER_STYLES
from .common import AXIS, empty_figure, layout_dict

UNIX_EPOCH_MJD = 40587.0
SEASON_BINS = 60
PANELS = (("matched", "matched", "{:,.0f}"), ("clipped_fraction", "clipped", "{:.1%}"),
          ("pair_dispersion", "pair σ (mmag)", "{:.1f}"))
"""Column, axis title and format of each panel: sources matched, fraction
clipped, dispersion (clipped sigma) of the exposure's pairs."""


def _ms(mjd: np.ndarray) -> np.ndarray:
    return (np.asarray(mjd, dtype=float) - UNIX_EPOCH_MJD) * 86_400_000.0


def _binned(mjd: np.ndarray, values: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per time bin: centre, 10 %, median and 90 % of the finite values (NaN for an empty bin)."""
    good = np.isfinite(values) & np.isfinite(mjd)
    which = np.clip(np.digitize(mjd[good], edges) - 1, 0, len(edges) - 2)
    out = np.full((3, len(edges) - 1), np.nan)
    for b in np.unique(which):
        out[:, b] = np.percentile(values[good][which == b], [10, 50, 90])
    return 0.5 * (edges[:-1] + edges[1:]), out[0], out[1], out[2]


def context_figure(season: pd.DataFrame, obs_id: int, *, title: str = "", height: int = 520) -> dict:
    """Three panels over the season (shared date axis): the filter's
    exposures as median and 10-90 % band, this observation's as one marker
    per dither (its colour as on the trend).

    Parameters
    ----------
    season : pandas.DataFrame
        `relphot_core.survey.exposure_context` rows of the filter.
    obs_id : int
        The observation shown.
    """
    if season.empty:
        return empty_figure("No context for this filter.", height=200, title=title).to_plotly_json()
    mjd = season["mjd_obs"].to_numpy(dtype=float)
    finite = mjd[np.isfinite(mjd)]
    edges = np.linspace(finite.min(), finite.max() + 1e-6, SEASON_BINS + 1) if finite.size else np.array([0.0, 1.0])
    mine = season[season["obs_id"] == int(obs_id)]
    layout = layout_dict(title=title or None, height=height)
    layout.pop("xaxis"), layout.pop("yaxis")
    layout["margin"] = dict(l=70, r=20, t=48 if title else 16, b=36)
    layout["hovermode"] = "closest"
    traces: list[dict] = []
    for k, (column, label, fmt) in enumerate(PANELS):
        axis = "" if k == 0 else str(k + 1)
        top = 1 - k / 3
        layout[f"xaxis{axis}"] = dict(AXIS, type="date", anchor=f"y{axis}", matches=None if k == 0 else "x",
                                      showticklabels=k == 2)
        layout[f"yaxis{axis}"] = dict(AXIS, domain=[top - 1 / 3 + 0.06, top - 0.01], title=dict(text=label),
                                      anchor=f"x{axis}")
        values = season[column].to_numpy(dtype=float)
        centre, low, median, high = _binned(mjd, values, edges)
        x = _ms(centre).tolist()
        traces += [
            dict(type="scatter", mode="lines", x=x, y=low.tolist(), line=dict(width=0), hoverinfo="skip",
                 xaxis=f"x{axis}", yaxis=f"y{axis}", showlegend=False, name="10 %"),
            dict(type="scatter", mode="lines", x=x, y=high.tolist(), line=dict(width=0), fill="tonexty",
                 fillcolor="rgba(0, 114, 178, 0.12)", hoverinfo="skip", xaxis=f"x{axis}", yaxis=f"y{axis}",
                 showlegend=False, name="90 %"),
            dict(type="scatter", mode="lines", x=x, y=median.tolist(), line=dict(color="#0072B2", width=1.5),
                 xaxis=f"x{axis}", yaxis=f"y{axis}", name="season median (10-90 % band)", showlegend=k == 0,
                 hovertemplate=f"season median %{{y:{fmt[2:-1]}}}<extra></extra>"),
        ]
        for dither in sorted(set(mine["exposure"].tolist())):
            row = mine[mine["exposure"] == dither]
            colour = DITHER_STYLES.get((int(dither) - 1) % 4 + 1, ("#000000", "solid"))[0]
            value = float(row[column].iloc[0])
            traces.append(dict(
                type="scatter", mode="markers", x=_ms(row["mjd_obs"].to_numpy()).tolist(), y=[value],
                marker=dict(size=11, color=colour, symbol="diamond", line=dict(width=1, color="#1f2933")),
                xaxis=f"x{axis}", yaxis=f"y{axis}", name=f"obs {obs_id} dither {dither}", showlegend=k == 0,
                legendgroup=str(dither),
                hovertemplate=f"obs {obs_id} dither {dither}: {label} "
                              + ("—" if not np.isfinite(value) else fmt.format(value)) + "<extra></extra>"))
    layout["legend"] = dict(orientation="h", yanchor="top", y=-0.06, xanchor="left", x=0.0, font=dict(size=12))
    return dict(data=traces, layout=layout)
