"""The overview's view model: from the controls' values and the per-filter
tables to everything the page shows (messages, counts, the trend figure,
its tabs, the URL), as plain data. No Dash here: the page's callback only
wires this to its components, and tests call it directly.

What the browser already shows is not rebuilt: ``drawn`` holds the
signature (selection, axis, data version) of the figure and counts on the
page, and an unchanged part comes back as None.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from relphot_core.config import FILTERS
from relphot_core.status import STATUS_ORDER
from relphot_core.qc.flags import awaits_review, exposure_flags

from ..components import StatusCounts, count_statuses, flag_counts, status_counts
from ..data import table_version
from ..figures.trends import trend_figure_dict
from ..query import Selection, apply_selection, parse_selection, selected_rows, with_updates

Memo = Callable[[Hashable, Callable[[], Any]], Any]


def _no_memo(key: Hashable, build: Callable[[], Any]) -> Any:
    return build()


@dataclass(frozen=True)
class Controls:
    """The overview's control values, as its callback receives them."""

    filters: list[str] | None = None
    statuses: list[str] | None = None
    reviewed: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    obs: str | None = None
    x: str | None = None
    trend: str | None = None
    by: str | None = None
    yrange: str | None = None

    @classmethod
    def of(cls, sel: Selection, trend: str | None = None) -> Controls:
        """The controls showing a parsed selection (``trend``: its tab)."""
        return cls(list(sel.filters), list(sel.statuses), sel.reviewed, sel.date_from, sel.date_to, sel.obs, sel.x,
                   trend if trend is not None else sel.trend_filter, sel.by, sel.yrange)


@dataclass
class CountsView:
    """The counts card: exposures and observations per filter and status."""

    counts: dict[str, StatusCounts]
    flags: dict[str, tuple[int, int]]
    shown: tuple[str, ...]
    """The statuses selected (the others are greyed)."""
    total: int
    """Exposures of the selected statuses, over the selected filters."""
    hidden: list[str]
    """The statuses not selected."""
    links: dict[tuple[str, str], str] = field(default_factory=dict)
    """(filter, status) -> the overview's address of just those exposures."""


@dataclass
class OverviewView:
    """Everything the overview shows for one state of its controls."""

    selection: Selection
    problems: list[str]
    trend_filter: str
    """The filter of the trend tab shown."""
    trend_options: list[dict]
    """The tabs: one per selected filter, disabled when it has no data."""
    figure: dict | None
    """The trend figure (plain dict), None when the browser shows it already."""
    counts: CountsView | None
    """None when the browser shows the same counts already."""
    search: str
    """The URL query string of the view."""
    drawn: dict
    """Signatures of what the browser will show, for the next call."""


def trend_options(filters: tuple[str, ...] | list[str], tables: Mapping[str, pd.DataFrame | None]) -> list[dict]:
    """One tab per selected filter; a filter without data says so and cannot be chosen."""
    options = []
    for name in filters:
        table = tables.get(name)
        empty = table is None or len(table) == 0
        options.append({"label": f"{name} (no data)" if empty else name, "value": name, "disabled": empty})
    return options


def default_trend(filters: tuple[str, ...] | list[str], tables: Mapping[str, pd.DataFrame | None],
                  memo: Memo = _no_memo) -> str:
    """The tab the overview opens on when the URL names none: the selected
    filter with the most exposures awaiting review, else the first with
    data (never an empty one while another has data)."""
    def waiting(name: str) -> tuple[int, int]:
        table = tables.get(name)
        if table is None or len(table) == 0:
            return (0, 0)
        count = memo(("awaiting", name, table_version(table)),
                     lambda: int(awaits_review(table).sum()) if "reviewed" in table.columns else 0)
        return (int(count), 1)

    scores = {name: waiting(name) for name in filters}
    return max(filters, key=lambda name: (scores[name][0], scores[name][1], -list(filters).index(name)))


def _counted(table: pd.DataFrame | None, sel: Selection, selected: pd.DataFrame | None) -> StatusCounts:
    """Every status's counts of one filter: from the frame selected already,
    else from the status codes and obs ids of the selected rows, taken
    without copying the table (copying the rows was most of the cost)."""
    if selected is not None:
        return status_counts(selected) if len(selected) else ({}, {}, 0)
    if table is None or table.empty:
        return ({}, {}, 0)
    start, stop, rows = selected_rows(table, sel, statuses=False)
    status = table["status"].iloc[start:stop]
    if isinstance(status.dtype, pd.CategoricalDtype):
        codes, names = status.cat.codes.to_numpy(), [str(n) for n in status.cat.categories]
    else:  # an uncached table (cache_ttl=0)
        codes, names = pd.factorize(status.to_numpy())
        names = [str(n) for n in names]
    obs = table["obs_id"].to_numpy()[start:stop]
    if rows is not None:
        codes, obs = codes[rows], obs[rows]
    return count_statuses(codes, names, obs)


def _flagged(table: pd.DataFrame | None, sel: Selection) -> tuple[int, int]:
    if table is None or table.empty:
        return (0, 0)
    if "flag" not in table.columns:  # an uncached table (cache_ttl=0)
        table = exposure_flags(table)
    start, stop, rows = selected_rows(table, sel, statuses=False)
    flag, obs = table["flag"].to_numpy()[start:stop], table["obs_id"].to_numpy()[start:stop]
    if rows is not None:
        flag, obs = flag[rows], obs[rows]
    return flag_counts(flag, obs)


def overview_view(controls: Controls, tables: Mapping[str, pd.DataFrame | None], *, warn: float, fail: float,
                  max_points: int | None, drawn: dict | None = None, memo: Memo = _no_memo) -> OverviewView:
    """The overview for the controls' values.

    Parameters
    ----------
    controls : Controls
        The values of the page's controls (an unticked trend tab falls back
        to the first selected filter; no filter or no status: all).
    tables : mapping of str to pandas.DataFrame
        Each filter's trend table (`dashboard.data.DataCache.trend`); only
        the selected filters are read.
    warn, fail : float
        The status thresholds (bands of the trend).
    max_points : int or None
        OK exposures drawn one by one before they are binned (None: all).
    drawn : dict, optional
        What the browser shows (``OverviewView.drawn`` of the last call):
        parts with the same signature come back as None.
    memo : callable, optional
        ``memo(key, build)``: a shared memory of built figures and counts
        (default: build every time).

    Returns
    -------
    OverviewView
    """
    filters = [f for f in FILTERS if f in (controls.filters or [])]
    trend = controls.trend
    sel = parse_selection({"filter": ",".join(filters) or None, "status": ",".join(controls.statuses or []) or None,
                           "reviewed": controls.reviewed, "from": controls.date_from, "to": controls.date_to,
                           "obs": controls.obs, "x": controls.x, "by": controls.by, "yrange": controls.yrange,
                           # a tab whose filter was just unticked falls back to the first one
                           "trend": trend if trend in (filters or FILTERS) else None})
    problems = list(sel.messages)
    if not filters:
        problems.append("No filter selected: showing all filters.")
    if not controls.statuses:
        problems.append("No status selected: showing all statuses.")
    tables = {name: tables.get(name) for name in sel.filters}
    versions = {name: table_version(tables[name]) for name in sel.filters}  # read with the table
    masked: dict[tuple[str, bool], pd.DataFrame] = {}

    def selected(name: str, statuses: bool = True) -> pd.DataFrame:
        # Applied only when something below is not remembered already, and
        # once per filter (a few ms each at survey size). Not recursive: a
        # closure that calls itself is a reference cycle holding the tables
        # until a full collection (see `dashboard.data.DataCache.warm`).
        if (name, False) not in masked:
            masked[name, False] = apply_selection(tables[name], sel, statuses=False)
        if statuses and (name, True) not in masked:
            masked[name, True] = apply_selection(masked[name, False], sel, statuses=True)
        return masked[name, statuses]

    def chart_rows(name: str) -> pd.DataFrame | None:
        # the control chart of the whole series over the selected dates and
        # obs ids, whatever the statuses and review state selected
        if sel.statuses == STATUS_ORDER and sel.reviewed == "any":
            return None
        return apply_selection(tables[name], with_updates(sel, reviewed="any"), statuses=False)

    drawn = dict(drawn or {})
    name = sel.trend_filter
    xcol = "mjd_obs" if sel.x == "time" else "obs_id"
    common = parse_selection({**sel.to_params(), "filter": None, "trend": None}).to_search()
    signature = f"{name}|{common}|{xcol}|{sel.by}|{sel.yrange}|{max_points}|{versions[name]}"
    figure = None
    if drawn.get("trend") != signature:
        figure = memo(("trend", name, signature, warn, fail), lambda: trend_figure_dict(
            selected(name), warn=warn, fail=fail, x=xcol, filter_name=name,
            max_points=max_points if max_points is not None else len(selected(name)) + 1, chart=chart_rows(name),
            by=sel.by, fit_all=sel.yrange == "all"))
        drawn["trend"] = signature

    def summary() -> CountsView:
        counts = {f: _counted(tables[f], sel, masked.get((f, False))) for f in sel.filters}
        flags = {f: _flagged(tables[f], sel) for f in sel.filters}
        total = sum(n for by_status, _, _ in counts.values() for status, n in by_status.items()
                    if status in sel.statuses)
        links: dict[tuple[str, str], str] = {
            (f, status): "/" + with_updates(sel, statuses=(status,), trend=f).to_search()
            for f in sel.filters for status in STATUS_ORDER}
        return CountsView(counts=counts, flags=flags, shown=tuple(sel.statuses), total=total,
                          hidden=[s.value for s in STATUS_ORDER if s not in sel.statuses], links=links)

    no_axis = parse_selection({**sel.to_params(), "x": None, "trend": None, "by": None, "yrange": None}).to_search()
    summary_signature = f"{no_axis}|{sorted(versions.items())}"
    counts = None
    if drawn.get("summary") != summary_signature:
        counts = memo(("counts", summary_signature), summary)
        drawn["summary"] = summary_signature
    return OverviewView(selection=sel, problems=problems, trend_filter=name,
                        trend_options=trend_options(sel.filters, tables), figure=figure, counts=counts,
                        search=sel.to_search(), drawn=drawn)
