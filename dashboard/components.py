"""Layout pieces shared by the pages: messages, the empty-store page, status
badges, the counts table, exposure grids (Dash AG Grid) and the review form.

Every user string goes into Dash components as plain text (escaped by
React); nothing here renders raw HTML.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import dcc, html
from dash.development.base_component import Component

from relphot_core.config import FILTERS
from relphot_core.flags import flag_reason
from relphot_core.identity import Action
from relphot_core.qc.flags import flag_about
from relphot_core.reviews import CAUSES, MAX_COMMENT, MAX_REVIEWER
from relphot_core.status import STATUS_ORDER, Status

from .query import mjd_to_iso
from .style import REVIEW_COLOURS, STATUS_COLOURS, STATUS_TEXT_COLOURS


def message(text: str | list[str | Component], kind: str = "info", **kw: Any) -> html.Div:
    """A message box: kind is info, warning, error or success."""
    return html.Div(text, className=f"msg msg-{kind}", **kw)


def messages(texts, kind: str = "warning", id_: str | None = None) -> html.Div:
    """Several messages (e.g. ignored URL parameters), or nothing."""
    kw: dict[str, Any] = {"id": id_} if id_ else {}
    return html.Div([message(t, kind) for t in texts], **kw)


def empty_store_page() -> html.Div:
    """What a user sees when the store holds nothing yet."""
    return html.Div(className="empty-page", id="empty-store", children=[
        html.H2("The store is empty"),
        html.P("No observation has been computed into this database yet. To see the dashboard at work:"),
        html.Ul([
            html.Li([html.Strong("try a simulated season: "), html.Code("relphot demo")]),
            html.Li([html.Strong("or compute your catalogues into this store: "),
                     html.Code("relphot compute CATALOGUES... --db URL"), ", then reload this page"]),
            html.Li([html.Strong("or import existing XML products: "),
                     html.Code("relphot import PRODUCT.xml... --db URL")]),
        ]),
    ])


def status_badge(status: str | None) -> html.Span:
    """A coloured status label (colour and text, never colour alone)."""
    status = str(status) if status else Status.NODATA.value
    return html.Span(status, className=f"badge status-{status if status in STATUS_ORDER else Status.NODATA}")


StatusCounts = tuple[dict[str, int], dict[str, int], int]
"""Exposures per status, distinct observations per status, distinct
observations in all."""


def status_counts(df: pd.DataFrame) -> StatusCounts:
    """`count_statuses` of a frame's ``status`` and ``obs_id`` columns."""
    status = df["status"]
    if not isinstance(status.dtype, pd.CategoricalDtype):
        status = status.astype(object).astype("category")
    return count_statuses(status.cat.codes.to_numpy(), [str(n) for n in status.cat.categories],
                          df["obs_id"].to_numpy(dtype=np.int64))


def count_statuses(codes: np.ndarray, names: list[str], obs: np.ndarray) -> StatusCounts:
    """Exposures and distinct observations per status, and distinct
    observations in all.

    Parameters
    ----------
    codes : numpy.ndarray of int
        Each exposure's status, as an index into ``names`` (-1: none).
    names : list of str
        The statuses.
    obs : numpy.ndarray of int
        Each exposure's obs id.

    Returns
    -------
    tuple
        ``({status: exposures}, {status: observations}, observations)``
        (integer codes and bincounts: fast on survey-size arrays).
    """
    codes = np.asarray(codes).astype(np.int64)
    obs = np.asarray(obs, dtype=np.int64)
    valid = codes >= 0
    if not valid.all():  # rows without a status are not counted at all
        codes, obs, valid = codes[valid], obs[valid], valid[valid]
    n_exp = np.bincount(codes[valid], minlength=len(names))
    span = int(obs.max() - obs.min()) + 1 if obs.size else 1
    if span <= 4 * obs.size + 4096:  # dense ids: a bincount per (status, obs), as big as the frame
        offset = obs - obs.min() if obs.size else obs
        seen = np.bincount(codes[valid] * span + offset[valid], minlength=len(names) * span)
        n_obs = np.count_nonzero(seen.reshape(len(names), span), axis=1) if names else np.zeros(0, int)
        total_obs = int(np.count_nonzero(np.bincount(offset))) if obs.size else 0
    else:  # sparse ids: hashing
        pairs = pd.unique((codes[valid] << 40) | (obs[valid] & ((1 << 40) - 1)))
        n_obs = np.bincount(pairs >> 40, minlength=len(names))
        total_obs = int(pd.unique(obs).size)
    return dict(zip(names, n_exp.tolist())), dict(zip(names, n_obs.tolist())), total_obs


def flag_counts(flag: np.ndarray, obs: np.ndarray) -> tuple[int, int]:
    """Exposures with a flag beyond their status (``flag``: a control-chart
    alarm, a flagged detector, a cross-check) and their distinct observations."""
    flag = np.asarray(flag, dtype=bool)
    return int(flag.sum()), int(pd.unique(np.asarray(obs)[flag]).size)


OTHER_FLAGS = "other flags"
"""The counts column of flags beyond the status."""


def counts_table(frames: Mapping[str, pd.DataFrame | StatusCounts | None],
                 shown: tuple[str, ...] | list[str] = STATUS_ORDER,
                 flags: dict[str, tuple[int, int]] | None = None,
                 link: Callable[[str, str], str] | None = None) -> html.Table:
    """Exposures and observations per status and per filter.

    ``frames`` maps a filter to its (selected) exposure rows, every status
    included, or to their counts already made (`count_statuses`); the
    columns of statuses not in ``shown`` (not drawn in the trend) are
    greyed. ``flags`` (filter -> `flag_counts`) adds a column of the
    exposures with other flags (any status: they are also counted in
    theirs). ``link(filter, status)`` makes each non-zero count a link
    (e.g. to the overview of those exposures).
    """
    def off(status: str) -> str:
        return "" if status in shown else " count-off"

    extra = [html.Th(OTHER_FLAGS, title="control-chart alarms, flagged detectors, disagreements with the "
                                         "global solution (any status)")] if flags is not None else []
    header = html.Tr([html.Th("filter")] + [html.Th(status_badge(s), className=off(s).strip() or None)
                                            for s in STATUS_ORDER] + extra + [html.Th("total")])
    rows = [header]
    for name, df in frames.items():
        cells = [html.Td(html.Strong(name))]
        if isinstance(df, tuple):
            n_exp_by, n_obs_by, total_obs = df
        else:
            empty = df is None or df.empty
            n_exp_by, n_obs_by, total_obs = status_counts(df) if not empty else ({}, {}, 0)
        n_rows = sum(n_exp_by.values())
        for status in STATUS_ORDER:
            n_exp, n_obs = n_exp_by.get(status, 0), n_obs_by.get(status, 0)
            count: Component = html.Span(f"{n_exp:,}", className="count-main")
            if n_exp and link is not None:  # to the view of just these
                count = dcc.Link(count, href=link(name, status), title=f"show the {status} exposures of {name}")
            cells.append(html.Td([count,
                                  html.Span(f" exp · {n_obs:,} obs", className="count-sub")],
                                 className="count" + (" count-zero" if n_exp == 0 else "") + off(status)))
        if flags is not None:
            n_exp, n_obs = flags.get(name, (0, 0))
            cells.append(html.Td([html.Span(f"{n_exp:,}", className="count-main"),
                                  html.Span(f" exp · {n_obs:,} obs", className="count-sub")],
                                 className="count count-flag" + (" count-zero" if n_exp == 0 else "")))
        cells.append(html.Td([html.Span(f"{n_rows:,}", className="count-main"),
                              html.Span(f" exp · {total_obs:,} obs", className="count-sub")]))
        rows.append(html.Tr(cells))
    return html.Table(rows, className="counts-table", id="counts-table")


def fmt_time(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")
    except (TypeError, ValueError):
        return str(value)


def review_text(row: Any) -> str:
    """'confirmed by alice (2026-01-02 10:00 UTC)' or ''."""
    decision = row.get("review_decision") if hasattr(row, "get") else None
    if not isinstance(decision, str) or not decision:
        return ""
    return f"{decision} by {row.get('reviewer') or '?'} ({fmt_time(row.get('reviewed_at'))})"


EXPOSURE_COLUMNS = [
    ("obs", "obs id"), ("filter", "filter"), ("exposure", "dither"), ("date", "date (UTC)"),
    ("value", "QPRELEX"), ("error", "QPRELEXE"), ("status", "status"), ("reason", "reason"),
    ("n_pairs", "pairs"), ("n_matched", "matched"), ("review", "review"), ("review_comment", "review comment"),
]


def _true(value: Any) -> bool:
    """A flag column's value as a bool (missing or NaN is False)."""
    return bool(value) and not (isinstance(value, float) and value != value)


def _offset(value: Any) -> float | None:
    """|QPRELEX - 1| rounded for display, as a number (sorts and filters as one)."""
    try:
        number = abs(float(value) - 1.0)
    except (TypeError, ValueError):
        return None
    return round(number, 4) if math.isfinite(number) else None


def _number(value: Any, digits: int | None = None) -> float | None:
    """A finite number for a grid cell (None when missing), rounded to ``digits``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    return round(number, digits) if digits is not None else number


def exposure_records(df: pd.DataFrame, *, link: bool = True, bands: Any = None) -> list[dict]:
    """Grid rows of exposure rows: numbers as numbers (the grid filters and
    sorts them as such), texts as plain text, the review as one line and,
    with ``bands``, the thresholds, a WARN or FAIL row saying why in its
    reason. ``id`` is ``obs|filter|dither``; ``flag_kind``/``flag_reason``
    the flag a review of the row is about (`relphot_core.qc.flags.flag_about`)."""
    records = []
    if "date_obs" not in df.columns and "mjd_obs" in df.columns:  # the cached tables keep the MJD only
        df = df.assign(date_obs=mjd_to_iso(df["mjd_obs"].to_numpy(dtype=float)))
    for row in df.to_dict("records"):
        obs_id, filt = int(row["obs_id"]), str(row["filter"])
        reason = str(row.get("reason") or "") or flag_reason(row.get("status"), row.get("value"), row.get("error"),
                                                             bands)
        kind, about = flag_about({**row, "reason": reason})
        records.append({
            "id": f"{obs_id}|{filt}|{int(row['exposure'])}",
            "cause": str(row.get("cause") or ""),
            "obs": obs_id,
            "filter": filt,
            "exposure": int(row["exposure"]),
            "date": str(row.get("date_obs") or "")[:16].replace("T", " "),
            "value": _number(row.get("value")),
            "offset": _offset(row.get("value")),
            "error": _number(row.get("error")),
            "global": _number(row.get("global_value")),
            "status": str(row.get("status") or Status.NODATA.value),
            "reason": reason,
            "chart": " · ".join(str(row.get("flag_reason") or "").split("\n")) if _true(row.get("flag")) else "",
            "n_pairs": int(row.get("n_pairs") or 0),
            "n_matched": int(row.get("n_matched") or 0),
            "review": review_text(row),
            "review_comment": (str(row.get("review_comment") or "")
                               if isinstance(row.get("review_decision"), str) else ""),
            "review_cause": (str(row.get("review_cause") or "")
                             if isinstance(row.get("review_decision"), str) else ""),
            "flag_kind": kind,
            "flag_reason": about,
            "review_id": _review_id(row.get("review_id")),
        })
    return records


def _review_id(value: Any) -> int | None:
    """The latest review's id as shown (what a review of the row is made against)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value)


INTEGER_COLUMNS = ("obs", "exposure", "n_pairs", "n_matched")
"""Columns of whole numbers: filtered as numbers (typing ``4`` finds the 4s)."""
DECIMAL_COLUMNS = ("value", "error", "global", "offset")
"""Columns of decimals: shown with 4 decimals, filtered as numbers."""
LONG_TEXT_COLUMNS = ("reason", "chart", "review", "review_comment", "comment", "flag")
"""Columns of long texts: one line cut with an ellipsis, the whole text in the tooltip."""

GRID_CLASS = "relphot-grid"


def match_count(virtual_rows: list | None, rows: list | None) -> str:
    """How many rows pass the column filters, said when the filters hide some
    (a filter that matches nothing says so instead of an empty table)."""
    if virtual_rows is None:  # the grid has not reported yet: nothing hidden
        return ""
    shown, total = len(virtual_rows or []), len(rows or [])
    return "" if shown == total else f"{shown:,} of {total:,} listed rows match the column filters"


def status_cell_style(field: str = "status") -> dict:
    """A grid ``cellStyle`` colouring a status column (colour and text)."""
    return {"styleConditions": [
        {"condition": f"params.value === '{status}'",
         "style": {"backgroundColor": colour, "color": STATUS_TEXT_COLOURS[status], "fontWeight": "600"}}
        for status, colour in STATUS_COLOURS.items()]}


def grid_column(key: str, name: str, *, link: bool = False) -> dict:
    """The grid column of an exposure-table field: typed filter, number
    format, status colours, links, one-line long texts with a tooltip."""
    column: dict[str, Any] = {"field": key, "headerName": name, "headerTooltip": name}
    # widths: the share of each column when the grid fits its width; below
    # the minimum widths the grid scrolls sideways
    if key in INTEGER_COLUMNS:  # typing 4 finds the 4s (the filter's "equals")
        column.update(filter="agNumberColumnFilter", type="numericColumn", width=84, minWidth=72,
                      suppressFloatingFilterButton=True)
    elif key in DECIMAL_COLUMNS:  # its funnel offers greater than, less than, between
        column.update(filter="agNumberColumnFilter", type="numericColumn", width=112, minWidth=104,
                      valueFormatter={"function": "params.value == null ? '—' : params.value.toFixed(4)"})
    elif key in LONG_TEXT_COLUMNS:
        column.update(tooltipField=key, width=220, minWidth=140, suppressFloatingFilterButton=True)
    elif key == "status":
        # wide enough for NODATA in bold with the cell padding: never cut to "NODA..."
        column.update(width=100, minWidth=100, cellStyle=status_cell_style(key), suppressFloatingFilterButton=True)
    elif key in ("date", "when"):
        column.update(width=150, minWidth=140, suppressFloatingFilterButton=True)
    else:
        column.update(width=100, minWidth=80, suppressFloatingFilterButton=True)
    if key == "obs" and link:
        column["cellRenderer"] = "ObservationLink"
    if key == "review":
        column["cellStyle"] = {"styleConditions": [
            {"condition": f"params.value && params.value.startsWith('{decision}')",
             "style": {"color": colour, "fontWeight": "600"}} for decision, colour in REVIEW_COLOURS.items()]}
    if key in ("cause", "review_cause"):  # the triage queue's shared flag reads e.g. "drift of NIR_H dither 4 ..."
        column.update(tooltipField=key, width=240, minWidth=180)
    return column


def data_grid(id_: Any, rows: list[dict] | None, columns: list[dict], *, selectable: bool | str = False,
              height: str | None = "560px", row_id: str | None = "id", **props: Any) -> dag.AgGrid:
    """A Dash AG Grid with the dashboard's defaults: sortable, typed
    floating filters, one line a row (long texts cut with an ellipsis, the
    whole text in the tooltip), rows drawn as they scroll (thousands of
    rows stay fast), ticks for bulk actions with ``selectable``.

    ``height`` None sizes the grid to its rows (a short table, no scroll);
    ``selectable="single"``: a click on a row selects it (and only it)."""
    options: dict[str, Any] = {
        "rowHeight": 30, "headerHeight": 34, "floatingFiltersHeight": 32,
        "enableBrowserTooltips": True,  # the cell's title attribute: the whole reason
        "animateRows": False, "suppressColumnVirtualisation": True,
    }
    if height is None:
        options["domLayout"] = "autoHeight"
    if selectable == "single":
        options["rowSelection"] = {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True}
    elif selectable:
        options["rowSelection"] = {"mode": "multiRow", "checkboxes": True, "headerCheckbox": True,
                                   "selectAll": "filtered", "enableClickSelection": False}
    return dag.AgGrid(
        id=id_,
        rowData=rows,
        columnDefs=columns,
        defaultColDef={"sortable": True, "resizable": True, "filter": "agTextColumnFilter", "floatingFilter": True,
                       "suppressHeaderMenuButton": True, "suppressHeaderFilterButton": True,
                       "filterParams": {"buttons": ["reset"], "maxNumConditions": 1}},
        dashGridOptions=options,
        getRowId=f"params.data.{row_id}" if row_id else None,
        selectedRows=[],
        columnSize="responsiveSizeToFit",
        className=f"ag-theme-quartz {GRID_CLASS}",
        style={"height": height or "auto", "width": "100%"},
        **props,
    )


def exposure_table(id_: Any, df: pd.DataFrame, *, columns=None, link: bool = True, selectable: bool = False,
                   height: str | None = "560px", bands: Any = None) -> dag.AgGrid:
    """A sortable, filterable grid of exposures with status colours (Dash AG Grid)."""
    columns = columns or EXPOSURE_COLUMNS
    return data_grid(id_, exposure_records(df, link=link, bands=bands),
                     [grid_column(key, name, link=link) for key, name in columns],
                     selectable=selectable, height=height)


def review_form(prefix: Any, *, what: str) -> html.Div:
    """Reviewer name, cause, comment and confirm / overrule buttons.

    ``prefix`` is a function of a component name giving its id (string or
    pattern-matching dict), so one page can hold several forms. The causes
    are `relphot_core.reviews.CAUSES`.
    """
    from .auth import current_identity

    identity = current_identity()
    may = identity.may(Action.REVIEW)
    return html.Div(className="review-form", children=[
        html.Div(className="review-row", children=[
            signer_field(prefix("reviewer"), identity),
            dcc.Dropdown(id=prefix("cause"), options=[{"label": c, "value": c} for c in CAUSES],
                         placeholder="cause (optional)", clearable=True, searchable=False,
                         className="cause-select"),
            dcc.Input(id=prefix("comment"), type="text", placeholder="comment (why?)", maxLength=MAX_COMMENT,
                      className="input-comment"),
            html.Button("Confirm flag", id=prefix("confirm"), n_clicks=0, className="btn btn-confirm",
                        title=f"The flag of {what} is right", disabled=not may),
            html.Button("Overrule flag", id=prefix("overrule"), n_clicks=0, className="btn btn-overrule",
                        title=f"The flag of {what} is wrong: the exposure is fine", disabled=not may),
        ]),
        None if may else html.P(f"{identity.name or 'You'} ({identity.role.value}) may look but not review: "
                                "a reviewer may.", className="muted", id=prefix("may-not")),
        html.Div(id=prefix("result"), className="review-result"),
    ])


def signer_field(component_id: Any, identity: Any) -> Any:
    """Who signs a write: signed in (proxy, accounts), the user's name and
    a hidden input (the callback's State); else a name field, empty on
    every page load (a shared browser must not offer the previous
    person's name), marked unverified."""
    if identity.signs_reviews:
        return html.Span([dcc.Input(id=component_id, type="hidden", value=""), "as ",
                          html.B(identity.name)], className="reviewer-as", title="the signed-in user")
    return dcc.Input(id=component_id, type="text", placeholder="your name", maxLength=MAX_REVIEWER,
                     className="input-reviewer", autoComplete="off")


def refused_message(exc: Exception) -> Any:
    """The message of a write refused: not allowed (`relphot_core.identity.AuthError`),
    or made on a stale page (`relphot_core.reviews.StaleReviewError`:
    with a link reloading the page)."""
    from relphot_core.identity import AuthError
    from relphot_core.reviews import StaleReviewError

    if isinstance(exc, StaleReviewError):
        return message([str(exc), " ", html.A("Reload the page", href="", className="reload-link")], "error")
    if isinstance(exc, AuthError):
        return message(f"Not stored: {exc}.", "error")
    return message(str(exc), "error")


def command_block(command: str, **props: Any) -> html.Pre:
    """A shell command to copy, wrapped between its options only: each
    ``--option value`` is kept on one line (browsers would break after a
    hyphen); the copied text is the command as given."""
    parts = re.split(r" (?=--)", command)
    children: list[str | Component] = []
    for i, part in enumerate(parts):
        children.append(html.Span(part, className="nowrap"))
        if i < len(parts) - 1:
            children.append(" ")
    return html.Pre(children, className="command", **props)


def date_and_obs_controls(pid: Callable[[str], str], sel: Any) -> list[html.Div]:
    """The date-range and obs-id inputs of a selection form (ids ``pid("from")``,
    ``pid("to")``, ``pid("obs")``), filled from the selection ``sel``."""
    def date_input(name: str, value: str | None, placeholder: str) -> dcc.Input:
        return dcc.Input(id=pid(name), type="text", value=value or "", placeholder=placeholder, debounce=True,
                         className="input-date")

    return [
        html.Div([html.Label("Dates (UTC)"), html.Div([
            date_input("from", sel.date_from, "from YYYY-MM-DD"), html.Span("–", className="dash-sep"),
            date_input("to", sel.date_to, "to YYYY-MM-DD")])], className="control"),
        html.Div([html.Label("Observation id"), dcc.Input(
            id=pid("obs"), type="text", value=sel.obs or "", placeholder="123 or 100-200", debounce=True,
            className="input-obs")], className="control"),
    ]


def filter_checklist(id_: str, value) -> dcc.Checklist:
    return dcc.Checklist(id=id_, options=[{"label": f, "value": f} for f in FILTERS], value=list(value),
                         inline=True, className="checklist")


def reviewed_radio(id_: str, value: str) -> dcc.RadioItems:
    """Any / reviewed / not yet reviewed (a selection's ``reviewed``)."""
    return dcc.RadioItems(id=id_, value=value, inline=True, className="radio",
                          options=[{"label": "any", "value": "any"}, {"label": "yes", "value": "yes"},
                                   {"label": "not yet", "value": "no"}])


def status_checklist(id_: str, value) -> dcc.Checklist:
    return dcc.Checklist(
        id=id_, value=list(value), inline=True, className="checklist",
        options=[{"label": html.Span(s.value, className=f"badge status-{s}"), "value": s.value} for s in STATUS_ORDER])



def sync_address_bar(app: Any, path: str, search_id: str, dummy_id: str) -> None:
    """Keep the address bar's query string equal to the ``dcc.Store``
    ``search_id`` (a ``?...`` string) while the page at ``path`` is shown,
    without reloading it (a client-side callback writing to ``dummy_id``)."""
    from dash import Input, Output

    app.clientside_callback(
        f"""
        function(search) {{
            if (typeof search !== 'string') {{ return window.dash_clientside.no_update; }}
            if (window.location.pathname === '{path}' && window.location.search !== search) {{
                window.history.replaceState(null, '', '{path}' + search);
            }}
            return '';
        }}
        """,
        Output(dummy_id, "children"),
        Input(search_id, "data"),
    )
