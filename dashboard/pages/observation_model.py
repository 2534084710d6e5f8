"""What the observation page decides, as pure functions (no Dash): where
"next flagged" and "next in the queue" lead, where the breadcrumb goes
back to, and the summary and order of the filters in the "all filters" view.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote

import pandas as pd

from relphot_core.config import FILTERS
from relphot_core.results import ObservationResult
from relphot_core.status import Status
from relphot_core.qc.flags import awaits_review
from relphot_core.reviews import TRIAGE_STATUS_ORDER, triage_order

STATUS_RANK: dict[str, int] = {status: rank for rank, status in enumerate((*TRIAGE_STATUS_ORDER, Status.OK))}
"""Worst first, as the triage queue orders statuses: the order of the "all filters" view."""


def queue_order(tables: Mapping[str, pd.DataFrame | None]) -> list[tuple[int, str]]:
    """The (obs id, filter) of the triage queue (flagged exposures awaiting
    review, `awaits_review`), in the queue's order: worst status first, then
    farthest from 1, then obs id and filter. An observation takes the
    place of its worst queued exposure."""
    parts = []
    for name, table in tables.items():
        if table is None or table.empty or "reviewed" not in table.columns:
            continue
        rows = table[awaits_review(table)]
        if not rows.empty:
            parts.append(rows[["obs_id", "exposure", "status", "value"]].assign(filter=name))
    if not parts:
        return []
    queue = pd.concat(parts, ignore_index=True)
    queue = queue.iloc[triage_order(queue)].drop_duplicates(["obs_id", "filter"])
    return list(zip(queue["obs_id"].tolist(), queue["filter"].tolist()))


def next_in_queue(queue: Sequence[tuple[int, str]], obs_id: int, filter_name: str | None) -> tuple[int, str] | None:
    """The observation after (``obs_id``, ``filter_name``) in the queue, or
    the queue's head when it is not queued (e.g. just reviewed) or is the
    last one (the queue goes round); None when nothing else waits.
    ``filter_name`` None: any filter of the observation."""
    here = [i for i, (obs, name) in enumerate(queue) if obs == obs_id and filter_name in (None, name)]
    start = here[-1] + 1 if here else 0
    for obs, name in [*queue[start:], *queue[:start]]:
        if obs != obs_id or (filter_name is not None and name != filter_name):
            return obs, name
    return None


BACK_PAGES = {"/": "Overview", "/triage": "Problem queue", "/detectors": "Detectors", "/reviews": "Reviews",
              "/compare": "Compare runs", "/observations": "Observations", "/sky": "Sky map"}
"""The pages the breadcrumb of an observation can lead back to."""


def back_link(back: object) -> tuple[str, str]:
    """The breadcrumb's (label, address) for the URL parameter ``back``
    (the page the observation was opened from, with its query string);
    the overview when absent or not one of `BACK_PAGES` (no other site).

    Examples
    --------
    >>> back_link("/triage?cause=drift")
    ('Problem queue', '/triage?view=open')
    >>> back_link("https://example.org/")
    ('Overview', '/')
    """
    text = unquote(str(back or ""))[:600]
    path = text.split("?", 1)[0]
    if path in BACK_PAGES and not text.startswith("//"):
        return BACK_PAGES[path], text
    return "Overview", "/"


def with_back(href: str, back: str | None) -> str:
    """``href`` carrying ``back`` (an address of `BACK_PAGES`) as a URL parameter."""
    if not back or back == "/":
        return href
    return href + ("&" if "?" in href else "?") + "back=" + quote(back, safe="/,=")


@dataclass(frozen=True)
class FilterSummary:
    """One line of the "all filters" view's summary."""

    filter: str
    counts: dict[str, int]
    """Exposures per status."""
    worst: str
    """The worst status."""
    worst_dither: int | None
    """The exposure to look at: worst status, then farthest from 1."""
    worst_value: float | None


def filter_summary(result: ObservationResult) -> FilterSummary:
    """Status counts and worst exposure of one filter of an observation."""
    counts: dict[str, int] = {}
    for exposure in result.exposures:
        counts[exposure.status] = counts.get(exposure.status, 0) + 1

    def badness(e) -> tuple[int, float]:
        offset = abs(e.value - 1.0) if e.value is not None else 0.0
        return (STATUS_RANK.get(e.status, len(STATUS_RANK)), -offset)

    worst = min(result.exposures, key=badness, default=None)
    return FilterSummary(result.filter, counts, worst.status if worst else Status.NODATA.value,
                         worst.exposure if worst else None, worst.value if worst else None)


def worst_first(results: Sequence[ObservationResult]) -> list[ObservationResult]:
    """The filters of an observation, the one with the worst exposure first
    (then the most flagged exposures, then the usual filter order)."""
    def key(result: ObservationResult) -> tuple[int, int, int]:
        summary = filter_summary(result)
        flagged = sum(n for status, n in summary.counts.items() if status != Status.OK)
        band = FILTERS.index(result.filter) if result.filter in FILTERS else len(FILTERS)
        return (STATUS_RANK.get(summary.worst, len(STATUS_RANK)), -flagged, band)

    return sorted(results, key=key)
