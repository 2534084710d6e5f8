"""The problem queue: one row per QC problem (a drift, a detector, a bad
exposure or observation, a failed set) with its span, size now, exposures
and state, worst first; a problem opens below the queue with its exposures
and its life, where it is reviewed in one action (one review batch, which
the reviews page can revoke) and where a lead acknowledges, resolves or
ignores it.

URL parameters: ``view`` (``awaiting``: problems with exposures awaiting
review, the default; ``open``: every current problem whatever its state;
``gone``: problems no longer found), ``filter`` (repeatable) and
``problem`` (the problem shown).
"""
from __future__ import annotations

from typing import Any

import dash
import pandas as pd
from dash import Input, Output, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from relphot_core.wording import plural
from relphot_core.config import FILTERS
from relphot_core.errors import RelphotError
from relphot_core.identity import Action, AuthError
from relphot_core.qc.problems import SERIES_KINDS, STATE_ACTIONS, describe_span, size_text
from relphot_core.reviews import ReviewInputError, review_problem as review_complaint
from relphot_core.store.problems import StaleProblemError

from ..auth import current_identity, signed_name, writes
from ..components import (data_grid, fmt_time, grid_column, message, refused_message, review_form, signer_field,
                          status_cell_style)
from ..data import change_problem_state, get_cache, get_store, review_problem
from ..query import unknown_parameters
from .news import read_news, since_links

PAGE = dict(path="/triage", name="Problems", title="relphot QC — problem queue", order=2)

VIEWS = {"awaiting": "awaiting review", "new": "new since…", "open": "every current problem",
         "gone": "gone (no longer found)"}
"""The queue's views, by URL value."""

STATE_COLOURS = {"open": "#D55E00", "regressed": "#CC79A7", "acknowledged": "#E69F00", "resolved": "#009E73",
                 "ignored": "#777777"}

QUEUE_COLUMNS: list[dict[str, Any]] = [
    {"field": "state", "headerName": "state", "width": 110, "minWidth": 100, "cellStyle": {"styleConditions": [
        {"condition": f"params.value && params.value.startsWith('{state}')",
         "style": {"color": colour, "fontWeight": "600"}} for state, colour in STATE_COLOURS.items()]}},
    {"field": "kind", "headerName": "kind", "width": 96, "minWidth": 90},
    {"field": "filter", "headerName": "filter", "width": 80, "minWidth": 72},
    {"field": "what", "headerName": "what", "width": 170, "minWidth": 140, "tooltipField": "what"},
    {"field": "span", "headerName": "since · last seen", "width": 260, "minWidth": 200, "tooltipField": "span"},
    {"field": "size", "headerName": "size now", "width": 200, "minWidth": 150, "tooltipField": "size"},
    {"field": "worst", "headerName": "worst", "width": 96, "minWidth": 92, "cellStyle": status_cell_style("worst")},
    {"field": "n_exposures", "headerName": "exposures", "width": 96, "minWidth": 90, "type": "numericColumn",
     "filter": "agNumberColumnFilter", "tooltipField": "exposures_text"},
    {"field": "n_awaiting", "headerName": "awaiting", "width": 92, "minWidth": 86, "type": "numericColumn",
     "filter": "agNumberColumnFilter"},
    {"field": "reason", "headerName": "reason", "width": 320, "minWidth": 160, "tooltipField": "reason"},
]

QUEUE_ROWS = 500
"""Problems listed in the queue's grid, worst first: a survey's thousands
of small ones would make the page megabytes (13,000 at 480,000 factors:
4 MB, a second a page); the heading says how many there are."""

EXPOSURE_COLUMNS = [("obs", "obs id"), ("filter", "filter"), ("exposure", "dither"), ("role", "role"),
                    ("date", "date (UTC)"), ("value", "QPRELEX"), ("error", "QPRELEXE"), ("status", "status"),
                    ("review", "review")]


def pid(name: str) -> str:
    """Page-local component id."""
    return f"triage-{name}"


def problem_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Grid rows of `relphot_core.store.Store.problems` rows."""
    rows = []
    for item in frame.itertuples(index=False):
        span = describe_span(item)
        span += " · ongoing" if item.ongoing else (" · ended" if item.kind in SERIES_KINDS else "")
        collateral = f" ({item.n_collateral} collateral)" if item.n_collateral else ""
        state = item.state if item.current else f"{item.state} (gone)"
        rows.append({
            "id": int(item.id), "version": int(item.version), "state": state, "kind": item.kind,
            "filter": item.filter or "—", "what": item.subject, "span": span,
            "size": size_text(item.kind, item.unit, item.size, item.size_error, item.slope),
            "worst": item.worst_status or "", "n_exposures": int(item.n_exposures),
            "exposures_text": plural(int(item.n_exposures), "exposure") + collateral,
            "n_awaiting": int(item.n_awaiting), "reason": item.reason,
        })
    return rows


def _read(view: str, filters: list[str] | None,
          since: str | None = None) -> tuple[pd.DataFrame, dict[str, int], str, list[str]]:
    """The queue's worst `QUEUE_ROWS` problems, how many there are (with
    their exposures awaiting review and how many are ongoing), what "new"
    counted from (its label) and notes on the ``since`` asked
    (`dashboard.pages.news.read_news`)."""
    store = get_store()
    if view == "new":  # opened, grown or regressed since a moment (`relphot_core.news`)
        news, notes = read_news(since, filters=filters or None)
        frame = store.problems(filters or None, current=None)
        chosen = frame[frame["id"].isin(news.problems["problem_id"].tolist())].reset_index(drop=True)
        counts = {"problems": len(chosen), "awaiting": int(chosen["n_awaiting"].sum()),
                  "ongoing": int(chosen["ongoing"].sum())}
        return chosen.head(QUEUE_ROWS), counts, news.since.label, notes
    which: dict[str, Any] = {"current": False} if view == "gone" else {"awaiting": True if view == "awaiting" else None}
    return (store.problems(filters or None, limit=QUEUE_ROWS, **which),
            store.problem_summary(filters or None, **which), "", [])


def heading(view: str, counts: dict[str, int], since_label: str = "the last batch") -> html.Div | html.P:
    """What the queue holds, in one line (``counts``: `relphot_core.store.Store.problem_summary`;
    ``since_label``: what view ``new`` counts from)."""
    total = counts["problems"]
    if not total:
        text = {"awaiting": "Nothing awaits review: every problem's exposures are reviewed.",
                "new": f"No problem opened, grew or regressed since {since_label}.",
                "open": "No problem: no flag in the current runs.",
                "gone": "No problem has gone."}[view]
        return message(text, "success", id=pid("empty"))
    if view == "awaiting":
        text = f"{plural(total, 'problem')} await review ({plural(counts['awaiting'], 'exposure')})"
    elif view == "new":
        text = f"{plural(total, 'problem')} new since {since_label}"
    else:
        text = f"{plural(total, 'problem')} ({VIEWS[view]})"
    text += (f", {counts['ongoing']:,} ongoing" if counts["ongoing"] else "") + "."
    if total > QUEUE_ROWS:
        text += f" The {QUEUE_ROWS:,} worst are listed: choose a filter or a view to see others."
    return html.P(text, id=pid("count"), className="lead")


def headline(frame: pd.DataFrame) -> html.Div:
    """The overview's headline: the open problems by kind, the worst ones
    named, each a link into the queue.

    Parameters
    ----------
    frame : pandas.DataFrame
        `relphot_core.store.Store.problems` rows in the open states
        (``open``, ``regressed``), worst first.
    """
    if frame.empty:
        return html.Div(className="headline card headline-clear", id="problem-headline", children=[
            html.Strong("No open problem."), " Every flag of the current runs belongs to a reviewed, acknowledged "
            "or resolved problem, or there is none."])
    kinds = frame["kind"].value_counts()
    ongoing = int(frame["ongoing"].sum())
    waiting = int(frame["n_awaiting"].sum())
    summary = ", ".join(f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in kinds.items())
    worst = [html.Li([dcc.Link(f"{row.title} ({row.filter})", href=f"/triage?problem={row.id}"), ": ",
                      size_text(row.kind, row.unit, row.size, row.size_error, row.slope) or row.worst_status or "",
                      " · ongoing" if row.ongoing else ""])
             for row in frame.head(3).itertuples(index=False)]
    return html.Div(className="headline card", id="problem-headline", children=[
        html.Strong(f"{plural(len(frame), 'open problem')}"), f" ({summary})",
        f", {ongoing} ongoing" if ongoing else "", f"; {plural(waiting, 'exposure')} await review. ",
        dcc.Link("Open the problem queue →", href="/triage"),
        html.Ul(worst, className="headline-worst"),
    ])


def exposure_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Grid rows of a problem's exposures (`Store.problem_exposures`)."""
    from relphot_core.mjd import mjd_to_datetime

    rows = []
    for item in frame.itertuples(index=False):
        when = mjd_to_datetime(item.mjd_obs)
        rows.append({
            "id": f"{item.obs_id}|{item.filter}|{item.exposure}", "obs": int(item.obs_id), "filter": item.filter,
            "exposure": int(item.exposure), "role": item.role,
            "date": when.strftime("%Y-%m-%d %H:%M") if when is not None else "",
            "value": None if pd.isna(item.value) else round(float(item.value), 6),
            "error": None if pd.isna(item.error) else round(float(item.error), 6), "status": item.status,
            "review": (f"{item.review_decision} by {item.reviewer}" if item.review_decision else "")
                      + ("" if item.reviewed or not item.review_decision else " (earlier status)"),
        })
    return rows


def detail(problem_id: int | None) -> list[Any]:
    """The problem shown below the queue: what, its exposures, its life and
    the actions (review; a lead's state)."""
    if problem_id is None:
        return [html.P("Choose a problem in the queue to see its exposures and review it.", className="muted",
                       id=pid("hint"))]
    store = get_store()
    try:
        row = store.problem(problem_id)
    except KeyError:
        return [message(f"No problem {problem_id}.", "error")]
    exposures = store.problem_exposures(problem_id)
    events = store.problem_events(problem_id)
    state = f"{row['state']}" + (f" by {row['state_by']}, {fmt_time(row['state_at'])}" if row["state_by"] else "")
    if row["state_comment"]:
        state += f": {row['state_comment']}"
    life = [html.Li(f"{fmt_time(e.at)}: {e.event}" + (f" by {e.by}" if e.by and e.by != "relphot" else "")
                    + (f" ({plural(e.n_exposures, 'exposure')})" if e.n_exposures else "")
                    + (f": {e.comment}" if e.comment else ""))
            for e in events.itertuples(index=False)]
    first_obs = int(row["first_obs"]) if pd.notna(row["first_obs"]) else None
    link = (dcc.Link("open its first observation", href=f"/observation/{first_obs}?filter={row['filter']}"
                     f"&back=/triage?problem={problem_id}") if first_obs is not None and row["filter"] else None)
    seen = {f"{e.obs_id}|{e.filter}|{e.exposure}": (None if pd.isna(e.review_id) else int(e.review_id))
            for e in exposures.itertuples(index=False)}
    return [
        dcc.Store(id=pid("version"), data=int(row["version"])),
        dcc.Store(id=pid("expected"), data=seen),  # each exposure's latest review as shown: a stale review is refused
        html.H3(f"Problem {problem_id}: {row['title']} ({row['filter'] or 'no filter'})", id=pid("detail-title")),
        html.P(row["reason"], className="problem-reason"),
        html.Dl(className="problem-facts", children=[
            html.Dt("span"), html.Dd([describe_span(row), " · ongoing" if row["ongoing"] else "",
                                      " · " if link else "", link]),
            html.Dt("size now"), html.Dd(size_text(row["kind"], row["unit"], row["size"], row["size_error"],
                                                   row["slope"]) or "—"),
            html.Dt("exposures"), html.Dd(f"{plural(int(row['n_exposures']), 'exposure')} "
                                          f"({row['n_collateral']} collateral: flags this problem explains), "
                                          f"{row['n_awaiting']} awaiting review"),
            html.Dt("state"), html.Dd(state + ("" if row["current"] else " · gone: no longer found")),
        ]),
        data_grid(pid("exposures"), exposure_rows(exposures),
                  [grid_column(k, n, link=True) for k, n in EXPOSURE_COLUMNS],
                  height="min(300px, 40vh)"),
        html.H4("Life"),
        html.Ul(life, className="problem-life", id=pid("life")),
    ]


def actions() -> html.Div:
    """The review form and a lead's decision, below the chosen problem.

    In the page's layout once (not redrawn with each problem: new buttons
    would fire their callbacks, and the server refuses a write the user may
    not make); `action_state` enables what the chosen problem's state and
    the user's role allow."""
    identity = current_identity()
    may_decide = identity.may(Action.CHANGE_PROBLEM)
    return html.Div(className="problem-actions", id=pid("actions"), children=[
        html.Div(className="review-box card", children=[
            html.H4("Review the problem"),
            html.P("One decision for all the problem's exposures, stored as one review batch about this problem "
                   "(the reviews page can revoke it).", className="muted"),
            review_form(pid, what="this problem's exposures"),
        ]),
        html.Div(className="review-box card", children=[
            html.H4("A lead's decision"),
            html.P("Acknowledge: known and followed (it leaves the queue). Resolve: over; if it comes back it "
                   "regresses. Ignore: not worth following.", className="muted"),
            html.Div(className="review-row", children=[
                signer_field(pid("lead"), identity),
                dcc.Input(id=pid("lead-comment"), type="text", placeholder="comment", className="input-comment"),
                *[html.Button(action, id=pid(f"state-{action}"), n_clicks=0, className="btn btn-small",
                              disabled=True) for action in STATE_ACTIONS],
            ]),
            None if may_decide else html.P(f"{identity.name or 'You'} ({identity.role.value}) may not change a "
                                           "problem's state: a lead may.", className="muted"),
        ]),
    ])


def action_state(chosen, _changed):
    """Show the actions for a chosen problem and enable the lead's actions
    its state allows (all disabled for who may not make them)."""
    if chosen is None:
        return ({"display": "none"},) + (True,) * len(STATE_ACTIONS)
    try:
        state = get_store().problem(int(chosen))["state"]
    except KeyError:
        return ({"display": "none"},) + (True,) * len(STATE_ACTIONS)
    may_decide = current_identity().may(Action.CHANGE_PROBLEM)
    return ({},) + tuple(not may_decide or state not in STATE_ACTIONS[action] for action in STATE_ACTIONS)


def layout(view: str = "awaiting", filter: Any = None, problem: str | None = None, since: str | None = None,
           **_params) -> html.Div:
    """The problem queue and the chosen problem (``view=new``: those opened,
    grown or regressed since the moment ``since`` names, as on /news)."""
    view = view if view in VIEWS else "awaiting"
    filters = [f for f in ([filter] if isinstance(filter, str) else (filter or [])) if f in FILTERS]
    frame, counts, since_label, notes = _read(view, filters, since)
    chosen = int(problem) if problem is not None and str(problem).isdigit() else None
    if get_cache().is_empty() and frame.empty and view == "awaiting":
        from ..components import empty_store_page

        if get_store().failures().empty:
            return empty_store_page()
    return html.Div([
        html.H1("Problem queue"),
        html.Div([message(p, "warning") for p in [*unknown_parameters(_params, ("view", "filter", "problem",
                                                                               "since")), *notes]],
                 id=pid("url-messages")),
        html.P("Each row is one problem: one cause with its exposures. A drift of a dither position, a detector "
               "flagged over a span, a bad exposure or observation, a set that could not be processed. Flags a "
               "problem explains (the partners' collateral WARNs, the shift a bad detector gives its exposure) "
               "are its exposures, not problems of their own. Worst first. Click a row to see its exposures "
               "and review it in one action.", className="muted"),
        html.Div(className="table-tools", children=[
            dcc.RadioItems(id=pid("view"), options=[{"label": text, "value": key} for key, text in VIEWS.items()],
                           value=view, inline=True, className="radio-inline"),
            dcc.Checklist(id=pid("filters"), options=list(FILTERS), value=filters or list(FILTERS), inline=True,
                          className="filter-checklist"),
        ]),
        html.Div(since_links(since or "batch", base="/triage?view=new", id_prefix="triage-since"),
                 id=pid("since-box"), style={} if view == "new" else {"display": "none"}),
        html.Div(heading(view, counts, since_label), id=pid("heading")),
        dcc.Store(id=pid("since"), data=since or "batch"),
        data_grid(pid("table"), problem_rows(frame), QUEUE_COLUMNS, selectable="single",
                  height=None if len(frame) <= 12 else "min(420px, 50vh)"),
        dcc.Store(id=pid("chosen"), data=chosen),
        dcc.Store(id=pid("changed")),
        html.Div(id=pid("notice"), className="review-result"),
        html.Div(detail(chosen), id=pid("detail"), className="problem-detail card"),
        html.Div(actions(), id=pid("actions-box"), style={} if chosen is not None else {"display": "none"}),
    ])


def refresh(view, filters, _store, since=None):
    """The queue for a view and filters (and the moment of view ``new``)."""
    frame, counts, since_label, _notes = _read(view or "awaiting", [f for f in (filters or []) if f in FILTERS], since)
    return (problem_rows(frame), heading(view or "awaiting", counts, since_label),
            {} if view == "new" else {"display": "none"})


def choose(selected, chosen=None):
    """A row clicked: that problem below the queue (the grid re-selecting
    the same row after its rows were refreshed changes nothing: the message
    of the action just made stays)."""
    if not selected or int(selected[0]["id"]) == chosen:
        raise PreventUpdate
    problem_id = int(selected[0]["id"])
    return problem_id, detail(problem_id), None


def redraw(_changed, chosen):
    """The chosen problem again, after a review or a change of state."""
    return detail(chosen)


@writes(Action.REVIEW)
def review(n_confirm, n_overrule, reviewer, comment, cause, chosen, seen=None):
    """Confirm or overrule the chosen problem: one batch over its exposures,
    signed by the signed-in user (the typed name in mode none)."""
    if not ctx.triggered_id or not (n_confirm or n_overrule) or chosen is None:
        raise PreventUpdate
    decision = "confirmed" if ctx.triggered_id == pid("confirm") else "overruled"
    identity = current_identity()
    reviewer = signed_name(identity, reviewer)
    complaint = review_complaint(decision, reviewer, comment, cause)
    if complaint:
        return message(complaint, "error"), no_update
    try:
        expected = None if seen is None else {(int(o), f, int(d)): r for key, r in seen.items()
                                              for o, f, d in [key.split("|")]}
        batch, n = review_problem(int(chosen), decision, reviewer, comment, cause=cause or "", identity=identity,
                                  expected=expected)
    except (ReviewInputError, AuthError) as exc:
        return refused_message(exc), no_update
    except (KeyError, ValueError, RelphotError) as exc:
        return message(f"Not stored: {exc}", "error"), no_update
    name = " ".join(str(reviewer).split())
    return (message(f"Stored: {decision} by {name} for problem {chosen}'s {plural(n, 'exposure')}, as review "
                    f"batch {batch} (the reviews page can revoke it).", "success", id=pid("stored")),
            {"batch": batch})


@writes(Action.CHANGE_PROBLEM)
def change_state(*args):
    """A lead acknowledges, resolves, ignores or reopens the chosen problem
    (refused when it changed since the page showed it)."""
    *_clicks, by, comment, chosen, version = args
    # a redrawn problem brings new buttons (n_clicks 0): only a click counts
    if not ctx.triggered_id or chosen is None or not ctx.triggered[0].get("value"):
        raise PreventUpdate
    action = str(ctx.triggered_id).removeprefix(pid("state-"))
    identity = current_identity()
    by = signed_name(identity, by)
    try:
        new = change_problem_state(int(chosen), action, by, comment=comment or "", expected_version=version,
                                   identity=identity)
    except StaleProblemError as exc:
        return message([str(exc), " ", html.A("Reload the page", href="", className="reload-link")], "error"), \
            no_update
    except (KeyError, ValueError, RelphotError, AuthError) as exc:
        return refused_message(exc), no_update
    return message(f"Problem {chosen}: {action} by {' '.join(str(by).split())} (version {new}).", "success",
                   id=pid("state-stored")), {"version": new}


def register_callbacks(app: dash.Dash) -> None:
    """Attach the problem queue's callbacks to an app."""
    app.callback(
        Output(pid("table"), "rowData"),
        Output(pid("heading"), "children"),
        Output(pid("since-box"), "style"),
        Input(pid("view"), "value"),
        Input(pid("filters"), "value"),
        Input(pid("changed"), "data"),
        State(pid("since"), "data"),
        prevent_initial_call=True,
    )(refresh)
    app.callback(
        Output(pid("chosen"), "data"),
        Output(pid("detail"), "children"),
        Output(pid("notice"), "children"),
        Input(pid("table"), "selectedRows"),
        State(pid("chosen"), "data"),
        prevent_initial_call=True,
    )(choose)
    app.callback(
        Output(pid("actions-box"), "style"),
        *[Output(pid(f"state-{action}"), "disabled") for action in STATE_ACTIONS],
        Input(pid("chosen"), "data"),
        Input(pid("changed"), "data"),
    )(action_state)
    app.callback(
        Output(pid("detail"), "children", allow_duplicate=True),
        Input(pid("changed"), "data"),
        State(pid("chosen"), "data"),
        prevent_initial_call=True,
    )(redraw)
    app.callback(
        Output(pid("notice"), "children", allow_duplicate=True),
        Output(pid("changed"), "data"),
        Input(pid("confirm"), "n_clicks"),
        Input(pid("overrule"), "n_clicks"),
        State(pid("reviewer"), "value"),
        State(pid("comment"), "value"),
        State(pid("cause"), "value"),
        State(pid("chosen"), "data"),
        State(pid("expected"), "data"),
        prevent_initial_call=True,
    )(review)
    app.callback(
        Output(pid("notice"), "children", allow_duplicate=True),
        Output(pid("changed"), "data", allow_duplicate=True),
        *[Input(pid(f"state-{action}"), "n_clicks") for action in STATE_ACTIONS],
        State(pid("lead"), "value"),
        State(pid("lead-comment"), "value"),
        State(pid("chosen"), "data"),
        State(pid("version"), "data"),
        prevent_initial_call=True,
    )(change_state)
