"""Layout pieces shared by the pages: messages, the empty-store page, status
badges, the counts table, exposure tables and the review form.

Every user string goes into Dash components as plain text (escaped by
React); nothing here renders raw HTML.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from dash import dash_table, dcc, html

from relphot_core.config import FILTERS
from relphot_core.flags import flag_reason
from relphot_core.status import STATUS_ORDER, Status

from .query import mjd_to_iso
from .style import STATUS_COLOURS, table_status_styles

MAX_REVIEWER = 80
MAX_COMMENT = 2000


def message(text: str, kind: str = "info", **kw: Any) -> html.Div:
    """A message box: kind is info, warning, error or success."""
    return html.Div(text, className=f"msg msg-{kind}", **kw)


def messages(texts, kind: str = "warning", id_: str | None = None) -> html.Div:
    """Several messages (e.g. ignored URL parameters), or nothing."""
    kw = {"id": id_} if id_ else {}
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


def counts_table(frames: dict[str, pd.DataFrame | StatusCounts | None],
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
            count = html.Span(f"{n_exp:,}", className="count-main")
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


def fmt_float(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "—"
    return "—" if not math.isfinite(number) else f"{number:.{digits}f}"


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
    ("obs_id", "obs id"), ("filter", "filter"), ("exposure", "dither"), ("date", "date (UTC)"),
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


def exposure_records(df: pd.DataFrame, *, link: bool = True, bands: Any = None) -> list[dict]:
    """DataTable records of exposure rows (values formatted, review as text;
    with ``bands``, the thresholds, a WARN or FAIL row says why in its
    reason)."""
    records = []
    if "date_obs" not in df.columns and "mjd_obs" in df.columns:  # the cached tables keep the MJD only
        df = df.assign(date_obs=mjd_to_iso(df["mjd_obs"].to_numpy(dtype=float)))
    for row in df.to_dict("records"):
        obs_id, filt = int(row["obs_id"]), str(row["filter"])
        records.append({
            "id": f"{obs_id}|{filt}|{int(row['exposure'])}",
            "cause": str(row.get("cause") or ""),
            "obs_id": f"[{obs_id}](/observation/{obs_id}?filter={filt})" if link else obs_id,
            "obs": obs_id,
            "filter": filt,
            "exposure": int(row["exposure"]),
            "date": str(row.get("date_obs") or "")[:19].replace("T", " "),
            "value": fmt_float(row.get("value")),
            "offset": _offset(row.get("value")),
            "error": fmt_float(row.get("error")),
            "global": fmt_float(row.get("global_value")),
            "status": str(row.get("status") or Status.NODATA.value),
            "reason": str(row.get("reason") or "") or flag_reason(row.get("status"), row.get("value"),
                                                                  row.get("error"), bands),
            "chart": str(row.get("flag_reason") or "") if _true(row.get("flag")) else "",
            "n_pairs": int(row.get("n_pairs") or 0),
            "n_matched": int(row.get("n_matched") or 0),
            "review": review_text(row),
            "review_comment": (str(row.get("review_comment") or "")
                               if isinstance(row.get("review_decision"), str) else ""),
        })
    return records


INTEGER_COLUMNS = ("exposure", "n_pairs", "n_matched")
"""Columns of whole numbers: filtered as numbers (``4``, ``>2``)."""


def match_count(virtual_rows: list | None, rows: list | None) -> str:
    """How many rows pass the column filters, said when the filters hide some
    (a filter that matches nothing says so instead of an empty table)."""
    shown, total = len(virtual_rows or []), len(rows or [])
    return "" if shown == total else f"{shown:,} of {total:,} listed rows match the column filters"


def exposure_table(id_: Any, df: pd.DataFrame, *, columns=None, link: bool = True, selectable: bool = False,
                   page_size: int = 25, native: bool = True, bands: Any = None) -> dash_table.DataTable:
    """A sortable, filterable table of exposures with status colours."""
    columns = columns or EXPOSURE_COLUMNS
    return dash_table.DataTable(
        id=id_,
        data=exposure_records(df, link=link, bands=bands),
        columns=[{"id": key, "name": name, **({"presentation": "markdown"} if key == "obs_id" and link else {}),
                  **({"type": "numeric", "format": {"specifier": ".4f"}} if key == "offset" else {}),
                  # typing 4 in a whole-number column finds the 4s (a column of no type found nothing)
                  **({"type": "numeric"} if key in INTEGER_COLUMNS or (key == "obs_id" and not link) else {})}
                 for key, name in columns],
        filter_options={"case": "insensitive", "placeholder_text": "filter…"},
        markdown_options={"html": False, "link_target": "_self"},
        row_selectable="multi" if selectable else False,
        selected_rows=[],
        sort_action="native" if native else "none",
        filter_action="native" if native else "none",
        page_action="native", page_size=page_size,
        style_table={"overflowX": "auto"},
        style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px", "textAlign": "left",
                    "maxWidth": "320px", "overflow": "hidden", "textOverflow": "ellipsis"},
        style_header={"fontWeight": "600", "backgroundColor": "#f0f4f8"},
        # reviews and comments wrap rather than run off the card
        style_cell_conditional=[{"if": {"column_id": key}, "whiteSpace": "normal", "height": "auto",
                                 "minWidth": "160px", "maxWidth": "320px"}
                                for key in ("review", "review_comment", "reason")],
        style_data_conditional=table_status_styles("status") + [
            {"if": {"filter_query": '{review} contains "confirmed"', "column_id": "review"},
             "color": "#0072B2", "fontWeight": "600"},
            {"if": {"filter_query": '{review} contains "overruled"', "column_id": "review"},
             "color": "#6a3d9a", "fontWeight": "600"},
        ],
        tooltip_delay=300,
    )


def review_form(prefix: Any, *, what: str) -> html.Div:
    """Reviewer name, comment and confirm / overrule buttons.

    ``prefix`` is a function of a component name giving its id (string or
    pattern-matching dict), so one page can hold several forms.
    """
    return html.Div(className="review-form", children=[
        html.Div(className="review-row", children=[
            dcc.Input(id=prefix("reviewer"), type="text", placeholder="your name", maxLength=MAX_REVIEWER,
                      className="input-reviewer", persistence=True, persistence_type="local"),
            dcc.Input(id=prefix("comment"), type="text", placeholder="comment (why?)", maxLength=MAX_COMMENT,
                      className="input-comment"),
            html.Button("Confirm flag", id=prefix("confirm"), n_clicks=0, className="btn btn-confirm",
                        title=f"The flag of {what} is right"),
            html.Button("Overrule flag", id=prefix("overrule"), n_clicks=0, className="btn btn-overrule",
                        title=f"The flag of {what} is wrong: the exposure is fine"),
        ]),
        html.Div(id=prefix("result"), className="review-result"),
    ])


def command_block(command: str, **props: Any) -> html.Pre:
    """A shell command to copy, wrapped between its options only: each
    ``--option value`` is kept on one line (browsers would break after a
    hyphen); the copied text is the command as given."""
    parts = re.split(r" (?=--)", command)
    children = []
    for i, part in enumerate(parts):
        children.append(html.Span(part, className="nowrap"))
        if i < len(parts) - 1:
            children.append(" ")
    return html.Pre(children, className="command", **props)


def check_review(reviewer: Any, comment: Any, decision: str = "confirmed") -> tuple[str, str, str | None]:
    """Clean reviewer and comment; the third item is an error message or None.

    Every decision needs its author; overruling a flag also needs a comment
    (why the flag is wrong), which a later reader has no other way to know.
    """
    reviewer = " ".join(str(reviewer or "").split())[:MAX_REVIEWER]
    comment = str(comment or "").strip()[:MAX_COMMENT]
    if not reviewer:
        return reviewer, comment, "Enter your name before reviewing: every decision is stored with its author."
    if decision == "overruled" and not comment:
        return reviewer, comment, "Say in the comment why the flag is wrong: overruling a flag needs a reason."
    return reviewer, comment, None


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

