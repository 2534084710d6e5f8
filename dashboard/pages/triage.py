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
from relphot_core.qc import causes
from relphot_core.status import Status
from relphot_core.store.queries import awaits_review

from ..components import (
    check_review,
    empty_store_page,
    exposure_records,
    exposure_table,
    fmt_time,
    match_count,
    message,
    review_form,
)
from ..data import add_reviews, get_bands, get_cache, open_failures

PAGE = dict(path="/triage", name="Triage queue", title="relphot QC — triage queue", order=2)
LIMIT = 5000

COLUMNS = [("cause", "cause"), ("obs_id", "obs id"), ("filter", "filter"), ("exposure", "dither"),
           ("date", "date (UTC)"),
           ("value", "QPRELEX"), ("offset", "|QPRELEX − 1|"), ("error", "QPRELEXE"), ("status", "status"),
           ("chart", "other flags"),
           ("reason", "reason"), ("n_pairs", "pairs")]


def pid(name: str) -> str:
    """Page-local component id."""
    return f"triage-{name}"


STATUS_RANK = {Status.FAIL: 0, Status.WARN: 1, Status.NODATA: 2}
"""The order of the queue: FAIL first, then WARN, then NODATA (no value to judge)."""


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
    rank = queue["status"].astype(object).map(STATUS_RANK).fillna(len(STATUS_RANK)).to_numpy()
    offset = np.abs(queue["value"].to_numpy(dtype=float) - 1.0)
    # by status, then farthest from 1 first, then obs id, filter, dither
    order = np.lexsort((queue["exposure"].to_numpy(), queue["filter"].astype(object).map(FILTERS.index).to_numpy(),
                        queue["obs_id"].to_numpy(), -np.nan_to_num(offset, nan=0.0), rank))
    return queue.iloc[order[:LIMIT]], len(queue)


def _causes(queue: pd.DataFrame) -> np.ndarray:
    """`relphot_core.qc.causes` of the queue's rows (columns absent: empty)."""
    def column(name: str, default: object = "") -> np.ndarray:
        if name not in queue.columns:
            return np.full(len(queue), default, dtype=object)
        return queue[name].astype(object).where(queue[name].notna(), default).to_numpy()

    return causes(column("obs_id", 0), column("filter"), column("exposure", 0), column("alarm"),
                  column("drift_since", float("nan")), column("detector_flag"), column("detector_reason"))


def cause_options(queue: pd.DataFrame) -> list[dict]:
    """The causes shared by several queued exposures, most exposures first."""
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
        obs_cell = (dcc.Link(str(obs), href=f"/observation/{obs}?filter={item.filter}")
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
               "global solution. Rows sharing a cause (one drift, one detector, one observation) can be "
               "ticked together and reviewed at once. "
               "Sort or filter the columns (type in the row under the header, e.g. fail in 'status', or "
               ">0.02 in '|QPRELEX − 1|'), tick exposures, then confirm or overrule their flags. Click an "
               "obs id to open the observation.", className="muted"),
        html.Div(_heading(total), id=pid("heading")),
        html.Div(className="table-tools", children=[
            html.Button("Tick this page", id=pid("select-all"), n_clicks=0, className="btn btn-small",
                        title="Tick the rows of the page shown (after the column filters)"),
            html.Button("Tick every filtered row", id=pid("select-filtered"), n_clicks=0,
                        className="btn btn-small",
                        title="Tick every row that passes the column filters, on all pages"),
            html.Button("Untick all", id=pid("select-none"), n_clicks=0, className="btn btn-small"),
            dcc.Dropdown(id=pid("cause"), options=cause_options(queue), placeholder="a cause shared by several rows…",
                         className="cause-dropdown", clearable=True),
            html.Button("Tick this cause", id=pid("select-cause"), n_clicks=0, className="btn btn-small",
                        title="Tick every queued exposure of the chosen cause, on all pages"),
            html.Span("0 ticked", id=pid("ticked"), className="muted ticked-count"),
            html.Span("", id=pid("matching"), className="muted ticked-count"),
        ]),
        exposure_table(pid("table"), queue, columns=COLUMNS, selectable=True, page_size=20, bands=get_bands()),
        html.Div(className="review-box card", children=[
            html.H4("Review the ticked exposures"),
            review_form(pid, what="the ticked exposures"),
        ]),
    ])


def select(_page, _filtered, _none, _cause, cause, page_rows, filtered_rows, data):
    """Tick the rows of the page shown, every row passing the column filters
    (all pages), every row of a cause, or none."""
    if ctx.triggered_id == pid("select-none") or not data:
        return []
    if ctx.triggered_id == pid("select-cause"):
        return [i for i, row in enumerate(data) if cause and row.get("cause") == cause]
    wanted = page_rows if ctx.triggered_id == pid("select-all") else filtered_rows
    ids = {row["id"] for row in (wanted or [])}  # unknown rows: tick none rather than all
    return [i for i, row in enumerate(data) if row["id"] in ids]


def ticked(selected_rows) -> str:
    """How many exposures the review buttons would act on."""
    n = len(selected_rows or [])
    return f"{n:,} ticked"


def review(n_confirm, n_overrule, reviewer, comment, selected_rows, data):
    """Store the decision for every ticked exposure, then refresh the queue."""
    if not ctx.triggered_id or not (n_confirm or n_overrule):
        raise PreventUpdate
    decision = "confirmed" if ctx.triggered_id == pid("confirm") else "overruled"
    reviewer, comment, problem = check_review(reviewer, comment, decision)
    if problem:
        return message(problem, "error"), no_update, no_update, no_update, no_update
    rows = [data[i] for i in (selected_rows or []) if 0 <= i < len(data or [])]
    if not rows:
        return message("Tick one or more exposures first.", "error"), no_update, no_update, no_update, no_update
    keys = [(int(r["obs"]), str(r["filter"]), int(r["exposure"])) for r in rows]
    try:
        add_reviews(keys, decision, reviewer, comment)
    except (KeyError, ValueError, RelphotError) as exc:
        return message(f"Not stored: {exc}", "error"), no_update, no_update, no_update, no_update
    queue, total = _queue()
    return (message(f"Stored: {decision} by {reviewer} for {len(keys)} exposure(s).", "success"),
            exposure_records(queue, bands=get_bands()), [], _heading(total), cause_options(queue))


def register_callbacks(app: dash.Dash) -> None:
    """Attach the triage page's callbacks to an app."""
    app.callback(
        Output(pid("table"), "selected_rows"),
        Input(pid("select-all"), "n_clicks"),
        Input(pid("select-filtered"), "n_clicks"),
        Input(pid("select-none"), "n_clicks"),
        Input(pid("select-cause"), "n_clicks"),
        State(pid("cause"), "value"),
        State(pid("table"), "derived_viewport_data"),
        State(pid("table"), "derived_virtual_data"),
        State(pid("table"), "data"),
        prevent_initial_call=True,
    )(select)
    app.callback(Output(pid("ticked"), "children"), Input(pid("table"), "selected_rows"))(ticked)
    app.callback(Output(pid("matching"), "children"), Input(pid("table"), "derived_virtual_data"),
                 State(pid("table"), "data"))(match_count)
    app.callback(
        Output(pid("result"), "children"),
        Output(pid("table"), "data"),
        Output(pid("table"), "selected_rows", allow_duplicate=True),
        Output(pid("heading"), "children"),
        Output(pid("cause"), "options"),
        Input(pid("confirm"), "n_clicks"),
        Input(pid("overrule"), "n_clicks"),
        State(pid("reviewer"), "value"),
        State(pid("comment"), "value"),
        State(pid("table"), "selected_rows"),
        State(pid("table"), "data"),
        prevent_initial_call=True,
    )(review)
