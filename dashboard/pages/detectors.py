"""Detector page: ``/detectors?filter=NIR_J&from=2026-01-01&to=2026-02-01&detector=23&show=worst``.

For one filter and a period: the 4x4 focal plane of the period's median
offset of each detector against its own exposure (mmag, ± error; detectors
whose median is WARN / FAIL framed), or of its worst offset (``show=worst``:
one bad exposure of a detector frames its tile, with its observation), and, for the detector clicked (or
named in the URL), its offsets over time with the WARN / FAIL bands and
the alarms of its control chart (`relphot_core.detector_qc`); below, the
16 detectors' series side by side (a median line and the WARN / FAIL
offsets, each panel counting its flagged exposures): a click on one shows
that detector above.

The rows come from the server's `dashboard.detector_cache.DetectorCache`
(one table per filter, sorted by detector then time): a change of
detector or period is a few binary searches and one figure.
"""
from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from relphot_core.config import DETECTORS, FILTERS

from ..components import empty_store_page, message
from ..data import get_cache
from ..detector_cache import get_detector_cache
from ..figures.detectors import (PLANE_SHOWS, detector_multiples_figure, detector_series_figure,
                                 focal_plane_figure, mmag_limits)
from ..query import mjd_to_date, parse_selection, unknown_parameters
from ..style import GRAPH_CONFIG
from .observation_model import with_back

PAGE = dict(path="/detectors", name="Detectors", title="relphot QC — detectors", order=5)


def pid(name: str) -> str:
    """Page-local component id."""
    return f"det-{name}"


def parse_detector(value: object) -> tuple[int | None, list[str]]:
    """A detector number from the URL (None and a message when not one of 11..44)."""
    if value in (None, ""):
        return None, []
    text = str(value).strip()[:20]
    if text.isdigit() and int(text) in DETECTORS:
        return int(text), []
    return None, [f"'detector' must be a NISP detector 11..44 (row, column), not '{text}'; ignored."]


def parse_filter(value: object) -> tuple[str, list[str]]:
    """One filter from the URL (the first one and a message when unknown)."""
    if value in (None, "") or str(value) in FILTERS:
        return (str(value) if value else FILTERS[0]), []
    return FILTERS[0], [f"Unknown filter '{str(value)[:40]}' (choose among {', '.join(FILTERS)}); "
                        f"showing {FILTERS[0]}."]


def parse_show(value: object) -> tuple[str, list[str]]:
    """What the focal plane shows (`PLANE_SHOWS`; ``median`` and a message when unknown)."""
    if value in (None, "") or str(value) in PLANE_SHOWS:
        return (str(value) if value else "median"), []
    return "median", [f"'show' must be one of {', '.join(PLANE_SHOWS)}, not '{str(value)[:40]}'; showing median."]


def search_of(filter_name: str, date_from: str | None, date_to: str | None, detector: int | None,
              show: str = "median") -> str:
    """The URL query string of a view."""
    params = {"filter": filter_name}
    if date_from:
        params["from"] = date_from
    if date_to:
        params["to"] = date_to
    if detector is not None:
        params["detector"] = str(detector)
    if show != "median":
        params["show"] = show
    return "?" + urlencode(params)


def _period(date_from, date_to) -> tuple[str | None, str | None, float | None, float | None, list[str]]:
    sel = parse_selection({"from": date_from, "to": date_to})
    return sel.date_from, sel.date_to, sel.mjd_min, sel.mjd_max, list(sel.messages)


def _date_input(name: str, value: str | None, placeholder: str) -> dcc.Input:
    return dcc.Input(id=pid(name), type="text", value=value or "", placeholder=placeholder, debounce=True,
                     className="input-date")


def plane_figure(filter_name: str, date_from, date_to, detector: int | None,
                 show: str = "median") -> tuple[dict, object]:
    """The focal plane of a period (remembered per filter, period, table version, selection and what it shows)."""
    cache = get_detector_cache()
    series = cache.series(filter_name)
    _, _, low, high, _ = _period(date_from, date_to)
    period = "whole season" if not (date_from or date_to) else f"{date_from or '…'} – {date_to or '…'}"
    summary = cache.memo(("summary", filter_name, low, high, series.version),
                         lambda: series.summary(low, high, cache.thresholds))
    figure = cache.memo(("plane", filter_name, low, high, detector, show, series.version), lambda: focal_plane_figure(
        summary, selected=detector, limit=1.5 * mmag_limits(cache.thresholds.fail)[1], show=show,
        title=f"{filter_name} · {period}: {PLANE_SHOWS[show]} (mmag)"))
    return figure, summary


def series_figure(filter_name: str, date_from, date_to, detector: int | None) -> dict:
    """The chosen detector's series (remembered like `plane_figure`)."""
    cache = get_detector_cache()
    series = cache.series(filter_name)
    if detector is None:
        return {"data": [], "layout": {"height": 60, "xaxis": {"visible": False}, "yaxis": {"visible": False},
                                       "margin": dict(l=0, r=0, t=0, b=0),
                                       "annotations": [dict(text="Click a detector of the focal plane to see "
                                                                 "its offsets over time.", showarrow=False,
                                                            x=0.5, y=0.5, xref="paper", yref="paper",
                                                            font=dict(size=14, color="#52606d"))]}}
    _, _, low, high, _ = _period(date_from, date_to)
    thresholds = cache.thresholds
    return cache.memo(("series", filter_name, low, high, detector, series.version), lambda: detector_series_figure(
        series.detector_rows(detector, low, high), detector=detector, warn=thresholds.warn, fail=thresholds.fail,
        filter_name=filter_name))


def multiples_figure(filter_name: str, date_from, date_to, detector: int | None) -> dict:
    """The 16 detectors' series side by side (remembered like `plane_figure`)."""
    cache = get_detector_cache()
    series = cache.series(filter_name)
    _, _, low, high, _ = _period(date_from, date_to)
    period = "whole season" if not (date_from or date_to) else f"{date_from or '…'} – {date_to or '…'}"
    thresholds = cache.thresholds
    return cache.memo(("multiples", filter_name, low, high, detector, series.version),
                      lambda: detector_multiples_figure(
                          {det: series.detector_rows(det, low, high) for det in DETECTORS}, warn=thresholds.warn,
                          fail=thresholds.fail, selected=detector,
                          title=f"{filter_name} · {period}: every detector (mmag)"))


def layout(filter=None, detector=None, **params) -> html.Div:  # URL parameter name
    """The detector page for the filter, period and detector of the URL."""
    if get_cache().is_empty():
        return empty_store_page()
    filter_name, problems = parse_filter(filter)
    chosen, more = parse_detector(detector)
    show, show_problems = parse_show(params.get("show"))
    date_from, date_to, _, _, date_problems = _period(params.get("from"), params.get("to"))
    problems += more + date_problems + show_problems + unknown_parameters(
        params, ("filter", "detector", "from", "to", "show"))
    series = get_detector_cache().series(filter_name)
    span = series.span()
    hint = (f"{filter_name} has detector offsets from {mjd_to_date(span[0])} to {mjd_to_date(span[1])}. "
            if span else f"{filter_name} has no detector offsets. ")
    plane, _ = plane_figure(filter_name, date_from, date_to, chosen, show)
    return html.Div([
        html.Div([dcc.Link("Overview", href="/"), " / detectors"], className="breadcrumb"),
        html.H1("Detectors of the NISP focal plane"),
        html.P([hint, "Each detector's offset is the median difference of its sources against the other "
                "exposures minus its own exposure's offset (positive = fainter). Framed: the period's median is "
                "WARN or FAIL (amber, vermillion), or more than 0.5 % of the detector's exposures are flagged "
                "(purple: WARN / FAIL statuses, control-chart alarms); showing the worst offset, the tile is the "
                "detector's worst exposure of the period, framed when that one is WARN or FAIL. "
                "Click a detector for its history, its WARN / FAIL bands and its control-chart alarms; "
                "a point of the history for its observation."], className="lead",
               id=pid("hint")),
        html.Div([message(p, "warning") for p in problems], id=pid("url-messages")),
        html.Div(className="controls", children=[
            html.Div([html.Label("Filter"), dcc.RadioItems(
                id=pid("filter"), value=filter_name, inline=True, className="tabs",
                options=[{"label": name, "value": name} for name in FILTERS])], className="control"),
            html.Div([html.Label("Period (UTC)"), html.Div([
                _date_input("from", date_from, "from YYYY-MM-DD"), html.Span("–", className="dash-sep"),
                _date_input("to", date_to, "to YYYY-MM-DD")])], className="control"),
            html.Div([html.Label("Tiles show"), dcc.RadioItems(
                id=pid("show"), value=show, inline=True, className="radio-inline",
                options=[{"label": text, "value": key} for key, text in PLANE_SHOWS.items()])], className="control"),
        ]),
        html.Div(id=pid("messages")),
        html.Div(className="detector-grid", children=[
            html.Div(dcc.Graph(id=pid("plane"), figure=plane, config=GRAPH_CONFIG), className="card detector-plane"),
            html.Div(dcc.Graph(id=pid("series"), figure=series_figure(filter_name, date_from, date_to, chosen),
                               config=GRAPH_CONFIG), className="card detector-series"),
        ]),
        html.Div([html.P("Every detector side by side: the median offset over time (line) and each flagged offset "
                         "(WARN / FAIL status, control-chart alarm) one by one; click one for its history above.",
                         className="muted"),
                  dcc.Graph(id=pid("multiples"), figure=multiples_figure(filter_name, date_from, date_to, chosen),
                            config=GRAPH_CONFIG)], className="card"),
        dcc.Store(id=pid("detector"), data=chosen),
        dcc.Location(id=pid("goto"), refresh="callback-nav"),
        dcc.Store(id=pid("search"), data=search_of(filter_name, date_from, date_to, chosen, show)),
        html.Div(id=pid("dummy"), hidden=True),
    ])


def update(filter_name, date_from, date_to, click, multiples_click, show, detector):
    """Redraw for a new filter, period, clicked detector or what the tiles show."""
    trigger = ctx.triggered_id
    if filter_name not in FILTERS or show not in PLANE_SHOWS:
        raise PreventUpdate
    date_from, date_to, _, _, problems = _period(date_from, date_to)
    new_detector = detector
    if trigger == pid("plane"):
        try:
            point = click["points"][0]
            new_detector = int(point["customdata"][0]) if point.get("customdata") else \
                10 * int(point["y"]) + int(point["x"])
        except (TypeError, KeyError, IndexError, ValueError):
            raise PreventUpdate from None
        if new_detector not in DETECTORS:
            raise PreventUpdate
    if trigger == pid("multiples"):
        try:
            new_detector = int(multiples_click["points"][0]["customdata"][0])
        except (TypeError, KeyError, IndexError, ValueError):
            raise PreventUpdate from None
        if new_detector not in DETECTORS:
            raise PreventUpdate
    plane, _ = plane_figure(filter_name, date_from, date_to, new_detector, show)
    series = series_figure(filter_name, date_from, date_to, new_detector)
    multiples = multiples_figure(filter_name, date_from, date_to, new_detector)
    return ([message(p, "warning") for p in problems], plane, series, new_detector,
            search_of(filter_name, date_from, date_to, new_detector, show), [] if trigger else no_update, multiples)


def open_observation(click, filter_name, search):
    """A click on a point of the detector's series opens its observation
    (its breadcrumb leads back to this view)."""
    try:
        obs_id = int(click["points"][0]["customdata"])
    except (TypeError, KeyError, IndexError, ValueError):
        raise PreventUpdate from None
    if filter_name not in FILTERS:
        raise PreventUpdate
    return with_back(f"/observation/{obs_id}?filter={filter_name}", "/detectors" + (search or ""))


def register_callbacks(app: dash.Dash) -> None:
    """Attach the detector page's callbacks to an app."""
    app.callback(
        Output(pid("goto"), "href"),
        Input(pid("series"), "clickData"),
        State(pid("filter"), "value"),
        State(pid("search"), "data"),
        prevent_initial_call=True,
    )(open_observation)
    app.callback(
        Output(pid("messages"), "children"),
        Output(pid("plane"), "figure"),
        Output(pid("series"), "figure"),
        Output(pid("detector"), "data"),
        Output(pid("search"), "data"),
        Output(pid("url-messages"), "children"),
        Output(pid("multiples"), "figure"),
        Input(pid("filter"), "value"),
        Input(pid("from"), "value"),
        Input(pid("to"), "value"),
        Input(pid("plane"), "clickData"),
        Input(pid("multiples"), "clickData"),
        Input(pid("show"), "value"),
        State(pid("detector"), "data"),
        prevent_initial_call=True,
    )(update)
    # the view goes into the address bar without reloading the page
    app.clientside_callback(
        """
        function(search) {
            if (typeof search !== 'string') { return window.dash_clientside.no_update; }
            if (window.location.pathname === '/detectors' && window.location.search !== search) {
                window.history.replaceState(null, '', '/detectors' + search);
            }
            return '';
        }
        """,
        Output(pid("dummy"), "children"),
        Input(pid("search"), "data"),
    )
