"""Sky map: ``/sky?filter=NIR_J&colour=offset``.

Every observation's pointing on the Hammer equal-area all-sky projection,
coloured by worst status or largest ``|QPRELEX - 1|``: one filter, or all
(an observation's worst over its filters). Beyond `POINT_LIMIT` pointings
in view they are aggregated on HEALPix cells (nested; finer as one zooms
in), so that a survey's 87,000 pointings draw as a few thousand markers.
Zoom with a box (double-click: the whole sky); a click on a pointing opens
its observation, on a cell the observation list narrowed to it.
"""
from __future__ import annotations

import math
from urllib.parse import urlencode

import dash
import numpy as np
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html
from dash.exceptions import PreventUpdate

from relphot_core.config import FILTERS
from relphot_core.survey import STATUSES, cell_summary, hammer_xy, status_rank

from ..components import empty_store_page, message, sync_address_bar
from ..data import get_cache
from ..figures.sky import FULL_VIEW, sky_figure
from ..query import unknown_parameters
from ..style import GRAPH_CONFIG
from ..survey_data import memo, observation_list
from .observation_model import with_back
from .observations import list_href

PAGE = dict(path="/sky", name="Sky map", title="relphot QC — sky map", order=8)
ALL = "all"
POINT_LIMIT = 2500
"""Pointings in view drawn one by one up to this many; aggregated on cells beyond."""
BASE_NSIDE = 16
"""HEALPix resolution of the whole-sky view (3,072 cells of 3.7°); doubled each time the view halves."""
MAX_NSIDE = 1024
COLOURS = {"worst": "worst status", "offset": "largest |QPRELEX − 1|"}


def pid(name: str) -> str:
    """Page-local component id."""
    return f"sky-{name}"


def pointings(rows: pd.DataFrame, filter_name: str) -> pd.DataFrame:
    """The pointings of one filter (obs, filter, ra, dec, worst, offset,
    x, y), or of every filter (``"all"``: one per observation, its worst
    status and largest offset over its filters, the first filter's
    pointing); without RA/Dec left out."""
    if filter_name != ALL:
        chosen = rows[rows["filter"] == filter_name][["obs", "filter", "ra", "dec", "worst", "offset"]]
    else:
        work = rows[["obs", "filter", "ra", "dec", "worst", "offset"]].assign(rank=status_rank(rows["worst"]))
        grouped = work.groupby("obs", sort=True)
        chosen = grouped.agg(ra=("ra", "first"), dec=("dec", "first"), rank=("rank", "max"),
                             offset=("offset", "max")).reset_index()
        chosen["worst"] = np.asarray(STATUSES, dtype=object)[chosen.pop("rank").to_numpy()]
        chosen["filter"] = ""
    chosen = chosen[np.isfinite(chosen["ra"].to_numpy(dtype=float)) & np.isfinite(chosen["dec"].to_numpy(dtype=float))]
    x, y = hammer_xy(chosen["ra"].to_numpy(dtype=float), chosen["dec"].to_numpy(dtype=float))
    return chosen.assign(x=x, y=y).reset_index(drop=True)


def view_of(relayout: dict | None, current: list | None) -> tuple[float, float, float, float] | None:
    """The projected region after a zoom (None: the whole sky); ``current`` the region before."""
    if not relayout:
        return tuple(current) if current else None
    if relayout.get("xaxis.autorange") or relayout.get("autosize"):
        return None
    try:
        x0, x1 = float(relayout["xaxis.range[0]"]), float(relayout["xaxis.range[1]"])
        y0, y1 = float(relayout["yaxis.range[0]"]), float(relayout["yaxis.range[1]"])
    except (KeyError, TypeError, ValueError):
        return tuple(current) if current else None
    return (min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1))


def what_to_draw(points: pd.DataFrame, view: tuple[float, float, float, float] | None) -> tuple[pd.DataFrame, str]:
    """The pointings in view when few enough (``"pointings"``), else their
    HEALPix cells (``"cells"``, with an ``nside`` column) at a resolution
    that follows the zoom."""
    x0, x1, y0, y1 = view or FULL_VIEW
    inside = ((points["x"] >= x0) & (points["x"] <= x1) & (points["y"] >= y0) & (points["y"] <= y1)).to_numpy()
    if inside.sum() <= POINT_LIMIT:
        return points[inside], "pointings"
    zoom = max(1.0, (FULL_VIEW[1] - FULL_VIEW[0]) / max(x1 - x0, 1e-9))
    nside = int(min(MAX_NSIDE, BASE_NSIDE * 2 ** math.floor(math.log2(zoom))))
    chosen = points[inside]
    cells = cell_summary(chosen["ra"].to_numpy(dtype=float), chosen["dec"].to_numpy(dtype=float),
                         status_rank(chosen["worst"]), chosen["offset"].to_numpy(dtype=float), nside)
    return cells.assign(nside=nside), "cells"


def figure(filter_name: str, colour_by: str, view: tuple[float, float, float, float] | None) -> tuple[dict, str]:
    """The map and a sentence saying what it shows (remembered per list version, filter, colour and view)."""
    rows = observation_list()
    version = rows.attrs.get("key")
    points = memo()(("sky-points", version, filter_name), lambda: pointings(rows, filter_name))

    def build() -> tuple[dict, str]:
        drawn, kind = what_to_draw(points, view)
        where = "all filters (an observation's worst)" if filter_name == ALL else filter_name
        if kind == "cells":
            nside = int(drawn["nside"].iloc[0]) if len(drawn) else BASE_NSIDE
            text = (f"{len(points):,} pointings ({where}); {int(drawn['count'].sum()):,} in view on {len(drawn):,} "
                    f"HEALPix cells (nside {nside}). Click a cell to list its observations; zoom in for the "
                    f"pointings.")
        else:
            text = (f"{len(points):,} pointings ({where}); {len(drawn):,} in view, one marker each. Click one to "
                    f"open its observation.")
        title = f"{where}: {COLOURS[colour_by]}"
        return sky_figure(drawn, kind=kind, colour_by=colour_by, title=title, view=view), text

    return memo()(("sky-figure", version, filter_name, colour_by, view), build)


def prewarm() -> None:
    """Build the observation list and the whole-sky map of every filter at
    start-up (the first visits then find them; ~2 s at survey size)."""
    for name in (ALL, *FILTERS):
        figure(name, "worst", None)


def search_of(filter_name: str, colour_by: str) -> str:
    """The URL query string of a view."""
    return "?" + urlencode({"filter": filter_name, "colour": colour_by})


def layout(filter=None, colour=None, **_params) -> html.Div:  # URL parameter name
    """The sky map of the URL's filter and colouring."""
    if get_cache().is_empty():
        return empty_store_page()
    problems = unknown_parameters(_params, ("filter", "colour"))
    filter_name = filter if filter in (ALL, *FILTERS) else ALL
    if filter not in (None, "", *FILTERS, ALL):
        problems.append(f"Unknown filter '{str(filter)[:40]}' (choose among all, {', '.join(FILTERS)}); showing all.")
    colour_by = colour if colour in COLOURS else "worst"
    if colour not in (None, "", *COLOURS):
        problems.append(f"'colour' must be worst or offset, not '{str(colour)[:40]}'; showing worst.")
    fig, text = figure(filter_name, colour_by, None)
    return html.Div([
        html.Div([dcc.Link("Overview", href="/"), " / sky map"], className="breadcrumb"),
        html.H1("Sky map"),
        html.P("Every observation's pointing (RA_PNT, DEC_PNT) on an equal-area all-sky projection (Hammer; RA "
               "increases to the left, 180° in the middle): do problems cluster on the sky? Draw a box to zoom, "
               "double-click for the whole sky.", className="lead"),
        html.Div([message(p, "warning") for p in problems], id=pid("url-messages")),
        html.Div(className="controls", children=[
            html.Div([html.Label("Filter"), dcc.RadioItems(
                id=pid("filter"), value=filter_name, inline=True, className="tabs",
                options=[{"label": "all", "value": ALL}, *({"label": n, "value": n} for n in FILTERS)])],
                className="control"),
            html.Div([html.Label("Colour"), dcc.RadioItems(
                id=pid("colour"), value=colour_by, inline=True, className="tabs",
                options=[{"label": label, "value": value} for value, label in COLOURS.items()])],
                className="control"),
        ]),
        html.P(text, id=pid("summary"), className="muted"),
        html.Div(dcc.Graph(id=pid("map"), figure=fig, config=GRAPH_CONFIG, className="sky-map",
                           style={"height": "100%"}), className="card"),
        dcc.Store(id=pid("view"), data=None),
        dcc.Store(id=pid("search"), data=search_of(filter_name, colour_by)),
        dcc.Location(id=pid("goto"), refresh="callback-nav"),
        html.Div(id=pid("dummy"), hidden=True),
    ])


def update(filter_name, colour_by, relayout, current):
    """Redraw for a filter, a colouring or a zoom (a zoom changes the cells' resolution, or shows pointings)."""
    if filter_name not in (ALL, *FILTERS) or colour_by not in COLOURS:
        raise PreventUpdate
    view = view_of(relayout, current) if ctx.triggered_id == pid("map") else (tuple(current) if current else None)
    fig, text = figure(filter_name, colour_by, view)
    return fig, text, list(view) if view else None, search_of(filter_name, colour_by)


def open_click(click, filter_name, search):
    """A click on a pointing opens its observation; on a cell, the observation list narrowed to it."""
    try:
        custom = click["points"][0]["customdata"]
        kind = custom[0]
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    if kind == "cell":
        narrowing = {"cell": f"{int(custom[1])}:{int(custom[2])}"}
        if filter_name in FILTERS:
            narrowing["filter"] = filter_name
        return list_href(**narrowing)
    if kind == "obs":
        band = str(custom[2]) if custom[2] in FILTERS else ""
        href = f"/observation/{int(custom[1])}" + (f"?filter={band}" if band else "")
        return with_back(href, "/sky" + (search or ""))
    raise PreventUpdate


def register_callbacks(app: dash.Dash) -> None:
    """Attach the sky map's callbacks to an app."""
    app.callback(
        Output(pid("map"), "figure"),
        Output(pid("summary"), "children"),
        Output(pid("view"), "data"),
        Output(pid("search"), "data"),
        Input(pid("filter"), "value"),
        Input(pid("colour"), "value"),
        Input(pid("map"), "relayoutData"),
        State(pid("view"), "data"),
        prevent_initial_call=True,
    )(update)
    app.callback(
        Output(pid("goto"), "href"),
        Input(pid("map"), "clickData"),
        State(pid("filter"), "value"),
        State(pid("search"), "data"),
        prevent_initial_call=True,
    )(open_click)
    sync_address_bar(app, "/sky", pid("search"), pid("dummy"))
