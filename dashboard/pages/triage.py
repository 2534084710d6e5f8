"""Triage queue: flagged exposures (WARN, FAIL, NODATA or drift) that nobody
has reviewed yet, sortable and filterable, reviewed in bulk."""
from __future__ import annotations

from pathlib import PurePath

import dash
import numpy as np
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from relphot_core.config import FILTERS
from relphot_core.errors import RelphotError
from relphot_core.identity import Action, AuthError
from relphot_core.qc import causes
from relphot_core.reviews import ReviewInputError, awaits_review, review_problem, triage_order

from ..components import (
    empty_store_page,
    exposure_records,
    exposure_table,
    fmt_time,
    match_count,
    message,
    refused_message,
    review_form,
)
from ..auth import current_identity, signed_name, writes
from ..data import add_reviews, get_bands, get_cache, open_failures

PAGE = dict(path="/triage", name="Triage queue", title="relphot QC — triage queue", order=2)
LIMIT = 5000

COLUMNS = [("cause", "shared flag"), ("obs", "obs id"), ("filter", "filter"), ("exposure", "dither"),
           ("date", "date (UTC)"),
           ("value", "QPRELEX"), ("offset", "|QPRELEX − 1|"), ("error", "QPRELEXE"), ("status", "status"),
           ("chart", "other flags"),
           ("reason", "reason"), ("n_pairs", "pairs")]


def pid(name: str) -> str:
    """Page-local component id."""
    return f"triage-{name}"


def _queue() -> tuple[pd.DataFrame, int]:
    """The first `LIMIT` flagged, unreviewed exposures, worst first, and how
    many there are in all.

    Read from the per-filter tables the overview caches (the store's own
    `triage_queue` rescans the survey: seconds), to which the reviews
    written here are applied at once. Reviews written by another process
    (another worker, the command line) show once the table is read again:
    at once for a small store, a few seconds later at survey size, when it
    is reloaded in the background."""
    cache = get_cache()
    parts = []
    for name in FILTERS:
        frame = cache.trend(name, fresh=True)  # reviews from other processes too
        if frame is None or frame.empty:
            continue
        parts.append(frame[awaits_review(frame)])
    if not parts:
        return pd.DataFrame(columns=["obs_id", "filter", "exposure", "status"]), 0
    queue = pd.concat(parts, ignore_index=True)
    queue["cause"] = _causes(queue)
    return queue.iloc[triage_order(queue)[:LIMIT]], len(queue)


def _causes(queue: pd.DataFrame) -> np.ndarray:
    """`relphot_core.qc.causes` of the queue's rows (columns absent: empty)."""
    def column(name: str, default: object = "") -> np.ndarray:
        if name not in queue.columns:
            return np.full(len(queue), default, dtype=object)
        return queue[name].astype(object).where(queue[name].notna(), default).to_numpy()

    return causes(column("obs_id", 0), column("filter"), column("exposure", 0), column("alarm"),
                  column("drift_since", float("nan")), column("detector_flag"), column("detector_reason"))


def cause_options(queue: pd.DataFrame) -> list[dict]:
    """The flags shared by several queued exposures (`relphot_core.qc.causes`:
    one drift, one detector, one observation), most exposures first."""
    if queue.empty or "cause" not in queue.columns:
        return []
    counts = queue["cause"].value_counts()
    return [{"label": f"{cause} ({n:,} exposures)", "value": cause} for cause, n in counts.items() if n > 1]


def _heading(n: int) -> html.Div:
    if n == 0:
        return message("Nothing to review: every flagged exposure has been reviewed.", "success",
                       id=pid("empty"))
    more = f" (the first {LIMIT:,}, worst first, are listed)" if n > LIMIT else ""
    return html.P(f"{n:,} flagged exposure{'s' if n != 1 else ''} await review{more}.", id=pid("count"),
                  className="lead")


def failures_section(failures: pd.DataFrame, total: int) -> html.Div | None:
    """Sets that could not be computed: when, which file, why (None if none)."""
    if total == 0:
        return None
    rows = [html.Tr([html.Th(name) for name in ("last seen", "obs id", "filter", "kind", "file", "reason",
                                                "batches")])]
    for item in failures.itertuples(index=False):
        obs = item.obs_id
        obs_cell = (dcc.Link(str(obs), href=f"/observation/{obs}?filter={item.filter}&back=/triage")
                    if obs is not None and not pd.isna(obs) else "—")
        rows.append(html.Tr([
            html.Td(fmt_time(item.last_seen)), html.Td(obs_cell), html.Td(item.filter or "—"),
            html.Td(item.kind), html.Td(PurePath(item.path).name, title=item.path, className="path"),
            html.Td(item.reason, className="reason"), html.Td(str(item.attempts)),
        ]))
    more = f" (the {len(failures):,} latest are listed)" if total > len(failures) else ""
    return html.Div(className="card failures", id=pid("failures"), children=[
        html.H4(f"{total:,} set{'s' if total != 1 else ''} could not be computed{more}"),
        html.P(["A processing failure is a QC fact: these observations have no factor from the files named. "
                "Fix the input and run the same ", html.Code("relphot compute"), " again: a set computed later "
                "resolves its failure."], className="muted"),
        html.Table(rows, className="failures-table"),
    ])


def layout(**_params) -> html.Div:
    """The queue of flagged, unreviewed exposures, and the sets that failed."""
    failures, n_failures = open_failures()
    if get_cache().is_empty() and n_failures == 0:
        return empty_store_page()
    queue, total = _queue()
    return html.Div([
        html.H1("Triage queue"),
        failures_section(failures, n_failures),
        html.P("Flagged exposures nobody has reviewed yet, worst first: FAIL, WARN and NODATA (each farthest "
               "from 1 first), then OK exposures with another flag: a control-chart alarm of their dither "
               "position (outside control limits, or a drift), a flagged detector, or a disagreement with the "
               "global solution. Rows sharing a flag (one drift, one detector, one observation) can be "
               "ticked together and reviewed at once: one review batch, which the reviews page can revoke. "
               "Sort by a column header; filter in the row under it (a number column finds that number, e.g. "
               "4 in 'dither'; its funnel offers greater than, less than...). Point at a reason to read it "
               "whole. Tick exposures, then confirm or overrule their flags. Click an obs id to open the "
               "observation.", className="muted"),
        html.Div(_heading(total), id=pid("heading")),
        html.Div(className="table-tools", children=[
            html.Button("Tick every filtered row", id=pid("select-filtered"), n_clicks=0,
                        className="btn btn-small",
                        title="Tick every row that passes the column filters"),
            html.Button("Untick all", id=pid("select-none"), n_clicks=0, className="btn btn-small"),
            dcc.Dropdown(id=pid("shared"), options=cause_options(queue),
                         placeholder="a flag shared by several rows…", className="cause-dropdown", clearable=True),
            html.Button("Tick this cause", id=pid("select-cause"), n_clicks=0, className="btn btn-small",
                        title="Tick every queued exposure of the chosen shared flag"),
            html.Span("0 ticked", id=pid("ticked"), className="muted ticked-count"),
            html.Span("", id=pid("matching"), className="muted ticked-count"),
        ]),
        exposure_table(pid("table"), queue, columns=COLUMNS, selectable=True, height="min(620px, 70vh)",
                       bands=get_bands()),
        html.Div(className="review-box card", children=[
            html.H4("Review the ticked exposures"),
            review_form(pid, what="the ticked exposures"),
        ]),
    ])


def select(_filtered, _none, _cause, cause, filtered_rows, rows):
    """Tick every row passing the column filters, every row of a shared
    flag, or none (row ids: the grid keeps them across sorting)."""
    if ctx.triggered_id == pid("select-none") or not rows:
        return {"ids": []}
    if ctx.triggered_id == pid("select-cause"):
        return {"ids": [row["id"] for row in rows if cause and row.get("cause") == cause]}
    wanted = rows if filtered_rows is None else filtered_rows
    return {"ids": [row["id"] for row in wanted]}


def ticked(selected_rows) -> str:
    """How many exposures the review buttons would act on."""
    n = len(selected_rows or []) if isinstance(selected_rows, list) else len((selected_rows or {}).get("ids", []))
    return f"{n:,} ticked"


@writes(Action.REVIEW)
def review(n_confirm, n_overrule, reviewer, comment, cause, selected_rows):
    """Store the decision for every ticked exposure as one batch, against
    the review each row showed, then refresh the queue."""
    if not ctx.triggered_id or not (n_confirm or n_overrule):
        raise PreventUpdate
    decision = "confirmed" if ctx.triggered_id == pid("confirm") else "overruled"
    rows = selected_rows if isinstance(selected_rows, list) else []
    unchanged = (no_update,) * 4
    identity = current_identity()
    reviewer = signed_name(identity, reviewer)
    problem = review_problem(decision, reviewer, comment, cause)
    if problem:
        return (message(problem, "error"),) + unchanged
    if not rows:
        return (message("Tick one or more exposures first.", "error"),) + unchanged
    keys = [(int(r["obs"]), str(r["filter"]), int(r["exposure"])) for r in rows]
    about = {key: (r.get("flag_kind") or "status", r.get("flag_reason") or "") for key, r in zip(keys, rows)}
    expected = {key: r.get("review_id") for key, r in zip(keys, rows)}
    try:
        batch = add_reviews(keys, decision, reviewer, comment, cause=cause or "", about=about, identity=identity,
                            expected=expected)
    except (ReviewInputError, AuthError) as exc:
        return (refused_message(exc),) + unchanged
    except (KeyError, ValueError, RelphotError) as exc:
        return (message(f"Not stored: {exc}", "error"),) + unchanged
    queue, total = _queue()
    name = " ".join(str(reviewer).split())
    return (message(f"Stored: {decision} by {name} for {len(set(keys))} exposure(s), as review batch {batch} "
                    "(the reviews page can revoke it).", "success"),
            exposure_records(queue, bands=get_bands()), {"ids": []}, _heading(total), cause_options(queue))


def register_callbacks(app: dash.Dash) -> None:
    """Attach the triage page's callbacks to an app."""
    app.callback(
        Output(pid("table"), "selectedRows"),
        Input(pid("select-filtered"), "n_clicks"),
        Input(pid("select-none"), "n_clicks"),
        Input(pid("select-cause"), "n_clicks"),
        State(pid("shared"), "value"),
        State(pid("table"), "virtualRowData"),
        State(pid("table"), "rowData"),
        prevent_initial_call=True,
    )(select)
    app.callback(Output(pid("ticked"), "children"), Input(pid("table"), "selectedRows"))(ticked)
    app.callback(Output(pid("matching"), "children"), Input(pid("table"), "virtualRowData"),
                 State(pid("table"), "rowData"))(match_count)
    app.callback(
        Output(pid("result"), "children"),
        Output(pid("table"), "rowData"),
        Output(pid("table"), "selectedRows", allow_duplicate=True),
        Output(pid("heading"), "children"),
        Output(pid("shared"), "options"),
        Input(pid("confirm"), "n_clicks"),
        Input(pid("overrule"), "n_clicks"),
        State(pid("reviewer"), "value"),
        State(pid("comment"), "value"),
        State(pid("cause"), "value"),
        State(pid("table"), "selectedRows"),
        prevent_initial_call=True,
    )(review)
