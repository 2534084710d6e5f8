"""Exports: the validated XML product of one observation, a zip of the
products of a selection, and the selected exposure table as CSV or VOTable,
each with the equivalent command line.

The selection is `relphot_core.selection.ExposureSelection`: the counts
shown, the zip, the tables and the ``relphot export`` command shown select
the same exposures and the same products (those holding at least one
selected exposure)."""
from __future__ import annotations

import shlex

import dash
import flask
from dash import Input, Output, ctx, dcc, html, no_update

from relphot_core.wording import noun
from relphot_core.config import FILTERS

from ..api import MAX_ZIP, is_number
from ..components import (command_block, date_and_obs_controls, empty_store_page, filter_checklist, message, messages,
                          reviewed_radio, status_checklist)
from ..data import db_label, get_cache
from ..query import apply_selection, parse_selection

PAGE = dict(path="/exports", name="Exports", title="relphot QC — exports", order=4)


def pid(name: str) -> str:
    """Page-local component id."""
    return f"exp-{name}"


def _server_url() -> str:
    """This server's address as the browser reached it (for copy-paste commands)."""
    try:
        return flask.request.host_url
    except RuntimeError:  # outside a request (tests building the layout directly)
        return "http://127.0.0.1:8050/"


def layout(**params) -> html.Div:
    """Selection controls, download links and commands."""
    if get_cache().is_empty():
        return empty_store_page()
    sel = parse_selection(params)
    return html.Div([
        html.H1("Exports"),
        messages(sel.messages, id_=pid("url-messages")),
        html.Div(className="card", children=[
            html.H3("One observation"),
            html.Div(className="controls", children=[
                html.Div([html.Label("Observation id"),
                          dcc.Input(id=pid("one-obs"), type="text", placeholder="e.g. 1001", debounce=False,
                                    className="input-obs")], className="control"),
                html.Div([html.Label("Filter"),
                          dcc.Dropdown(id=pid("one-filter"), options=list(FILTERS), value=FILTERS[0],
                                       clearable=False, className="dropdown-small")], className="control"),
            ]),
            html.Div(id=pid("one-result")),
        ]),
        html.Div(className="card", children=[
            html.H3("A selection"),
            html.Div(className="controls", children=[
                html.Div([html.Label("Filters"), filter_checklist(pid("filters"), sel.filters)], className="control"),
                html.Div([html.Label("Status"), status_checklist(pid("statuses"), sel.statuses)],
                         className="control"),
                html.Div([html.Label("Reviewed"), reviewed_radio(pid("reviewed"), sel.reviewed)],
                         className="control"),
                *date_and_obs_controls(pid, sel),
            ]),
            html.P("A product is selected when one of its exposures meets every criterion; the dates are "
                   "UTC days, both included.", className="muted", id=pid("rules")),
            html.Div(id=pid("selection")),
        ]),
        dcc.Store(id=pid("search")),
        html.Div(id=pid("dummy"), hidden=True),
    ])


def one_observation(obs_text, filter_name):
    """Link and command for one observation's product."""
    text = str(obs_text or "").strip()
    if not text:
        return html.P("Type an observation id.", className="muted")
    if not is_number(text) or len(text) > 12:
        return message(f"'{text[:40]}' is not an observation id (a whole number).", "error")
    if filter_name not in FILTERS:
        return message("Choose a filter.", "error")
    href = f"/download/product/{int(text)}/{filter_name}.xml"
    cmd = f"relphot export --db {shlex.quote(db_label())} --out DIR --obs-id {int(text)} --filter {filter_name}"
    return html.Div([
        html.A(f"Download the XML product of {int(text)} {filter_name}", href=href, className="btn btn-link",
               id=pid("one-link"), download=""),
        html.Span(" (404 if the store has no such observation)", className="muted"),
        command_block(cmd),
    ])


def _selection_counts(sel) -> tuple[int, int]:
    """Exposures and observation products in a selection, counted on the
    cached per-filter tables with the selection's rules for frames (the
    store's full tables take seconds at survey size; the downloads read
    the store with the same rules in SQL)."""
    cache = get_cache()
    n_exp = n_obs = 0
    for name in sel.filters:
        rows = apply_selection(cache.trend(name), sel)
        if rows is not None and len(rows):
            n_exp += len(rows)
            n_obs += int(rows["obs_id"].nunique())
    return n_exp, n_obs


def export_command(sel) -> str:
    """The ``relphot export`` command writing the products of a selection
    (the zip's), for this dashboard's store."""
    options = " ".join(shlex.quote(part) for part in sel.criteria().to_options())
    return f"relphot export --db {shlex.quote(db_label())} --out DIR" + (f" {options}" if options else "")


def selection_block(filters, statuses, date_from, date_to, obs, reviewed="any"):
    """Counts, download links and commands for the current selection."""
    sel = parse_selection({"filter": ",".join(filters or []) or None, "status": ",".join(statuses or []) or None,
                           "from": date_from, "to": date_to, "obs": obs, "reviewed": reviewed})
    search = sel.to_search()
    n_exp, n_obs = _selection_counts(sel)
    export_cmd = export_command(sel)
    api = f"curl -o exposures.json '{_server_url()}api/exposures{search}'"
    zip_link = (html.A("Zip of the XML products", href=f"/download/products.zip{search}", id=pid("zip"),
                       className="btn btn-link", download="")
                if 0 < n_obs <= MAX_ZIP else
                html.Span(f"Zip of the XML products: only for at most {MAX_ZIP:,} observations; narrow the "
                          "selection or use the command below.", className="muted"))
    return html.Div([
        messages(sel.messages),
        html.P([html.Strong(f"{n_exp:,}"), f" {noun(n_exp, 'exposure')} in ", html.Strong(f"{n_obs:,}"),
                f" {noun(n_obs, 'observation product')} selected."], id=pid("count")),
        html.Div(className="downloads", children=[
            zip_link,
            html.A("Exposure table as CSV", href=f"/download/exposures.csv{search}", id=pid("csv"),
                   className="btn btn-link", download=""),
            html.A("Exposure table as VOTable", href=f"/download/exposures.vot{search}", id=pid("vot"),
                   className="btn btn-link", download=""),
        ]),
        html.H4("Equivalent commands"),
        html.P("Writes the products the zip holds:", className="muted"),
        command_block(export_cmd),
        html.P("The selected exposures as JSON:", className="muted"),
        command_block(api),
    ]), search


def register_callbacks(app: dash.Dash) -> None:
    """Attach the exports page's callbacks to an app."""
    app.callback(Output(pid("one-result"), "children"),
                 Input(pid("one-obs"), "value"), Input(pid("one-filter"), "value"))(one_observation)

    def _selection(filters, statuses, date_from, date_to, obs, reviewed):
        block, search = selection_block(filters, statuses, date_from, date_to, obs, reviewed)
        return block, (search if ctx.triggered_id else no_update)

    app.callback(Output(pid("selection"), "children"), Output(pid("search"), "data"),
                 Input(pid("filters"), "value"), Input(pid("statuses"), "value"), Input(pid("from"), "value"),
                 Input(pid("to"), "value"), Input(pid("obs"), "value"), Input(pid("reviewed"), "value"))(_selection)
    app.clientside_callback(
        """
        function(search) {
            if (typeof search !== 'string') { return window.dash_clientside.no_update; }
            if (window.location.search !== search) {
                window.history.replaceState(null, '', window.location.pathname + search);
            }
            return '';
        }
        """,
        Output(pid("dummy"), "children"),
        Input(pid("search"), "data"),
    )
