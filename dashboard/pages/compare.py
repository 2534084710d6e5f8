"""Compare runs: ``/compare?before=previous&after=current&filter=NIR_J``.

What a reprocessing changed, per filter: the histogram of the factor
changes (mmag, + = now fainter), the status transition matrix (a cell
lists its exposures), the largest changes and the parameters that differ.
The two sides are choices of runs (`relphot_core.compare.RunChoice`), as
``relphot compare --before ... --after ...``; the comparison is
`dashboard.survey_data.run_comparison` (remembered per data version).
"""
from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from relphot_core.wording import plural
from relphot_core.compare import STATUSES, ChoiceError, RunChoice, RunComparison
from relphot_core.config import FILTERS

from ..components import (command_block, data_grid, empty_store_page, grid_column, message, status_cell_style,
                          sync_address_bar)
from ..data import db_label, get_cache
from ..figures.compare import delta_histogram_figure, transition_figure
from ..query import unknown_parameters
from ..style import GRAPH_CONFIG
from ..survey_data import run_comparison

PAGE = dict(path="/compare", name="Compare runs", title="relphot QC — compare runs", order=6)
TOP = 50
"""Rows of the largest-changes table."""
CELL_LIMIT = 5000
"""Rows listed for a cell of the transition matrix (largest changes first)."""

COLUMNS = [("obs", "obs id"), ("filter", "filter"), ("exposure", "dither"), ("status_before", "status before"),
           ("status_after", "status after"), ("value_before", "QPRELEX before"), ("value_after", "QPRELEX after"),
           ("delta_mmag", "Δ mmag (+ fainter)"), ("delta_sigma", "|Δ| / QPRELEXE"), ("run_before", "run before"),
           ("run_after", "run after")]


def pid(name: str) -> str:
    """Page-local component id."""
    return f"compare-{name}"


def parse_choices(before: object, after: object) -> tuple[RunChoice, RunChoice, list[str]]:
    """The two choices of the URL or the inputs (the defaults, and a message, for one that cannot be read)."""
    problems = []
    chosen = []
    for text, default in ((before, "previous"), (after, "current")):
        try:
            chosen.append(RunChoice.parse(str(text)) if text not in (None, "") else RunChoice(default))
        except ChoiceError as exc:
            problems.append(f"{exc}; showing {default}.")
            chosen.append(RunChoice(default))
    return chosen[0], chosen[1], problems


def search_of(before: RunChoice, after: RunChoice, filter_name: str) -> str:
    """The URL query string of a view."""
    return "?" + urlencode({"before": str(before), "after": str(after), "filter": filter_name})


def change_records(df: pd.DataFrame) -> list[dict]:
    """Grid rows of `RunComparison.exposures` rows."""
    def number(values: pd.Series, digits: int) -> list:
        array = values.to_numpy(dtype=float).round(digits)
        return [None if not np.isfinite(v) else float(v) for v in array]

    out = pd.DataFrame({
        "id": df["obs_id"].astype(str) + "|" + df["filter"] + "|" + df["exposure"].astype(str),
        "obs": df["obs_id"].astype(int), "filter": df["filter"], "exposure": df["exposure"].astype(int),
        "status_before": df["status_before"], "status_after": df["status_after"],
        "run_before": df["run_before"].astype(int), "run_after": df["run_after"].astype(int),
    })
    records = out.to_dict("records")
    for field, column, digits in (("value_before", "value_before", 6), ("value_after", "value_after", 6),
                                  ("delta_mmag", "delta_mmag", 3), ("delta_sigma", "delta_sigma", 2)):
        for record, value in zip(records, number(df[column], digits)):
            record[field] = value
    return records


def _columns() -> list[dict]:
    columns = []
    for key, name in COLUMNS:
        column = grid_column(key, name, link=True)
        if key.startswith("status"):
            column.update(width=110, minWidth=100, cellStyle=status_cell_style(key))
        elif key.startswith(("value", "delta", "run")):
            column.update(filter="agNumberColumnFilter", type="numericColumn", width=120, minWidth=100)
        columns.append(column)
    return columns


def _grid(name: str, records: list[dict]) -> dag.AgGrid:
    return data_grid(pid(name), records, _columns(), height=None if len(records) <= 15 else "min(520px, 60vh)")


def summary_text(comparison: RunComparison, filter_name: str) -> str:
    """One sentence: what was compared in the filter."""
    sets = comparison.sets[comparison.sets["filter"] == filter_name]
    n = {column: int(sets[column].sum()) for column in ("compared", "same_run", "only_before", "only_after",
                                                        "exposures")}
    df = comparison.exposures[comparison.exposures["filter"] == filter_name]
    changed = int(df["status_changed"].sum())
    p = comparison.percentiles(filter_name)
    spread = ("" if p["mmag"]["p50"] is None else
              f" |Δ| median {p['mmag']['p50']:.2f} mmag ({p['sigma']['p50']:.2f} QPRELEXE), p90 "
              f"{p['mmag']['p90']:.2f}, p99 {p['mmag']['p99']:.2f}, largest {p['mmag']['p100']:.2f} mmag.")
    return (f"{filter_name}: {plural(n['compared'], 'set')} compared ({plural(n['exposures'], 'exposure')}, "
            f"{changed:,} changed "
            f"status); {n['same_run']:,} have the same run on both sides, {n['only_before']:,} a run before only, "
            f"{n['only_after']:,} after only.{spread}")


def parameter_list(comparison: RunComparison) -> Component:
    """The parameters that differ, per (before, after) parameter set."""
    if not comparison.parameters:
        return html.P("No set compared: no parameters to compare.", className="muted")
    items = []
    for group in comparison.parameters:
        was, now = group["before"], group["after"]
        head = (f"{group['sets']:,} set{'s' if group['sets'] != 1 else ''}: version {was['software_version']} · "
                f"digest {was['params_digest'][:12]} → version {now['software_version']} · digest "
                f"{now['params_digest'][:12]}")
        changes = [html.Li([html.Code(name), f": {old} → {new}"]) for name, (old, new) in group["differ"].items()]
        items.append(html.Li([head, html.Ul(changes or [html.Li("no parameter differs (the inputs changed)")])]))
    return html.Ul(items, className="parameter-list")


def view(comparison: RunComparison, filter_name: str) -> tuple[str, dict, dict, list[dict]]:
    """Summary, histogram, transition matrix and largest changes of one filter."""
    df = comparison.exposures[comparison.exposures["filter"] == filter_name]
    histogram = delta_histogram_figure(df["delta_mmag"].to_numpy(dtype=float),
                                       title=f"{filter_name}: factor change per exposure")
    matrix = transition_figure(comparison.transitions(filter_name),
                               title=f"{filter_name}: status transitions (click a cell)")
    return (summary_text(comparison, filter_name), histogram, matrix,
            change_records(comparison.largest(TOP, filter_name)))


def cell_rows(comparison: RunComparison, filter_name: str, before: str, after: str) -> tuple[str, list[dict]]:
    """The heading and rows of a transition cell (largest changes first, at most `CELL_LIMIT`)."""
    df = comparison.exposures
    df = df[(df["filter"] == filter_name) & (df["status_before"] == before) & (df["status_after"] == after)]
    size = np.abs(df["delta_mmag"].to_numpy(dtype=float))
    order = np.argsort(-np.where(np.isfinite(size), size, np.inf), kind="stable")[:CELL_LIMIT]
    heading = f"{filter_name}: {len(df):,} exposure{'s' if len(df) != 1 else ''} {before} → {after}"
    if len(df) > CELL_LIMIT:
        heading += f" (the {CELL_LIMIT:,} largest changes listed)"
    return heading, change_records(df.iloc[order])


def layout(before=None, after=None, filter=None, **_params) -> html.Div:  # URL parameter name
    """The comparison of the URL's two choices of runs, one filter."""
    if get_cache().is_empty():
        return empty_store_page()
    chosen_before, chosen_after, problems = parse_choices(before, after)
    problems = unknown_parameters(_params, ("before", "after", "filter")) + problems
    filter_name = filter if filter in FILTERS else FILTERS[0]
    if filter not in (None, "") and filter not in FILTERS:
        problems.append(f"Unknown filter '{str(filter)[:40]}' (choose among {', '.join(FILTERS)}); showing "
                        f"{FILTERS[0]}.")
    comparison = run_comparison(chosen_before, chosen_after)
    summary, histogram, matrix, largest = view(comparison, filter_name)
    return html.Div([
        html.Div([dcc.Link("Overview", href="/"), " / compare runs"], className="breadcrumb"),
        html.H1("Compare runs"),
        html.P(["The store keeps every run of each set. Compare two choices of runs, exposure by exposure: ",
                html.Code("current"), ", ", html.Code("previous"), " (the run before the current one), ",
                html.Code("version:V"), ", ", html.Code("params:DIGEST"), ", ", html.Code("date:YYYY-MM-DD"),
                " (the latest run created before) or ", html.Code("runs:ID,ID"), ". Click a cell of the "
                "transition matrix to list its exposures."], className="lead"),
        html.Div([message(p, "warning") for p in problems], id=pid("url-messages")),
        html.Div(className="controls", children=[
            html.Div([html.Label("Before"), dcc.Input(id=pid("before"), value=str(chosen_before), debounce=True,
                                                      type="text", className="input-obs")], className="control"),
            html.Div([html.Label("After"), dcc.Input(id=pid("after"), value=str(chosen_after), debounce=True,
                                                     type="text", className="input-obs")], className="control"),
            html.Div([html.Label("Filter"), dcc.RadioItems(
                id=pid("filter"), value=filter_name, inline=True, className="tabs",
                options=[{"label": name, "value": name} for name in FILTERS])], className="control"),
        ]),
        html.Div(id=pid("messages")),
        html.P(summary, id=pid("summary"), className="lead"),
        html.Div(className="grid-2", children=[
            html.Div(dcc.Graph(id=pid("histogram"), figure=histogram, config=GRAPH_CONFIG), className="card"),
            html.Div(dcc.Graph(id=pid("matrix"), figure=matrix, config=GRAPH_CONFIG), className="card"),
        ]),
        html.Div(className="card", id=pid("cell-card"), hidden=True, children=[
            html.H3(id=pid("cell-title")), _grid("cell", [])]),
        html.Div(className="card", children=[
            html.H3("Largest changes"), _grid("largest", largest)]),
        html.Div(className="card", children=[
            html.H3("Parameters that differ"), html.Div(parameter_list(comparison), id=pid("parameters")),
            html.P("The same comparison from the command line (--json for scripts):", className="muted"),
            html.Div(command_block(f"relphot compare --db {db_label()} --before {chosen_before} "
                                   f"--after {chosen_after}"), id=pid("command")),
        ]),
        dcc.Store(id=pid("search"), data=search_of(chosen_before, chosen_after, filter_name)),
        html.Div(id=pid("dummy"), hidden=True),
    ])


def update(before_text, after_text, filter_name):
    """Redraw for new choices or another filter."""
    if filter_name not in FILTERS:
        raise PreventUpdate
    before, after, problems = parse_choices(before_text, after_text)
    comparison = run_comparison(before, after)
    summary, histogram, matrix, largest = view(comparison, filter_name)
    return ([message(p, "warning") for p in problems], summary, histogram, matrix, largest,
            parameter_list(comparison),
            command_block(f"relphot compare --db {db_label()} --before {before} --after {after}"),
            search_of(before, after, filter_name), True, [])


def open_cell(click, before_text, after_text, filter_name):
    """A click on a cell of the transition matrix lists its exposures."""
    try:
        point = click["points"][0]
        status_before, status_after = str(point["y"]), str(point["x"])
    except (TypeError, KeyError, IndexError):
        raise PreventUpdate from None
    if filter_name not in FILTERS or status_before not in STATUSES or status_after not in STATUSES:
        raise PreventUpdate
    before, after, _ = parse_choices(before_text, after_text)
    heading, rows = cell_rows(run_comparison(before, after), filter_name, status_before, status_after)
    return heading, rows, False


def register_callbacks(app: dash.Dash) -> None:
    """Attach the compare page's callbacks to an app."""
    app.callback(
        Output(pid("messages"), "children"),
        Output(pid("summary"), "children"),
        Output(pid("histogram"), "figure"),
        Output(pid("matrix"), "figure"),
        Output(pid("largest"), "rowData"),
        Output(pid("parameters"), "children"),
        Output(pid("command"), "children"),
        Output(pid("search"), "data"),
        Output(pid("cell-card"), "hidden"),
        Output(pid("url-messages"), "children"),
        Input(pid("before"), "value"),
        Input(pid("after"), "value"),
        Input(pid("filter"), "value"),
        prevent_initial_call=True,
    )(update)
    app.callback(
        Output(pid("cell-title"), "children"),
        Output(pid("cell"), "rowData"),
        Output(pid("cell-card"), "hidden", allow_duplicate=True),
        Input(pid("matrix"), "clickData"),
        State(pid("before"), "value"),
        State(pid("after"), "value"),
        State(pid("filter"), "value"),
        prevent_initial_call=True,
    )(open_cell)
    sync_address_bar(app, "/compare", pid("search"), pid("dummy"))
