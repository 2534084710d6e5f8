"""Overview / trends: counts of the selected filters, and every exposure's
factor against time or obs id for one filter at a time (tabs), with bands,
statuses, the control chart and the distribution of the factors.

The selection lives in the URL query string (``?filter=NIR_J&status=FAIL``,
``&trend=NIR_H`` for the tab) so that a view can be shared by its link.
Clicking a point opens its observation.

One trend plot at a time: redrawing a survey-size trend costs plotly.js
~100 ms in a browser without GPU, and three of them per change could not
keep a filter change under 300 ms.
"""
from __future__ import annotations

import dash
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import MissingCallbackContextException, PreventUpdate

from relphot_core.config import FILTERS
from relphot_core.status import STATUS_ORDER
from relphot_core.store.queries import awaits_review

from ..components import (count_statuses, counts_table, date_and_obs_controls, empty_store_page, filter_checklist,
                          flag_counts,
                          message, messages, reviewed_radio, status_checklist, status_counts)
from ..data import get_bands, get_cache, max_points, table_version, with_flags
from ..figures.trends import trend_figure_dict
from ..query import apply_selection, mjd_to_date, parse_selection, selected_rows, with_updates
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
    options = []
    for name in sel.filters:
        table = cache.trend(name)
        empty = table is None or len(table) == 0
        options.append({"label": f"{name} (no data)" if empty else name, "value": name, "disabled": empty})
    return options


def default_trend(sel) -> str:
    """The tab the overview opens on when the URL names none: the selected
    filter with the most exposures awaiting review, else the first with
    data (never an empty one while another has data)."""
    cache = get_cache()

    def waiting(name: str) -> tuple[int, int]:
        table = cache.trend(name)
        if table is None or len(table) == 0:
            return (0, 0)
        count = cache.memo(("awaiting", name, table_version(table)),
                           lambda: int(awaits_review(table).sum()) if "reviewed" in table.columns else 0)
        return (int(count), 1)

    scores = {name: waiting(name) for name in sel.filters}
    best = max(sel.filters, key=lambda name: (scores[name][0], scores[name][1], -sel.filters.index(name)))
    return best


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
    """Recompute the outputs of the overview for the controls' values.

    ``drawn`` holds the signature (selection, axis, data version) of what
    the browser already shows: the trend figure and the counts. What has
    not changed is neither rebuilt nor sent again
    (e.g. the counts when only the trend tab changes).
    """
    filters = [f for f in FILTERS if f in (filters or [])]
    sel = parse_selection({"filter": ",".join(filters) or None, "status": ",".join(statuses or []) or None,
                           "reviewed": reviewed, "from": date_from, "to": date_to, "obs": obs, "x": x, "by": by, "yrange": yrange,
                           # a tab whose filter was just unticked falls back to the first one
                           "trend": trend if trend in (filters or FILTERS) else None})
    problems = list(sel.messages)
    if not filters:
        problems.append("No filter selected: showing all filters.")
    if not statuses:
        problems.append("No status selected: showing all statuses.")
    cache, bands = get_cache(), get_bands()
    tables = {name: cache.trend(name) for name in sel.filters}
    versions = {name: table_version(tables[name]) for name in sel.filters}  # read with the table
    masked: dict[tuple[str, bool], object] = {}

    def selected(name: str, statuses: bool = True):
        # Applied only when something below is not remembered already, and
        # once per filter (a few ms each at survey size).
        if (name, statuses) not in masked:
            base = selected(name, False) if statuses else tables[name]
            masked[name, statuses] = apply_selection(base, sel, statuses=statuses)
        return masked[name, statuses]

    def chart_rows(name: str):
        # the control chart of the whole series over the selected dates and
        # obs ids, whatever the statuses and review state selected
        if sel.statuses == STATUS_ORDER and sel.reviewed == "any":
            return None
        return apply_selection(tables[name], with_updates(sel, reviewed="any"), statuses=False)

    drawn = dict(drawn or {})
    name = sel.trend_filter
    xcol = "mjd_obs" if sel.x == "time" else "obs_id"
    limit = max_points()
    common = parse_selection({**sel.to_params(), "filter": None, "trend": None}).to_search()
    signature = f"{name}|{common}|{xcol}|{sel.by}|{sel.yrange}|{limit}|{versions[name]}"
    if drawn.get("trend") == signature:
        figure = no_update
    else:
        figure = cache.memo(("trend", name, signature, bands), lambda: trend_figure_dict(
            selected(name), warn=bands.warn, fail=bands.fail, x=xcol, filter_name=name,
            max_points=limit if limit is not None else len(selected(name)) + 1, chart=chart_rows(name),
            by=sel.by, fit_all=sel.yrange == "all"))
        drawn["trend"] = signature

    def counted(name: str):
        # every status's counts: from the frame selected already, else from
        # the status codes and obs ids of the selected rows, taken without
        # copying the table (copying the rows was most of the cost)
        if (name, False) in masked:
            frame = masked[name, False]
            return status_counts(frame) if frame is not None and len(frame) else ({}, {}, 0)
        table = tables[name]
        if table is None or table.empty:
            return ({}, {}, 0)
        start, stop, rows = selected_rows(table, sel, statuses=False)
        status = table["status"].iloc[start:stop]
        if isinstance(status.dtype, pd.CategoricalDtype):
            codes, names = status.cat.codes.to_numpy(), [str(n) for n in status.cat.categories]
        else:  # an uncached table (cache_ttl=0)
            codes, names = pd.factorize(status.to_numpy())
            names = [str(n) for n in names]
        obs = table["obs_id"].to_numpy()[start:stop]
        if rows is not None:
            codes, obs = codes[rows], obs[rows]
        return count_statuses(codes, names, obs)

    def flagged(name: str) -> tuple[int, int]:
        table = tables[name]
        if table is None or table.empty:
            return (0, 0)
        if "flag" not in table.columns:  # an uncached table (cache_ttl=0)
            table = with_flags(table)
        start, stop, rows = selected_rows(table, sel, statuses=False)
        flag, obs = table["flag"].to_numpy()[start:stop], table["obs_id"].to_numpy()[start:stop]
        if rows is not None:
            flag, obs = flag[rows], obs[rows]
        return flag_counts(flag, obs)

    def summary():
        counts = {name: counted(name) for name in sel.filters}
        flags = {name: flagged(name) for name in sel.filters}
        total = sum(n for by_status, _, _ in counts.values() for status, n in by_status.items()
                    if status in sel.statuses)
        hidden = [s.value for s in STATUS_ORDER if s not in sel.statuses]
        note = f" · {' and '.join(hidden)} not selected (greyed)" if hidden else ""
        head = html.Div([html.H3("Counts per status"),
                         html.Span(f"{total:,} exposures selected{note}", className="muted", id=pid("n-selected"))],
                        className="card-head")
        def link(filter_name: str, status: str) -> str:
            return "/" + with_updates(sel, statuses=(status,), trend=filter_name).to_search()

        return [head, counts_table(counts, sel.statuses, flags, link)]

    no_axis = parse_selection({**sel.to_params(), "x": None, "trend": None, "by": None,
                               "yrange": None}).to_search()
    summary_signature = f"{no_axis}|{sorted(versions.items())}"
    if drawn.get("summary") == summary_signature:
        counts = no_update
    else:
        counts = cache.memo(("counts", summary_signature), summary)
        drawn["summary"] = summary_signature
    url_messages = [] if _triggered() is not None else no_update
    value = name if trend != name else no_update
    return ([message(p, "warning") for p in problems], counts, figure, _trend_options(sel), value,
            sel.to_search(), url_messages, drawn)


def open_observation(click_data, name):
    """Clicking a point of the trend opens its observation page.

    Detailed points carry their obs id and filter (the tab ``name`` may
    already show another filter while the figure is on its way); on light
    (survey-size) traces the obs id is found from the point's x in the
    table of the tab's filter: the obs id itself, or the exposure's MJD.
    Binned traces are not clickable."""
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
    return f"/observation/{obs_id}?filter={name}"


def obs_from_point(name: str, point: dict) -> int | None:
    """The obs id of a clicked point of filter ``name`` (None if not a point)."""
    obs_id = point.get("customdata")
    if isinstance(obs_id, (list, tuple)):
        obs_id = obs_id[0] if obs_id else None
    if obs_id is None and "x" in point:
        frame = get_cache().trend(name)
        for column in ("mjd_obs", "obs_id"):
            hits = frame.loc[frame[column] == point["x"], "obs_id"]
            if len(hits):
                obs_id = hits.iloc[0]
                break
    try:
        return int(obs_id)
    except (TypeError, ValueError):
        return None


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
