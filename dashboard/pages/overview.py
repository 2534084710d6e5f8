"""Overview / trends: counts of the selected filters, and every exposure's
factor against time or obs id for one filter at a time (tabs), with bands,
statuses, the control chart and the distribution of the factors.

The selection lives in the URL query string (``?filter=NIR_J&status=FAIL``,
``&trend=NIR_H`` for the tab) so that a view can be shared by its link.
Clicking a point opens its observation (whose breadcrumb leads back to
this view). Time is drawn on a UTC date axis (``x=obsid``: against the
observation id). What the page shows is computed by
`overview_model.overview_view`; the callback here only wires it.

One trend plot at a time: redrawing a survey-size trend costs plotly.js
~100 ms in a browser without GPU, and three of them per change could not
keep a filter change under 300 ms.
"""
from __future__ import annotations

from datetime import datetime

import dash
import numpy as np
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from relphot_core.wording import plural
from relphot_core.config import FILTERS
from relphot_core.mjd import datetime_to_mjd
from relphot_core.qc.problems import ACTIVE_STATES

from ..components import (counts_table, date_and_obs_controls, empty_store_page, filter_checklist, message, messages,
                          reviewed_radio, status_checklist)
from ..data import get_bands, get_cache, get_store, max_points
from ..query import mjd_to_date, parse_selection, with_updates
from .observation_model import with_back
from .news import overview_strip
from .triage import headline
from .overview_model import Controls, CountsView, default_trend as model_default_trend, overview_view, trend_options
from ..style import GRAPH_CONFIG

PAGE = dict(path="/", name="Overview", title="relphot QC — overview", order=0)


def pid(name: str) -> str:
    """Page-local component id."""
    return f"ov-{name}"


def _controls(sel) -> html.Div:
    return html.Div(className="controls", children=[
        html.Div([html.Label("Filters"), filter_checklist(pid("filters"), sel.filters)], className="control"),
        html.Div([html.Label("Status"), status_checklist(pid("statuses"), sel.statuses)], className="control"),
        html.Div([html.Label("Reviewed"), reviewed_radio(pid("reviewed"), sel.reviewed)], className="control"),
        *date_and_obs_controls(pid, sel),
        html.Div([html.Label("Plot against"), dcc.RadioItems(
            id=pid("x"), value=sel.x, inline=True, className="radio",
            options=[{"label": "time", "value": "time"}, {"label": "obs id", "value": "obsid"}])],
            className="control"),
        html.Div([html.Label("Running median"), dcc.RadioItems(
            id=pid("by"), value=sel.by, inline=True, className="radio",
            options=[{"label": "all dithers", "value": "status"}, {"label": "per dither", "value": "dither"}])],
            className="control"),
        html.Div([html.Label("QPRELEX range"), dcc.RadioItems(
            id=pid("yrange"), value=sel.yrange, inline=True, className="radio",
            options=[{"label": "robust", "value": "robust"}, {"label": "fit all", "value": "all"}])],
            className="control", title="robust: factors beyond 1 ± 4 × the FAIL level are pinned at the edge"),
    ])


def _trend_card(sel, figure) -> html.Div:
    return html.Div([
        html.Div([
            html.H3("Trend of"),
            dcc.RadioItems(id=pid("trend"), value=sel.trend_filter, inline=True, className="tabs",
                           options=_trend_options(sel)),
        ], className="card-head"),
        dcc.Graph(id=pid("trend-graph"), figure=figure, config=GRAPH_CONFIG),
    ], className="card", id=pid("trend-card"))


def _trend_options(sel) -> list[dict]:
    """One tab per selected filter; a filter without data says so and cannot be chosen."""
    cache = get_cache()
    return trend_options(sel.filters, {name: cache.trend(name) for name in sel.filters})


def default_trend(sel) -> str:
    """The tab the overview opens on when the URL names none (`overview_model.default_trend`)."""
    cache = get_cache()
    return model_default_trend(sel.filters, {name: cache.trend(name) for name in sel.filters}, cache.memo)


def layout(**params) -> html.Div:
    """The overview for the selection given in the URL."""
    cache = get_cache()
    if cache.is_empty():
        return empty_store_page()
    sel = parse_selection(params)
    if not params.get("trend"):
        sel = with_updates(sel, trend=default_trend(sel))
    span = []
    for name in FILTERS:
        frame = cache.trend(name)
        if frame is not None and len(frame):
            span += [frame["mjd_obs"].min(), frame["mjd_obs"].max()]
    hint = (f"Data from {mjd_to_date(min(span))} to {mjd_to_date(max(span))}. "
            if span and all(v == v for v in span) else "")
    # The first view is computed here, in the page itself: one round trip
    # less than letting the filter callback fire on load.
    (problems, counts, figure, _options, _value, search, _url, drawn) = update(
        list(sel.filters), list(sel.statuses), sel.reviewed, sel.date_from, sel.date_to, sel.obs, sel.x,
        sel.trend_filter, sel.by, sel.yrange, None)
    return html.Div([
        html.H1("Relative calibration of NISP exposures"),
        html.P([hint, "Each point is one exposure's QPRELEX (1 = consistent with the other dithers). "
                "Shaded: WARN (amber) and FAIL (vermillion) zones; on the right, the distribution of the "
                "selected factors. Click a point to open its observation."],
               className="lead"),
        messages(sel.messages, id_=pid("url-messages")),
        headline(get_store().problems(states=ACTIVE_STATES)),
        overview_strip(),
        _controls(sel),
        html.Div(problems, id=pid("messages")),
        html.Div(counts, id=pid("counts"), className="card"),
        _trend_card(sel, figure),
        dcc.Store(id=pid("search"), data=search),
        dcc.Store(id=pid("drawn"), data=drawn),
        dcc.Location(id=pid("nav"), refresh="callback-nav"),
        html.Div(id=pid("dummy"), hidden=True),
    ])


def prewarm() -> None:
    """Draw the default view once (at start-up, after the tables are cached):
    the first visitor then gets its figures from memory."""
    sel = parse_selection({})
    update(list(sel.filters), list(sel.statuses), sel.reviewed, sel.date_from, sel.date_to, sel.obs, sel.x,
           default_trend(sel), sel.by, sel.yrange, None)


def _triggered():
    """The id of the component that fired the callback (None outside callbacks)."""
    try:
        return ctx.triggered_id
    except (MissingCallbackContextException, LookupError):  # a thread outside any request: LookupError
        return None


def update(filters, statuses, reviewed, date_from, date_to, obs, x, trend=None, by=None, yrange=None,
           drawn=None):
    """The overview's callback: `overview_model.overview_view` of the
    controls' values and the cached tables, wired to the page's outputs
    (what the browser shows already is not sent again)."""
    cache, bands = get_cache(), get_bands()
    controls = Controls(filters, statuses, reviewed, date_from, date_to, obs, x, trend, by, yrange)
    wanted = [f for f in FILTERS if f in (filters or [])] or list(FILTERS)
    view = overview_view(controls, {name: cache.trend(name) for name in wanted}, warn=bands.warn, fail=bands.fail,
                         max_points=max_points(), drawn=drawn, memo=cache.memo)
    url_messages = [] if _triggered() is not None else no_update
    value = view.trend_filter if trend != view.trend_filter else no_update
    return ([message(p, "warning") for p in view.problems],
            no_update if view.counts is None else _counts_card(view.counts),
            no_update if view.figure is None else view.figure,
            view.trend_options, value, view.search, url_messages, view.drawn)


def _counts_card(counts: CountsView) -> list:
    """The counts card's content."""
    note = f" · {' and '.join(counts.hidden)} not selected (greyed)" if counts.hidden else ""
    head = html.Div([html.H3("Counts per status"),
                     html.Span(f"{plural(counts.total, 'exposure')} selected{note}", className="muted",
                               id=pid("n-selected"))],
                    className="card-head")
    return [head, counts_table(counts.counts, counts.shown, counts.flags,
                               lambda name, status: counts.links[name, status])]


def open_observation(click_data, name, search=None):
    """Clicking a point of the trend opens its observation page.

    Every point drawn one by one carries its obs id first in its
    ``customdata`` (detailed points their filter second: the tab ``name``
    may already show another filter while the figure is on its way).
    Binned envelopes are not clickable. The overview's query string
    ``search`` goes along as ``back``: the observation's breadcrumb leads
    back to this view."""
    try:
        point = click_data["points"][0]
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    data = point.get("customdata")
    if isinstance(data, (list, tuple)) and len(data) > 1 and data[1] in FILTERS:
        name = data[1]
    if name not in FILTERS:
        raise PreventUpdate
    obs_id = obs_from_point(name, point)
    if obs_id is None:
        raise PreventUpdate
    back = "/" + search if isinstance(search, str) and search else None
    return with_back(f"/observation/{obs_id}?filter={name}", back)


def obs_from_point(name: str, point: dict) -> int | None:
    """The obs id of a clicked point of filter ``name`` (None if not a point).

    From the point's ``customdata`` (its obs id first); else (a WebGL trace
    of a server drawing every point) from its x: an obs id, or a date of
    the date axis, matched to the nearest exposure within a second."""
    obs_id = point.get("customdata")
    if isinstance(obs_id, (list, tuple)):
        obs_id = obs_id[0] if obs_id else None
    if obs_id is None and "x" in point:
        obs_id = _obs_at(get_cache().trend(name), point["x"])
    if obs_id is None:
        return None
    try:
        return int(obs_id)
    except (TypeError, ValueError):
        return None


def _obs_at(frame, x) -> int | None:
    """The obs id at abscissa ``x`` of the trend: an obs id, or a date
    string of the date axis (the exposure within a second of it)."""
    if frame is None or frame.empty:
        return None
    if isinstance(x, str):
        try:
            mjd = datetime_to_mjd(datetime.fromisoformat(x.strip().replace(" ", "T")))
        except ValueError:
            return None
        times = frame["mjd_obs"].to_numpy(dtype=float)
        if not np.isfinite(times).any():
            return None
        nearest = int(np.nanargmin(np.abs(times - mjd)))
        return int(frame["obs_id"].iloc[nearest]) if abs(times[nearest] - mjd) < 1 / 86400 else None
    hits = frame.loc[frame["obs_id"] == x, "obs_id"]
    return int(hits.iloc[0]) if len(hits) else None


def register_callbacks(app: dash.Dash) -> None:
    """Attach the overview's callbacks to an app."""
    app.callback(
        Output(pid("messages"), "children"),
        Output(pid("counts"), "children"),
        Output(pid("trend-graph"), "figure"),
        Output(pid("trend"), "options"),
        Output(pid("trend"), "value"),
        Output(pid("search"), "data"),
        Output(pid("url-messages"), "children"),
        Output(pid("drawn"), "data"),
        Input(pid("filters"), "value"),
        Input(pid("statuses"), "value"),
        Input(pid("reviewed"), "value"),
        Input(pid("from"), "value"),
        Input(pid("to"), "value"),
        Input(pid("obs"), "value"),
        Input(pid("x"), "value"),
        Input(pid("trend"), "value"),
        Input(pid("by"), "value"),
        Input(pid("yrange"), "value"),
        State(pid("drawn"), "data"),
        prevent_initial_call=True,
    )(update)
    app.callback(
        Output(pid("nav"), "href"),
        Input(pid("trend-graph"), "clickData"),
        State(pid("trend"), "value"),
        State(pid("search"), "data"),
        prevent_initial_call=True,
    )(open_observation)
    # The selection goes into the address bar without reloading the page.
    app.clientside_callback(
        """
        function(search) {
            if (search === undefined || search === null) { return window.dash_clientside.no_update; }
            if (window.location.pathname === '/' && window.location.search !== search) {
                window.history.replaceState(null, '', '/' + search);
            }
            return '';
        }
        """,
        Output(pid("dummy"), "children"),
        Input(pid("search"), "data"),
    )
    # The navbar's Overview and Exports links keep the selection: back to the
    # same view from an observation, or export what is on the screen.
    app.clientside_callback(
        """
        function(search) {
            if (typeof search !== 'string') { return [window.dash_clientside.no_update,
                                                      window.dash_clientside.no_update]; }
            return ['/' + search, '/exports' + search];
        }
        """,
        Output("nav-overview", "href"),
        Output("nav-exports", "href"),
        Input(pid("search"), "data"),
    )
