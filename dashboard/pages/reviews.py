"""Reviews: every decision stored, newest first: who, when, which flag it was
about, the cause and comment, the batch it belongs to; a search over them;
and the revocation of a batch (kept in the audit trail, greyed)."""
from __future__ import annotations

import dash
import dash_ag_grid as dag
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update
from dash.exceptions import PreventUpdate

from relphot_core.errors import RelphotError
from relphot_core.identity import Action, AuthError
from relphot_core.reviews import ReviewInputError, flag_label

from ..auth import current_identity, signed_name, writes
from ..components import (data_grid, empty_store_page, fmt_time, grid_column, match_count, message,
                          refused_message, signer_field, status_cell_style)
from ..data import get_cache, get_store, revoke_review_batch
from ..query import unknown_parameters

PAGE = dict(path="/reviews", name="Reviews", title="relphot QC — reviews", order=3)
LIMIT = 2000

COLUMNS = [("when", "when"), ("obs", "obs id"), ("filter", "filter"), ("exposure", "dither"),
           ("status", "status reviewed"), ("flag", "flag it was about"), ("decision", "decision"),
           ("state", "state"), ("cause", "cause"), ("reviewer", "reviewer"), ("comment", "comment"),
           ("batch", "batch")]
SHORT = 25
"""Up to this many reviews, the table is as tall as its rows; beyond, it scrolls."""


def pid(name: str) -> str:
    """Page-local component id."""
    return f"reviews-{name}"


def review_records(reviews: pd.DataFrame) -> list[dict]:
    """Grid rows of `Store.reviews` rows, newest first (at most `LIMIT`)."""
    records = []
    for row in reviews.iloc[::-1].head(LIMIT).to_dict("records"):
        revoked = row.get("revoked_at") is not None and not pd.isna(row.get("revoked_at"))
        batch = row.get("batch_id")
        batch = None if batch is None or pd.isna(batch) else int(batch)
        records.append({
            "id": str(int(row["id"])),
            "when": fmt_time(row["created"]),
            "obs": int(row["obs_id"]), "filter": str(row["filter"]), "exposure": int(row["exposure"]),
            "status": str(row.get("status") or ""),
            "flag": flag_label(row.get("flag_kind"), row.get("flag_reason"), row.get("status")),
            "decision": str(row["decision"]),
            "cause": str(row.get("cause") or ""),
            "reviewer": _signed(row["reviewer"], row.get("auth_mode")), "comment": str(row["comment"] or ""),
            "batch": batch,
            "revoked": revoked,
            "state": (f"revoked by {_signed(row.get('revoked_by') or '?', row.get('revoked_auth_mode'))} "
                      f"({fmt_time(row.get('revoked_at'))})" if revoked else "counts"),
        })
    return records


def _signed(name, mode) -> str:
    """A reviewer's name as the audit trail shows it: a typed name (auth
    mode none) is marked unauthenticated."""
    name = str(name or "")
    return f"{name} (unauthenticated)" if mode == "none" else name


def batch_options(batches: pd.DataFrame) -> list[dict]:
    """The batches that can still be revoked, newest first, for the dropdown."""
    options = []
    for row in batches.iloc[::-1].to_dict("records"):
        if row.get("revoked_at") is not None and not pd.isna(row.get("revoked_at")):
            continue
        cause = f", {row['cause']}" if row.get("cause") else ""
        n = int(row["n_reviews"])
        options.append({"label": f"batch {int(row['batch_id'])}: {row['decision']} by {row['reviewer']}{cause}, "
                                 f"{n:,} exposure{'s' if n != 1 else ''} ({fmt_time(row['created'])})",
                        "value": int(row["batch_id"])})
    return options


def _summary(reviews: pd.DataFrame, search: str) -> str:
    n = len(reviews)
    revoked = int(reviews["revoked_at"].notna().sum()) if n else 0
    text = f"{n:,} review decision{'s' if n != 1 else ''}"
    text += f" match '{search.strip()}'" if search and search.strip() else " stored"
    if revoked:
        text += f" ({revoked:,} revoked: kept, greyed, no longer counted)"
    if n > LIMIT:
        text += f"; the latest {LIMIT:,} are listed"
    return text + "."


def _grid(records: list[dict]) -> dag.AgGrid:
    columns = [grid_column(key, name, link=True) for key, name in COLUMNS]
    for column in columns:
        if column["field"] == "status":
            column["cellStyle"] = status_cell_style("status")
        if column["field"] == "batch":
            column.update(filter="agNumberColumnFilter", type="numericColumn", width=84, minWidth=72,
                          suppressFloatingFilterButton=True)
        if column["field"] == "state":
            column.update(tooltipField="state", width=190, minWidth=150)
        if column["field"] == "when":
            column.update(width=175, minWidth=170)
        if column["field"] == "decision":
            column.update(width=110, minWidth=100)
    height = None if len(records) <= SHORT else "min(600px, 65vh)"
    return data_grid(pid("table"), records, columns, height=height,
                     getRowStyle={"styleConditions": [{"condition": "params.data.revoked",
                                                       "style": {"color": "#7b8794",
                                                                 "backgroundColor": "#f3f4f6",
                                                                 "fontStyle": "italic"}}]})


def layout(q: str | None = None, **_params) -> html.Div:
    """The review history (latest first), its search and the revocation of a batch."""
    if get_cache().is_empty():
        return empty_store_page()
    store = get_store()
    search = str(q or "")[:200]
    reviews = store.reviews(search=search or None)
    everything = store.reviews() if search else reviews
    hidden = {"display": "none"} if not len(everything) else None  # nothing to search, list or revoke yet
    identity = current_identity()
    return html.Div([
        html.H1("Reviews"),
        html.Div([message(p, "warning") for p in unknown_parameters(_params, ("q",))], id=pid("url-messages")),
        html.P(_summary(reviews, search), className="lead", id=pid("count")),
        html.P("Review exposures from the triage queue or an observation page. Each action is one batch: a batch "
               "stored by mistake can be revoked below; its reviews stay here, greyed, but no longer count (the "
               "exposures return to the triage queue, and the products and exports no longer carry them).",
               className="muted"),
        html.Div(className="table-tools", style=hidden, children=[
            dcc.Input(id=pid("search"), type="search", value=search, debounce=True, className="input-comment",
                      placeholder="search comments, causes, reviewers, flags (e.g. satellite trail)"),
            html.Span("", id=pid("matching"), className="muted ticked-count"),
        ]),
        html.P(["No review yet: flagged exposures are reviewed from the ", dcc.Link("triage queue", href="/triage"),
                " or an observation page."], className="muted", id=pid("empty")) if not len(everything) else None,
        html.Div(_grid(review_records(reviews)), id=pid("grid-box"), style=hidden),
        html.Div(className="review-box card", id=pid("revoke-box"), style=hidden, children=[
            html.H4("Revoke a batch"),
            html.P("Click a review in the table to choose its batch, or pick one here. A reviewer revokes "
                   "their own batches; a lead anyone's.", className="muted"),
            html.Div(className="review-row", children=[
                dcc.Dropdown(id=pid("batch"), options=batch_options(store.review_batches()),
                             placeholder="a batch of reviews…", className="batch-dropdown", clearable=True),
                signer_field(pid("by"), identity),
                html.Button("Revoke this batch", id=pid("revoke"), n_clicks=0, className="btn btn-overrule",
                            disabled=not identity.may(Action.REVOKE_OWN)),
            ]),
            dcc.ConfirmDialog(id=pid("confirm")),
            html.Div(id=pid("result"), className="review-result"),
        ]),
    ])


def search(text):
    """The reviews matching the search box (`Store.reviews` search)."""
    reviews = get_store().reviews(search=str(text or "")[:200] or None)
    return review_records(reviews), _summary(reviews, str(text or ""))


def pick(cell, rows):
    """A click on a review (not revoked) chooses its batch."""
    row_id = str((cell or {}).get("rowId")) if isinstance(cell, dict) else None
    row = next((r for r in rows or [] if r.get("id") == row_id), None)
    if row is None or row.get("batch") is None or row.get("revoked"):
        raise PreventUpdate
    return int(row["batch"])


def ask(n_clicks, batch, by, options):
    """Ask for confirmation before revoking (or say what is missing)."""
    if not n_clicks:
        raise PreventUpdate
    if batch is None:
        return False, "", message("Choose a batch first (click a review in the table, or pick one).", "error")
    if not signed_name(current_identity(), by):
        return False, "", message("Enter your name before revoking: a revocation is stored with its author.",
                                  "error")
    label = next((o["label"] for o in options or [] if o["value"] == batch), f"batch {batch}")
    return True, (f"Revoke {label}? Its reviews stay in the audit trail but no longer count: the exposures "
                  "return to the triage queue."), ""


@writes(Action.REVOKE_OWN)
def revoke(submitted, batch, by, text):
    """Revoke the chosen batch once confirmed (a lead: anyone's; a reviewer:
    their own), then refresh the table."""
    if not submitted or batch is None:
        raise PreventUpdate
    try:
        count = revoke_review_batch(int(batch), by, identity=current_identity())
    except (ReviewInputError, AuthError) as exc:
        return refused_message(exc), no_update, no_update, no_update, no_update
    except (KeyError, ValueError, RelphotError) as exc:
        return message(f"Not revoked: {exc}", "error"), no_update, no_update, no_update, no_update
    records, summary = search(text)
    return (message(f"Revoked batch {batch}: {count} review{'s' if count != 1 else ''} no longer count.",
                    "success"), records, summary, batch_options(get_store().review_batches()), None)


def register_callbacks(app: dash.Dash) -> None:
    """Attach the reviews page's callbacks to an app."""
    app.callback(Output(pid("table"), "rowData"), Output(pid("count"), "children"),
                 Input(pid("search"), "value"), prevent_initial_call=True)(search)
    app.callback(Output(pid("batch"), "value"), Input(pid("table"), "cellClicked"),
                 State(pid("table"), "rowData"), prevent_initial_call=True)(pick)
    app.callback(Output(pid("confirm"), "displayed"), Output(pid("confirm"), "message"),
                 Output(pid("result"), "children"),
                 Input(pid("revoke"), "n_clicks"), State(pid("batch"), "value"), State(pid("by"), "value"),
                 State(pid("batch"), "options"), prevent_initial_call=True)(ask)
    app.callback(Output(pid("result"), "children", allow_duplicate=True),
                 Output(pid("table"), "rowData", allow_duplicate=True),
                 Output(pid("count"), "children", allow_duplicate=True),
                 Output(pid("batch"), "options"), Output(pid("batch"), "value", allow_duplicate=True),
                 Input(pid("confirm"), "submit_n_clicks"), State(pid("batch"), "value"), State(pid("by"), "value"),
                 State(pid("search"), "value"), prevent_initial_call=True)(revoke)
    app.callback(Output(pid("matching"), "children"), Input(pid("table"), "virtualRowData"),
                 State(pid("table"), "rowData"))(match_count)
