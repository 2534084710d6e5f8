"""The selection a user makes (filters, statuses, dates, review state, obs
ids) and its round trip through the URL query string.

Everything here is pure: parsing never raises, it returns the selection it
could understand plus one readable message per parameter it could not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from urllib.parse import urlencode

import numpy as np
import pandas as pd

from relphot_core.config import FILTERS
from relphot_core.mjd import MJD_EPOCH_DATE
from relphot_core.status import STATUS_ORDER

MJD_EPOCH = MJD_EPOCH_DATE
YEAR_MIN, YEAR_MAX = 2000, 2100
REVIEWED_CHOICES = ("any", "yes", "no")
X_CHOICES = ("time", "obsid")
BY_CHOICES = ("status", "dither")
YRANGE_CHOICES = ("robust", "all")
ALL_STATUSES: tuple[str, ...] = tuple(status.value for status in STATUS_ORDER)
"""The ``status`` values of a selection of every status, best to worst."""
_OBS_RE = re.compile(r"^\s*(\d{1,12})\s*(?:(?:-|\.\.)\s*(\d{1,12})\s*)?$")


@dataclass(frozen=True)
class Selection:
    """What the user selected; the defaults select everything."""

    filters: tuple[str, ...] = FILTERS
    statuses: tuple[str, ...] = ALL_STATUSES
    reviewed: str = "any"
    date_from: str | None = None
    date_to: str | None = None
    obs: str | None = None
    x: str = "time"
    trend: str | None = None
    by: str = "status"
    """How the trend tells exposures apart: by ``status`` (one pooled running median) or by ``dither``."""
    yrange: str = "robust"
    """The trend's y range: ``robust`` (extreme factors pinned at the edge) or ``all`` (fit every factor)."""
    messages: tuple[str, ...] = field(default=(), compare=False)

    # ------------------------------------------------------------------ derived
    @property
    def mjd_min(self) -> float | None:
        return None if self.date_from is None else date_to_mjd(self.date_from)

    @property
    def mjd_max(self) -> float | None:
        return None if self.date_to is None else date_to_mjd(self.date_to) + 1.0

    @property
    def obs_range(self) -> tuple[int, int] | None:
        if not self.obs:
            return None
        match = _OBS_RE.match(self.obs)
        if match is None:
            return None
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        return (min(low, high), max(low, high))

    @property
    def trend_filter(self) -> str:
        """The filter whose trend the overview draws (the first selected one
        unless ``trend`` names another)."""
        return self.trend if self.trend in self.filters else self.filters[0]

    def to_params(self) -> dict[str, str]:
        """The non-default parts as URL parameters."""
        params: dict[str, str] = {}
        if self.filters != FILTERS:
            params["filter"] = ",".join(self.filters)
        if self.statuses != ALL_STATUSES:
            params["status"] = ",".join(self.statuses)
        if self.reviewed != "any":
            params["reviewed"] = self.reviewed
        if self.date_from:
            params["from"] = self.date_from
        if self.date_to:
            params["to"] = self.date_to
        if self.obs:
            params["obs"] = self.obs
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

    def store_query_kwargs(self) -> dict:
        """Keyword arguments of `relphot_core.store.ExposureQuery`."""
        reviewed = {"any": None, "yes": True, "no": False}[self.reviewed]
        return dict(filters=self.filters, mjd_min=self.mjd_min, mjd_max=self.mjd_max,
                    statuses=self.statuses, reviewed=reviewed, search=None, limit=None)


def date_to_mjd(text: str) -> float:
    """``YYYY-MM-DD`` -> MJD at 00:00 UTC."""
    return float((date.fromisoformat(text) - MJD_EPOCH).days)


def mjd_to_date(mjd: float) -> str:
    """MJD -> ``YYYY-MM-DD``."""
    return (pd.Timestamp(MJD_EPOCH) + pd.Timedelta(days=float(mjd))).strftime("%Y-%m-%d")


def mjd_to_iso(mjd: np.ndarray) -> list[str]:
    """MJD (UTC) -> ``YYYY-MM-DDTHH:MM:SS`` ("" where not finite or out of
    the years 1700-2200). Seconds are truncated, as where DATE-OBS is cut
    to the second (a float MJD within 1 ms below a whole second counts as
    that second)."""
    mjd = np.asarray(mjd, dtype=float)
    good = np.isfinite(mjd) & (mjd > -58000.0) & (mjd < 124000.0)
    seconds = np.floor(np.where(good, mjd, 0.0) * 86400.0 + 1e-3)
    stamps = pd.Timestamp(MJD_EPOCH) + pd.to_timedelta(seconds, unit="s")
    return [t.strftime("%Y-%m-%dT%H:%M:%S") if ok else "" for t, ok in zip(stamps, good)]


def _split(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        items = [str(v) for v in value]
    else:
        items = str(value).split(",")
    return [item.strip() for item in items if item.strip()]


def _parse_date(value: object, name: str, messages: list[str]) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()[:40]
    try:
        parsed = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        messages.append(f"'{name}' must be a date like 2026-03-01, not '{text}'; ignored.")
        return None
    if not YEAR_MIN <= parsed.year <= YEAR_MAX:
        messages.append(f"'{name}' = {text} is outside {YEAR_MIN}-{YEAR_MAX}; ignored.")
        return None
    return parsed.isoformat()


def parse_selection(params: dict | None) -> Selection:
    """Build a `Selection` from URL query parameters (or control values).

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
    messages: list[str] = []
    filters = _split(params.get("filter"))
    good_filters = [f for f in FILTERS if f in filters]
    for bad in [f for f in filters if f not in FILTERS]:
        messages.append(f"Unknown filter '{bad[:40]}' (choose among {', '.join(FILTERS)}); ignored.")
    if "filter" in params and params.get("filter") not in (None, "") and not good_filters:
        good_filters = list(FILTERS)
    statuses = [s.upper() for s in _split(params.get("status"))]
    good_statuses = [s for s in ALL_STATUSES if s in statuses]
    for bad in [s for s in statuses if s not in STATUS_ORDER]:
        messages.append(f"Unknown status '{bad[:40]}' (choose among {', '.join(ALL_STATUSES)}); ignored.")
    reviewed = str(params.get("reviewed") or "any").strip().lower()
    if reviewed not in REVIEWED_CHOICES:
        messages.append(f"'reviewed' must be one of {', '.join(REVIEWED_CHOICES)}, not '{reviewed[:40]}'; ignored.")
        reviewed = "any"
    date_from = _parse_date(params.get("from"), "from", messages)
    date_to = _parse_date(params.get("to"), "to", messages)
    if date_from and date_to and date_from > date_to:
        messages.append(f"The date range is empty: 'from' {date_from} is after 'to' {date_to}; "
                        "the dates were ignored.")
        date_from = date_to = None
    obs = params.get("obs")
    obs = None if obs in (None, "") else str(obs).strip()[:40]
    match = _OBS_RE.match(obs) if obs else None
    if obs and match is None:
        messages.append(f"Observation search '{obs}' is not an id (123) or a range (100-200); ignored.")
        obs = None
    elif match is not None and match.group(2) and int(match.group(2)) < int(match.group(1)):
        obs = f"{match.group(2)}-{match.group(1)}"
        messages.append(f"Observation range read as {obs} (lowest id first).")
    x = str(params.get("x") or "time").strip().lower()
    if x not in X_CHOICES:
        messages.append(f"'x' must be 'time' or 'obsid', not '{x[:40]}'; ignored.")
        x = "time"
    filters = tuple(good_filters) or FILTERS
    trend = params.get("trend")
    trend = None if trend in (None, "") else str(trend).strip()[:40]
    if trend is not None and trend not in filters:
        messages.append(f"'trend' must be one of the selected filters ({', '.join(filters)}), "
                        f"not '{trend}'; showing {filters[0]}.")
        trend = None
    by = str(params.get("by") or "status").strip().lower()
    if by not in BY_CHOICES:
        messages.append(f"'by' must be 'status' or 'dither', not '{by[:40]}'; ignored.")
        by = "status"
    yrange = str(params.get("yrange") or "robust").strip().lower()
    if yrange not in YRANGE_CHOICES:
        messages.append(f"'yrange' must be 'robust' or 'all', not '{yrange[:40]}'; ignored.")
        yrange = "robust"
    return Selection(
        filters=filters,
        statuses=tuple(good_statuses) or ALL_STATUSES,
        reviewed=reviewed, date_from=date_from, date_to=date_to, obs=obs, x=x, trend=trend, by=by, yrange=yrange,
        messages=tuple(messages),
    )


def sorted_nan_last(values: np.ndarray) -> bool:
    """Whether ``values`` is non-decreasing, with any NaN at the end."""
    finite = values.size - int(np.count_nonzero(np.isnan(values)))
    head = values[:finite]
    return not np.isnan(head).any() and bool(np.all(head[1:] >= head[:-1]))


def _isin(column: pd.Series, wanted: tuple[str, ...]) -> np.ndarray:
    """``column.isin(wanted)`` as a boolean array; on a categorical column
    (the cached tables) a lookup of its codes, 3x faster."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # code -1 (missing) reads the appended False
        lookup = np.append(np.isin(column.cat.categories.to_numpy(dtype=object), list(wanted)), False)
        return lookup[column.cat.codes.to_numpy()]
    return column.isin(wanted).to_numpy()


def selected_rows(df: pd.DataFrame, selection: Selection, *,
                  statuses: bool = True) -> tuple[int, int, np.ndarray | None]:
    """The rows of an exposure table that the selection keeps (filters,
    dates, statuses, review state, obs ids), as ``(start, stop, mask)``:
    rows ``start:stop``, of which those where ``mask`` is true (None: all).

    On a table sorted by ``mjd_obs`` (the dashboard's cached tables) the
    dates are a binary search and the slice; the other criteria are masks.
    Callers that need a few columns take them from these positions without
    copying the table (see `apply_selection` for the rows as a frame).
    """
    if df is None or df.empty:
        return 0, 0 if df is None else len(df), None
    start, stop = 0, len(df)
    low, high = selection.mjd_min, selection.mjd_max
    if (low is not None or high is not None) and sorted_nan_last(df["mjd_obs"].to_numpy(dtype=float)):
        mjd = df["mjd_obs"].to_numpy(dtype=float)
        start = 0 if low is None else int(np.searchsorted(mjd, low, side="left"))
        # NaN sorts last: a date bound excludes it, as the masks below would
        stop = int(np.searchsorted(mjd, np.inf if high is None else high, side="right" if high is None else "left"))
        stop = max(start, stop)
        low = high = None
    part = df.iloc[start:stop] if (start, stop) != (0, len(df)) else df
    mask = None

    def keep(condition: np.ndarray) -> None:
        nonlocal mask
        mask = condition if mask is None else mask & condition

    if "filter" in part and selection.filters != FILTERS:
        keep(_isin(part["filter"], selection.filters))
    if statuses and selection.statuses != ALL_STATUSES:
        keep(_isin(part["status"], selection.statuses))
    if low is not None:
        keep(part["mjd_obs"].to_numpy() >= low)
    if high is not None:
        keep(part["mjd_obs"].to_numpy() < high)
    if selection.reviewed != "any" and "reviewed" in part:
        reviewed = part["reviewed"]
        reviewed = (reviewed if reviewed.dtype == bool else reviewed.eq(True)).to_numpy()
        keep(reviewed if selection.reviewed == "yes" else ~reviewed)
    rng = selection.obs_range
    if rng is not None:
        keep(part["obs_id"].between(rng[0], rng[1]).to_numpy())
    return start, stop, mask


def apply_selection(df: pd.DataFrame, selection: Selection, *, statuses: bool = True) -> pd.DataFrame:
    """Rows of an exposure table that the selection keeps, as a frame (the
    table itself when it keeps every row). See `selected_rows`."""
    if df is None or df.empty:
        return df
    start, stop, mask = selected_rows(df, selection, statuses=statuses)
    part = df.iloc[start:stop] if (start, stop) != (0, len(df)) else df
    return part if mask is None or mask.all() else part[mask]


def with_updates(selection: Selection, **changes) -> Selection:
    """A copy of the selection with some fields replaced."""
    return replace(selection, **changes)
