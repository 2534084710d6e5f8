"""Colours, symbols and labels shared by every page and figure.

Status colours follow the Okabe-Ito palette (safe for the common forms of
colour blindness) and every status also has its own marker symbol, so a
plot never relies on colour alone.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from relphot_core.status import Status

if TYPE_CHECKING:
    from dash import dcc

STATUS_COLOURS: dict[str, str] = {
    Status.OK: "#009E73",      # bluish green
    Status.WARN: "#E69F00",    # amber / orange
    Status.FAIL: "#D55E00",    # vermillion
    Status.NODATA: "#8C8C8C",  # grey
}
"""One colour per status, the same on every page."""

STATUS_SYMBOLS: dict[str, str] = {
    Status.OK: "circle",
    Status.WARN: "diamond",
    Status.FAIL: "x",
    Status.NODATA: "square-open",
}

STATUS_TEXT_COLOURS: dict[str, str] = dict.fromkeys(Status, "#111111")
"""Dark text on every status colour: 5.3:1 (FAIL) to 7.9:1 (WARN), WCAG AA
(white was 3.3-3.9:1)."""

BAND_WARN = "rgba(230, 159, 0, 0.13)"
BAND_FAIL = "rgba(213, 94, 0, 0.10)"
DRIFT_COLOUR = "#CC79A7"      # reddish purple: control-chart alarms
DITHER_STYLES: dict[int, tuple[str, str]] = {
    1: ("#0072B2", "solid"),     # blue
    2: ("#56B4E9", "dash"),      # sky blue
    3: ("#000000", "dot"),       # black
    4: ("#CC79A7", "dashdot"),   # reddish purple
}
"""Colour and dash of each dither position's running median (Okabe-Ito
colours, told apart by the dash too); dithers beyond 4 cycle."""
MEDIAN_COLOUR = "#0072B2"     # blue: running median and control limits
REVIEW_COLOURS = {"confirmed": "#0072B2", "overruled": "#6a3d9a"}


GRAPH_CONFIG: dcc.Graph.Config = {
    "displaylogo": False,
    "displayModeBar": "hover",
    # Four tools (save, zoom, pan, reset) keep the bar off the plot titles.
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "zoomIn2d", "zoomOut2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}
"""`dcc.Graph` config shared by every plot."""
