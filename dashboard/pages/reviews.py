"""Reviews: every decision stored, newest first, with who, when and why."""
from __future__ import annotations

import dash
from dash import dash_table, html

from ..components import empty_store_page, fmt_time
from ..data import get_cache, get_store

PAGE = dict(path="/reviews", name="Reviews", title="relphot QC — reviews", order=3)
LIMIT = 2000


def layout(**_params) -> html.Div:
    """The review history (latest first)."""
    if get_cache().is_empty():
        return empty_store_page()
    reviews = get_store().reviews()
    n = len(reviews)
    reviews = reviews.iloc[::-1].head(LIMIT)
    records = [{
        "when": fmt_time(row["created"]),
        "obs_id": f"[{int(row['obs_id'])}](/observation/{int(row['obs_id'])}?filter={row['filter']})",
        "filter": row["filter"], "exposure": int(row["exposure"]),
        "status": str(row.get("status") or ""), "decision": row["decision"],
        "reviewer": str(row["reviewer"] or ""), "comment": str(row["comment"] or ""),
    } for row in reviews.to_dict("records")]
    columns = [("when", "when"), ("obs_id", "obs id"), ("filter", "filter"), ("exposure", "dither"),
               ("status", "status reviewed"), ("decision", "decision"), ("reviewer", "reviewer"),
               ("comment", "comment")]
    from ..style import table_status_styles

    return html.Div([
        html.H1("Reviews"),
        html.P(f"{n:,} review decision{'s' if n != 1 else ''} stored" +
               (f", the latest {LIMIT:,} shown" if n > LIMIT else "") +
               ". Review exposures from the triage queue or an observation page.", className="lead"),
        dash_table.DataTable(
            id="reviews-table", data=records,
            columns=[{"id": k, "name": v, **({"presentation": "markdown"} if k == "obs_id" else {})}
                     for k, v in columns],
            markdown_options={"html": False, "link_target": "_self"},
            sort_action="native", filter_action="native", page_size=25,
            style_cell={"fontFamily": "inherit", "fontSize": "13px", "padding": "4px 8px", "textAlign": "left",
                        "whiteSpace": "normal", "height": "auto"},
            style_header={"fontWeight": "600", "backgroundColor": "#f0f4f8"},
            style_data_conditional=table_status_styles("status"),
        ) if records else html.P("No review yet.", className="muted", id="reviews-empty"),
    ])


def register_callbacks(app: dash.Dash) -> None:
    """No callbacks: the table sorts and filters in the browser."""
