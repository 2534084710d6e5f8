"""Observation list: ``/observations?filter=NIR_J&worst=FAIL&cell=16:1234``.

One row per (observation, filter) of the current runs: date, dithers, worst
status, largest ``|QPRELEX - 1|``, the flags beyond the status (detectors,
cross-check, control chart), the problems its exposures belong to, the
review state, the run and the pointing; every column sorts and filters, the
obs id opens the observation. The URL narrows the list to a filter, a worst
status or a HEALPix cell of the sky map (``cell=NSIDE:INDEX``, nested).

A survey's 120,000 rows stay on the server: the grid's infinite row model
asks for the block it shows, filtered and sorted there
(`dashboard.grid_query`); the rows are `dashboard.survey_data.observation_list`.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode

import dash
import dash_ag_grid as dag
import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from relphot_core.config import FILTERS
from relphot_core.survey import STATUSES, healpix_index

from ..components import data_grid, empty_store_page, grid_column, message, status_cell_style
from ..data import get_cache
from ..grid_query import filter_rows, sort_rows
from ..query import unknown_parameters
from ..survey_data import memo, observation_list

PAGE = dict(path="/observations", name="Observations", title="relphot QC — observations", order=7)
BLOCK = 200
"""Rows the grid asks for at a time."""

COLUMNS = [("obs", "obs id"), ("filter", "filter"), ("date", "date (UTC)"), ("dithers", "dithers"),
           ("worst", "worst status"), ("offset", "largest |QPRELEX − 1|"), ("flags", "other flags"),
           ("problems", "problems"), ("reviewed", "reviewed"), ("run", "run"), ("ra", "RA (deg)"), ("dec", "Dec (deg)")]
DEFAULT_SORT: list[str] = []
"""No sort asked: the list's own order (obs id, then the filters in `FILTERS` order)."""
MAX_NSIDE = 1 << 12


def pid(name: str) -> str:
    """Page-local component id."""
    return f"obslist-{name}"


def parse_narrowing(filter_name: object, worst: object, cell: object) -> tuple[dict, list[str]]:
    """The URL's narrowing (``filter``, ``worst``, ``cell`` as (nside, index)) and messages for what is ignored."""
    narrowing: dict = {}
    problems = []
    if filter_name not in (None, ""):
        if filter_name in FILTERS:
            narrowing["filter"] = str(filter_name)
        else:
            problems.append(f"Unknown filter '{str(filter_name)[:40]}' (choose among {', '.join(FILTERS)}); ignored.")
    if worst not in (None, ""):
        if str(worst).upper() in STATUSES:
            narrowing["worst"] = str(worst).upper()
        else:
            problems.append(f"'worst' must be one of {', '.join(STATUSES)}, not '{str(worst)[:40]}'; ignored.")
    if cell not in (None, ""):
        nside, _, index = str(cell).partition(":")
        ok = nside.isdigit() and index.isdigit() and 0 < int(nside) <= MAX_NSIDE and int(nside) & (int(nside) - 1) == 0
        if ok and int(index) < 12 * int(nside) ** 2:
            narrowing["cell"] = (int(nside), int(index))
        else:
            problems.append(f"'cell' must be NSIDE:INDEX (a nested HEALPix cell), not '{str(cell)[:40]}'; ignored.")
    return narrowing, problems


def narrowed(rows: pd.DataFrame, narrowing: dict) -> pd.DataFrame:
    """The list rows the URL's narrowing keeps."""
    keep = np.ones(len(rows), dtype=bool)
    if "filter" in narrowing:
        keep &= (rows["filter"] == narrowing["filter"]).to_numpy()
    if "worst" in narrowing:
        keep &= (rows["worst"] == narrowing["worst"]).to_numpy()
    if "cell" in narrowing:
        nside, index = narrowing["cell"]
        keep &= healpix_index(rows["ra"].to_numpy(dtype=float), rows["dec"].to_numpy(dtype=float), nside) == index
    return rows[keep]


def narrowing_text(narrowing: dict) -> str:
    """The narrowing in words."""
    parts = []
    if "filter" in narrowing:
        parts.append(narrowing["filter"])
    if "worst" in narrowing:
        parts.append(f"worst status {narrowing['worst']}")
    if "cell" in narrowing:
        nside, index = narrowing["cell"]
        parts.append(f"HEALPix cell {index} (nside {nside}, nested) of the sky map")
    return ", ".join(parts)


def query_rows(narrowing: dict, request: dict | None) -> tuple[list[dict], int, int]:
    """A block of rows for a grid request: the rows, how many pass the
    grid's filters and how many the narrowing holds. The filtered and
    sorted table is remembered, so scrolling is a slice."""
    request = request or {}
    rows = observation_list()
    version = rows.attrs.get("key")
    key = ("observation-rows", version, json.dumps(narrowing, sort_keys=True, default=list),
           json.dumps(request.get("filterModel") or {}, sort_keys=True), json.dumps(request.get("sortModel") or []))
    base = memo()(("observation-narrowed", version, key[2]), lambda: narrowed(rows, narrowing))
    chosen = memo()(key, lambda: sort_rows(filter_rows(base, request.get("filterModel")), request.get("sortModel"),
                                            DEFAULT_SORT))
    try:
        start = max(0, int(request.get("startRow") or 0))
        end = max(start, int(request.get("endRow") or start + BLOCK))
    except (TypeError, ValueError):
        start, end = 0, BLOCK
    block = chosen.iloc[start:min(end, start + 5 * BLOCK)]
    records = block.astype(object).where(block.notna(), None).to_dict("records")
    return records, len(chosen), len(base)


def _columns() -> list[dict]:
    columns = []
    for key, name in COLUMNS:
        column = grid_column(key, name, link=True)
        if key in ("dithers", "run"):
            column.update(filter="agNumberColumnFilter", type="numericColumn", width=90, minWidth=80)
        elif key in ("offset", "ra", "dec"):
            digits = 4 if key == "offset" else 2
            column.update(filter="agNumberColumnFilter", type="numericColumn", width=150 if key == "offset" else 110,
                          minWidth=100,
                          valueFormatter={"function": f"params.value == null ? '—' : params.value.toFixed({digits})"})
        elif key == "worst":
            column.update(width=110, minWidth=100, cellStyle=status_cell_style(key))
        elif key in ("flags", "problems"):
            column.update(tooltipField=key, width=220, minWidth=150)
        elif key == "reviewed":
            column.update(tooltipField=key, width=140, minWidth=120)
        elif key == "date":
            column.update(width=120, minWidth=110)
        column["filterParams"] = {"buttons": ["reset"], "maxNumConditions": 1, "debounceMs": 400}
        columns.append(column)
    return columns


def grid() -> dag.AgGrid:
    """The list's grid (infinite row model: rows come from `query_rows`)."""
    table = data_grid(pid("grid"), None, _columns(), height="min(640px, 70vh)", row_id=None,
                      rowModelType="infinite")
    table.dashGridOptions.update({"cacheBlockSize": BLOCK, "maxBlocksInCache": 20, "infiniteInitialRowCount": BLOCK,
                                  "rowBuffer": 20})
    return table


def layout(filter=None, worst=None, cell=None, **_params) -> html.Div:  # URL parameter name
    """The list of (observation, filter) rows, narrowed by the URL."""
    if get_cache().is_empty():
        return empty_store_page()
    narrowing, problems = parse_narrowing(filter, worst, cell)
    problems = unknown_parameters(_params, ("filter", "worst", "cell")) + problems
    where = narrowing_text(narrowing)
    return html.Div([
        html.Div([dcc.Link("Overview", href="/"), " / observations"], className="breadcrumb"),
        html.H1("Observations"),
        html.P(["One row per observation and filter (current runs). Sort or filter any column (e.g. ",
                html.Code("3"), " in dithers for the 3-dither sets, ", html.Code("FAIL"), " in worst status); the obs "
                "id opens the observation. The flags are those beyond the status: flagged detectors, "
                "disagreements with the global solution, control-chart alarms; problems are the problems (",
                dcc.Link("the queue", href="/triage"), ") its exposures belong to, neither resolved nor ignored; "
                "reviewed says whether the flagged exposures are reviewed at their current status."],
               className="lead"),
        html.Div([message(p, "warning") for p in problems], id=pid("url-messages")),
        html.Div(([message(["Narrowed to ", where, ". ", dcc.Link("Show every observation", href="/observations")],
                           "info")] if where else []), id=pid("narrowing")),
        html.P(id=pid("count"), className="muted"),
        html.Div(grid(), className="card"),
        dcc.Store(id=pid("narrowing-data"), data={k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in narrowing.items()}),
    ])


def serve_rows(request, narrowing_data):
    """Answer the grid's request for a block of rows."""
    if not request:
        return no_update, no_update
    narrowing = {k: tuple(v) if k == "cell" else v for k, v in (narrowing_data or {}).items()}
    records, matching, total = query_rows(narrowing, request)
    count = (f"{total:,} (observation, filter) rows" if matching == total else
             f"{matching:,} of {total:,} (observation, filter) rows match the column filters")
    return {"rowData": records, "rowCount": matching}, count


def list_href(**narrowing: object) -> str:
    """The address of the list narrowed to e.g. ``cell="16:1234"``, ``filter="NIR_J"``."""
    params = {k: v for k, v in narrowing.items() if v not in (None, "")}
    return "/observations" + ("?" + urlencode(params) if params else "")


def register_callbacks(app: dash.Dash) -> None:
    """Attach the observation list's callback to an app."""
    app.callback(
        Output(pid("grid"), "getRowsResponse"),
        Output(pid("count"), "children"),
        Input(pid("grid"), "getRowsRequest"),
        State(pid("narrowing-data"), "data"),
        prevent_initial_call=True,
    )(serve_rows)
