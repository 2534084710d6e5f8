"""The selection a user makes on a page, and its round trip through the URL
query string.

The criteria (filters, statuses, review state, dates, obs ids) and their
rules are `relphot_core.selection.ExposureSelection`, the one model the
pages, the JSON API, the downloads and ``relphot export`` share; a page's
`Selection` adds only how it is shown (x axis, trend tab, running median,
y range). Everything here is pure: parsing never raises, it returns the
selection it could understand plus one readable message per parameter it
could not.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from relphot_core.mjd import MJD_EPOCH_DATE, mjd_to_day
from relphot_core.selection import (ALL_STATUSES, PARAMETERS, ExposureSelection, day_to_mjd, exposure_rows,
                                    read_criteria, read_obs_range, select_exposures)

X_CHOICES = ("time", "obsid")
BY_CHOICES = ("status", "dither")
YRANGE_CHOICES = ("robust", "all")

__all__ = ["Selection", "parse_selection", "selected_rows", "apply_selection", "with_updates", "date_to_mjd",
           "mjd_to_date", "mjd_to_iso", "X_CHOICES", "BY_CHOICES", "YRANGE_CHOICES"]


@dataclass(frozen=True)
class Selection(ExposureSelection):
    """A page's selection: the criteria (`ExposureSelection`: filters,
    statuses, reviewed, date_from, date_to, obs_range / obs) and how they
    are shown. The defaults select everything."""

    x: str = "time"
    """The trend's x axis: ``time`` or ``obsid``."""
    trend: str | None = None
    """The filter whose trend the overview draws (None: the first selected)."""
    by: str = "status"
    """How the trend tells exposures apart: by ``status`` (one pooled running median) or by ``dither``."""
    yrange: str = "robust"
    """The trend's y range: ``robust`` (extreme factors pinned at the edge) or ``all`` (fit every factor)."""

    @property
    def trend_filter(self) -> str:
        """The filter whose trend the overview draws (the first selected one
        unless ``trend`` names another)."""
        return self.trend if self.trend in self.filters else self.filters[0]

    def to_params(self) -> dict[str, str]:
        """The non-default parts as URL parameters."""
        params = super().to_params()
        if self.x != "time":
            params["x"] = self.x
        if self.trend_filter != self.filters[0]:
            params["trend"] = self.trend_filter
        if self.by != "status":
            params["by"] = self.by
        if self.yrange != "robust":
            params["yrange"] = self.yrange
        return params

    def to_search(self) -> str:
        """``?filter=...`` (or "" when everything is default)."""
        params = self.to_params()
        return "?" + urlencode(params, safe=",") if params else ""


def date_to_mjd(text: str) -> float:
    """``YYYY-MM-DD`` -> MJD at 00:00 UTC."""
    return day_to_mjd(text)


def mjd_to_date(mjd: float) -> str:
    """MJD -> ``YYYY-MM-DD`` (UTC; empty for NaN: `relphot_core.mjd.mjd_to_day`)."""
    return mjd_to_day(float(mjd))


def mjd_to_iso(mjd: np.ndarray) -> list[str]:
    """MJD (UTC) -> ``YYYY-MM-DDTHH:MM:SS`` ("" where not finite or out of
    the years 1700-2200). Seconds are truncated, as where DATE-OBS is cut
    to the second (a float MJD within 1 ms below a whole second counts as
    that second)."""
    mjd = np.asarray(mjd, dtype=float)
    good = np.isfinite(mjd) & (mjd > -58000.0) & (mjd < 124000.0)
    seconds = np.floor(np.where(good, mjd, 0.0) * 86400.0 + 1e-3)
    stamps = pd.Timestamp(MJD_EPOCH_DATE) + pd.to_timedelta(seconds, unit="s")
    return [t.strftime("%Y-%m-%dT%H:%M:%S") if ok else "" for t, ok in zip(stamps, good)]


def _choice(params: dict, name: str, choices: tuple[str, ...], messages: list[str], text: str) -> str:
    value = str(params.get(name) or choices[0]).strip().lower()
    if value not in choices:
        messages.append(f"'{name}' must be {text}, not '{value[:40]}'; ignored.")
        value = choices[0]
    return value


SELECTION_PAGE_PARAMETERS: tuple[str, ...] = (*PARAMETERS, "x", "trend", "by", "yrange")
"""The URL parameters of the selection pages (overview, exports): `parse_selection`'s."""


def unknown_parameters(params: Mapping[str, object] | None, known: Iterable[str]) -> list[str]:
    """One message per URL parameter a page does not read: the API refuses
    them (400); a page says so and shows what it would without them.

    Examples
    --------
    >>> unknown_parameters({"filter": "NIR_J", "statsu": "FAIL"}, ("filter", "status"))
    ["Unknown URL parameter 'statsu' (this page reads filter, status); ignored."]
    """
    known = tuple(known)
    return [f"Unknown URL parameter '{str(name)[:40]}' (this page reads {', '.join(known) or 'none'}); ignored."
            for name in (params or {}) if name not in known]


def parse_selection(params: dict | None) -> Selection:
    """Build a `Selection` from URL query parameters (or control values).

    The criteria are read by `relphot_core.selection.read_criteria`.
    Unknown or malformed values are dropped, each with a message in
    ``Selection.messages``; this function never raises.

    Examples
    --------
    >>> s = parse_selection({"filter": "NIR_J", "status": "FAIL,WARN", "from": "2026-01-01"})
    >>> s.filters, s.statuses, s.date_from
    (('NIR_J',), ('WARN', 'FAIL'), '2026-01-01')
    >>> parse_selection({"filter": "NIR_Q"}).messages[0]
    "Unknown filter 'NIR_Q' (choose among NIR_Y, NIR_J, NIR_H); ignored."
    """
    params = dict(params or {})
    criteria, messages = read_criteria(params)
    messages = unknown_parameters(params, SELECTION_PAGE_PARAMETERS) + list(messages)
    x = _choice(params, "x", X_CHOICES, messages, "'time' or 'obsid'")
    filters = criteria["filters"]
    trend = params.get("trend")
    trend = None if trend in (None, "") else str(trend).strip()[:40]
    if trend is not None and trend not in filters:
        messages.append(f"'trend' must be one of the selected filters ({', '.join(filters)}), "
                        f"not '{trend}'; showing {filters[0]}.")
        trend = None
    by = _choice(params, "by", BY_CHOICES, messages, "'status' or 'dither'")
    yrange = _choice(params, "yrange", YRANGE_CHOICES, messages, "'robust' or 'all'")
    return Selection(**criteria, x=x, trend=trend, by=by, yrange=yrange, messages=tuple(messages))


def selected_rows(df: pd.DataFrame, selection: ExposureSelection, *,
                  statuses: bool = True) -> tuple[int, int, np.ndarray | None]:
    """The rows of an exposure table that the selection keeps, as ``(start,
    stop, mask)`` (`relphot_core.selection.exposure_rows`); ``statuses``
    False: whatever their status."""
    if not statuses:
        selection = replace(selection, statuses=ALL_STATUSES)
    return exposure_rows(df, selection)


def apply_selection(df: pd.DataFrame, selection: ExposureSelection, *, statuses: bool = True) -> pd.DataFrame:
    """Rows of an exposure table that the selection keeps, as a frame (the
    table itself when it keeps every row; `relphot_core.selection.select_exposures`)."""
    if not statuses:
        selection = replace(selection, statuses=ALL_STATUSES)
    return select_exposures(df, selection)


def with_updates(selection: Selection, **changes) -> Selection:
    """A copy of the selection with some fields replaced (``obs`` may be
    given as text, ``123`` or ``100-200``)."""
    if "obs" in changes:
        changes["obs_range"] = read_obs_range(changes.pop("obs"), [])
    return replace(selection, **changes)
