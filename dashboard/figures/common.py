"""Small helpers shared by the figure builders."""
from __future__ import annotations

import html
import math
from typing import Any

import plotly.graph_objects as go

from ..style import BAND_FAIL, BAND_WARN
from .trend_data import ROBUST_SPAN, factor_range, off_scale, to_float_array  # noqa: F401 - re-exported

COLOURWAY = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
AXIS = dict(showgrid=True, gridcolor="#e4e7eb", zeroline=False, linecolor="#9aa5b1", showline=True, ticks="outside",
            tickcolor="#9aa5b1", automargin=True)
FONT = dict(family="Inter, 'Segoe UI', 'Helvetica Neue', Arial, sans-serif", size=13, color="#1f2933")


def layout_dict(*, title: str | None = None, height: int = 360) -> dict:
    """The common light layout, as a plain dict (cheap to build)."""
    return dict(
        paper_bgcolor="#ffffff",
        plot_bgcolor="#ffffff",
        colorway=COLOURWAY,
        font=FONT,
        height=height,
        margin=dict(l=60, r=20, t=48 if title else 16, b=48),
        title=dict(text=title, x=0.01, xanchor="left", font=dict(size=15)) if title else None,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1.0, font=dict(size=12)),
        hoverlabel=dict(font_size=12),
        xaxis=dict(AXIS),
        yaxis=dict(AXIS),
    )


def base_layout(fig: go.Figure, *, title: str | None = None, height: int = 360) -> go.Figure:
    """Apply the common light layout to a figure (in place) and return it."""
    layout = layout_dict(title=title, height=height)
    layout.pop("xaxis"), layout.pop("yaxis")
    fig.update_layout(template=None, **layout)
    fig.update_xaxes(**AXIS)
    fig.update_yaxes(**AXIS)
    return fig


def empty_figure(message: str, *, height: int = 260, title: str | None = None) -> go.Figure:
    """A figure with no data and a centred explanatory message."""
    fig = go.Figure()
    base_layout(fig, title=title, height=height)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=esc(message), x=0.5, y=0.5, xref="paper", yref="paper",
                       showarrow=False, font=dict(size=14, color="#52606d"))
    return fig


def esc(value: Any) -> str:
    """Escape a user string for plotly's pseudo-HTML text (hover, annotations)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return html.escape(str(value), quote=True)


def band_shapes(*, warn: float, fail: float, orientation: str = "h", axis: str = "",
                unity_line: bool = True) -> list[dict]:
    """Shapes shading the WARN and FAIL zones around a factor of 1.

    ``orientation="h"``: horizontal bands (factor on the y axis of subplot
    ``axis``, e.g. "" or "2"); ``"v"``: vertical bands (factor on x). The
    FAIL zone extends far beyond any plausible range; the axis range is set
    by the caller.
    """
    far = 10.0
    zones = [
        (1 - fail, 1 - warn, BAND_WARN), (1 + warn, 1 + fail, BAND_WARN),
        (1 - far, 1 - fail, BAND_FAIL), (1 + fail, 1 + far, BAND_FAIL),
    ]
    shapes = []
    span, data = (f"x{axis} domain", f"y{axis}") if orientation == "h" else (f"y{axis} domain", f"x{axis}")
    for low, high, colour in zones:
        if orientation == "h":
            shapes.append(dict(type="rect", xref=span, yref=data, x0=0, x1=1, y0=low, y1=high,
                               fillcolor=colour, line=dict(width=0), layer="below"))
        else:
            shapes.append(dict(type="rect", xref=data, yref=span, x0=low, x1=high, y0=0, y1=1,
                               fillcolor=colour, line=dict(width=0), layer="below"))
    if unity_line:
        line = dict(color="#3e4c59", width=1.2)
        if orientation == "h":
            shapes.append(dict(type="line", xref=span, yref=data, x0=0, x1=1, y0=1.0, y1=1.0, line=line,
                               layer="below"))
        else:
            shapes.append(dict(type="line", xref=data, yref=span, x0=1.0, x1=1.0, y0=0, y1=1, line=line,
                               layer="below"))
    return shapes


def add_bands(fig: go.Figure, *, warn: float, fail: float, orientation: str = "h", axis: str = "",
              unity_line: bool = True) -> None:
    """Add `band_shapes` to a figure (in place)."""
    fig.update_layout(shapes=list(fig.layout.shapes or ()) + band_shapes(
        warn=warn, fail=fail, orientation=orientation, axis=axis, unity_line=unity_line))


