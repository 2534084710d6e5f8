"""The sky map's figure: pointings, or HEALPix cells of pointings, on the
Hammer equal-area all-sky projection (`relphot_core.survey.hammer_xy`,
RA increasing to the left, 180° in the middle), with an RA / Dec
graticule; coloured by worst status (one trace per status, its colour and
symbol) or by the largest ``|QPRELEX - 1|`` (a colour scale).

Pure builders: arrays and data frames in, plotly figure dicts out.
Each marker's ``customdata`` says what a click opens:
``["cell", nside, index]`` or ``["obs", obs_id, filter]``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relphot_core.survey import STATUSES, hammer_xy

from ..style import STATUS_COLOURS, STATUS_SYMBOLS
from .common import layout_dict

X_LIMIT = 2.0 * np.sqrt(2.0)
Y_LIMIT = np.sqrt(2.0)
FULL_VIEW = (-X_LIMIT * 1.02, X_LIMIT * 1.02, -Y_LIMIT * 1.04, Y_LIMIT * 1.04)
"""The projected region of the whole sky (x0, x1, y0, y1)."""
OFFSET_SCALE = [[0.0, "#fff5eb"], [0.3, "#fdae6b"], [0.6, "#e6550d"], [1.0, "#7f2704"]]
"""Sequential colours of ``|QPRELEX - 1|`` (light: near 1, dark: far)."""


def graticule(*, step_ra: float = 60.0, step_dec: float = 30.0, centre: float = 180.0) -> list[dict]:
    """Lines of constant RA and Dec, and the outline, as one grey trace and
    one trace of RA labels along the equator."""
    xs: list[float | None] = []
    ys: list[float | None] = []
    dec = np.linspace(-90, 90, 91)
    for ra in np.arange(0.0, 360.0, step_ra):
        x, y = hammer_xy(np.full(dec.size, ra), dec)
        xs += [*x.tolist(), None]
        ys += [*y.tolist(), None]
    ra = centre + np.linspace(-179.9999, 179.9999, 181)  # west edge to east edge, no wrap in between
    for d in np.arange(-90.0 + step_dec, 90.0, step_dec):
        x, y = hammer_xy(ra, np.full(ra.size, d))
        xs += [*x.tolist(), None]
        ys += [*y.tolist(), None]
    for edge in (centre - 179.9999, centre + 179.9999):  # the outline: the RA opposite the centre, both sides
        x, y = hammer_xy(np.full(dec.size, edge), dec)
        xs += [*x.tolist(), None]
        ys += [*y.tolist(), None]
    label_ra = np.arange(0.0, 360.0, step_ra)
    lx, ly = hammer_xy(label_ra, np.zeros(label_ra.size))
    lines = dict(type="scatter", mode="lines", x=xs, y=ys, line=dict(color="#cbd2d9", width=0.8), hoverinfo="skip",
                 showlegend=False, name="graticule")
    labels = dict(type="scatter", mode="text", x=lx.tolist(), y=(ly - 0.06).tolist(),
                  text=[f"{int(r)}°" for r in label_ra], textfont=dict(size=11, color="#7b8794"), hoverinfo="skip",
                  showlegend=False, name="RA")
    return [lines, labels]


def _percent(values: np.ndarray) -> list[str]:
    return ["—" if not np.isfinite(v) else f"{100 * v:.2f} %" for v in values]


def sky_figure(points: pd.DataFrame, *, kind: str, colour_by: str = "worst", title: str = "",
               view: tuple[float, float, float, float] | None = None, height: int | None = None) -> dict:
    """Pointings or cells on the all-sky projection.

    Parameters
    ----------
    points : pandas.DataFrame
        ``kind="cells"``: `relphot_core.survey.cell_summary` rows with
        ``nside`` (cell, ra, dec, count, worst_status, n_flagged,
        max_offset); ``kind="pointings"``: obs, filter, ra, dec, worst,
        offset.
    colour_by : {"worst", "offset"}
        Worst status (discrete) or largest ``|QPRELEX - 1|`` (continuous).
    view : (x0, x1, y0, y1), optional
        The projected region shown (zoomed); default the whole sky.
    """
    layout = layout_dict(title=title or None, height=height or 560)
    if height is None:  # as tall as its container (the page gives it the sky's aspect)
        layout.pop("height")
        layout["autosize"] = True
    x0, x1, y0, y1 = view or FULL_VIEW
    hidden = dict(visible=False, showgrid=False, zeroline=False)
    layout["xaxis"] = dict(hidden, range=[x0, x1])
    layout["yaxis"] = dict(hidden, range=[y0, y1], scaleanchor="x", scaleratio=1)
    layout["margin"] = dict(l=10, r=10, t=48 if title else 10, b=10)
    layout["dragmode"] = "zoom"
    layout["hovermode"] = "closest"
    layout["uirevision"] = "sky"
    traces = graticule()
    if points.empty:
        layout["annotations"] = [dict(text="No pointing to show (the catalogues gave no RA_PNT / DEC_PNT).", x=0.5,
                                      y=0.5, xref="paper", yref="paper", showarrow=False,
                                      font=dict(size=14, color="#52606d"))]
        return {"data": traces, "layout": layout}
    x, y = hammer_xy(points["ra"].to_numpy(dtype=float), points["dec"].to_numpy(dtype=float))
    if kind == "cells":
        status = points["worst_status"].to_numpy(dtype=object)
        offset = points["max_offset"].to_numpy(dtype=float)
        nside = int(points["nside"].iloc[0])
        # the hover reads the fields from customdata (one template, not one text per marker: half the bytes)
        rows = [["cell", nside, int(c), int(n), int(f), s, o, round(float(r), 2), round(float(d), 2)]
                  for c, n, f, s, o, r, d in zip(points["cell"], points["count"], points["n_flagged"], status,
                                                 _percent(offset), points["ra"], points["dec"])]
        hover = ("HEALPix cell %{customdata[2]} (nside %{customdata[1]})<br>%{customdata[3]:,} pointings, "
                 "%{customdata[4]:,} flagged<br>worst %{customdata[5]} · largest |QPRELEX − 1| %{customdata[6]}"
                 "<br>RA %{customdata[7]:.1f}° Dec %{customdata[8]:.1f}° · click to list them<extra></extra>")
        size = float(np.clip(9.0 * 16.0 / nside * (2 * X_LIMIT) / abs(x1 - x0), 4.0, 22.0))
        symbol_of = {s: "square" for s in STATUSES}
    else:
        status = points["worst"].to_numpy(dtype=object)
        offset = points["offset"].to_numpy(dtype=float)
        rows = [["obs", int(o), str(f), s, p, round(float(r), 3), round(float(d), 3)]
                  for o, f, s, p, r, d in zip(points["obs"], points["filter"], status, _percent(offset), points["ra"],
                                              points["dec"])]
        hover = ("obs %{customdata[1]} %{customdata[2]}<br>worst %{customdata[3]} · largest |QPRELEX − 1| "
                 "%{customdata[4]}<br>RA %{customdata[5]:.2f}° Dec %{customdata[6]:.2f}° · click to open"
                 "<extra></extra>")
        size = 8.0
        symbol_of = STATUS_SYMBOLS
    custom = np.array(rows, dtype=object)
    if colour_by == "offset":
        finite = np.isfinite(offset)
        top = float(np.nanpercentile(offset[finite], 99)) if finite.any() else 0.02
        traces.append(dict(
            type="scatter", mode="markers", x=x, y=y, customdata=custom, hovertemplate=hover,
            name="largest |QPRELEX − 1|", showlegend=False,
            marker=dict(size=size, symbol="square" if kind == "cells" else "circle",
                        color=np.where(finite, 100 * offset, np.nan), colorscale=OFFSET_SCALE, cmin=0,
                        cmax=max(100 * top, 0.5), line=dict(width=0.5, color="#9aa5b1"),
                        colorbar=dict(title=dict(text="largest<br>|QPRELEX − 1|, %"), thickness=12, len=0.7))))
    else:
        for name in STATUSES:  # worst last: drawn on top
            chosen = status == name
            if not chosen.any():
                continue
            traces.append(dict(
                type="scatter", mode="markers", x=x[chosen], y=y[chosen], customdata=custom[chosen],
                hovertemplate=hover, name=f"{name} ({int(chosen.sum()):,})",
                marker=dict(size=size, symbol=symbol_of[name], color=STATUS_COLOURS[name],
                            line=dict(width=0.5 if kind == "cells" else 0, color="#ffffff"))))
    return {"data": traces, "layout": layout}
