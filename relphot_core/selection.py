"""Which exposures (and so which observation products) a user selects: one
model for every page of the dashboard, the JSON API, the downloads and
``relphot export``.

(Not to be confused with `relphot_core.config.Selection`, which chooses the
*sources* reliable enough to compare inside one observation.)

The rules, in one place
-----------------------
An exposure of the current runs is selected when all of these hold:

- its filter is one of ``filters``;
- its status is one of ``statuses``;
- ``reviewed``: ``"yes"`` keeps the exposures reviewed at their current
  status, ``"no"`` those that are not (never reviewed, or reviewed on a
  status a recomputation has since changed), ``"any"`` both;
- ``date_from`` (``YYYY-MM-DD``, UTC) is inclusive: ``MJD-OBS >=`` that
  day's 00:00 UTC; ``date_to`` is inclusive of the whole UTC day:
  ``MJD-OBS <`` the next day's 00:00 UTC. An exposure without a time is
  outside any date range;
- its observation id lies in ``obs_range`` (both ends included).

An observation product (one ``(obs_id, filter)``) is selected when it holds
at least one selected exposure; the product itself holds all its exposures.

`ExposureSelection.from_params` / `parse_selection` read URL or command-line
parameters (``filter``, ``status``, ``reviewed``, ``from``, ``to``, ``obs``),
`ExposureSelection.to_params` writes them back; `exposure_rows` and
`select_exposures` apply the rules to a data frame of exposures; the store
applies the same rules in SQL (`relphot_core.store.queries`), and the tests
check that both agree.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from .config import FILTERS
from .errors import RelphotError
from .mjd import MJD_EPOCH_DATE
from .status import STATUS_ORDER

ALL_STATUSES: tuple[str, ...] = tuple(status.value for status in STATUS_ORDER)
"""Every status value (plain strings), best to worst: a selection's default."""

PARAMETERS: tuple[str, ...] = ("filter", "status", "reviewed", "from", "to", "obs")
"""The parameter names of a selection (URL query and ``relphot export`` options)."""

REVIEWED_CHOICES: tuple[str, ...] = ("any", "yes", "no")
"""Values of ``reviewed``; ``all`` is read as ``any``."""

YEAR_MIN, YEAR_MAX = 2000, 2100
OBS_ID_MAX = 10**12 - 1
_OBS_RE = re.compile(r"^\s*(\d{1,12})\s*(?:(?:-|\.\.)\s*(\d{1,12})\s*)?$")


class SelectionError(RelphotError):
    """A selection parameter has a value that cannot be read."""


def _canonical(values: tuple[str, ...], allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise SelectionError(None, f"unknown {name} {unknown[0]!r} (choose among {', '.join(allowed)})")
    ordered = tuple(v for v in allowed if v in values)
    if not ordered:
        raise SelectionError(None, f"a selection needs at least one {name}")
    return ordered


def _day(value: str | date | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, date):
        value = value.isoformat()
    try:
        day = datetime.strptime(str(value), "%Y-%m-%d").date()
    except ValueError:
        raise SelectionError(None, f"'{name}' must be a date like 2026-03-01, not {str(value)[:40]!r}") from None
    if not YEAR_MIN <= day.year <= YEAR_MAX:
        raise SelectionError(None, f"'{name}' = {day.isoformat()} is outside {YEAR_MIN}-{YEAR_MAX}")
    return day.isoformat()


def day_to_mjd(text: str) -> float:
    """``YYYY-MM-DD`` -> MJD at 00:00 UTC of that day.

    Examples
    --------
    >>> day_to_mjd("2025-01-25")
    60700.0
    """
    return float((date.fromisoformat(text) - MJD_EPOCH_DATE).days)


@dataclass(frozen=True)
class ExposureSelection:
    """What a user selected; the defaults select every exposure.

    Construction checks and normalises the values (filters and statuses in
    their canonical order, dates as ``YYYY-MM-DD``) and raises
    `SelectionError` on a bad one; `parse_selection` never raises.

    Attributes
    ----------
    filters : tuple of str
        Filter bands (`relphot_core.config.FILTERS` order).
    statuses : tuple of str
        Current statuses (`ALL_STATUSES` order: best to worst).
    reviewed : {'any', 'yes', 'no'}
        Review state at the current status.
    date_from, date_to : str or None
        First and last UTC day (``YYYY-MM-DD``), both included.
    obs_range : (int, int) or None
        Lowest and highest observation id, both included.
    messages : tuple of str
        What `parse_selection` could not read (ignored in comparisons).

    Examples
    --------
    >>> s = ExposureSelection(filters=("NIR_H", "NIR_J"), date_to="2025-02-01", obs_range=(10, 20))
    >>> s.filters, s.mjd_max, s.obs
    (('NIR_J', 'NIR_H'), 60708.0, '10-20')
    >>> s.to_params()
    {'filter': 'NIR_J,NIR_H', 'to': '2025-02-01', 'obs': '10-20'}
    """

    filters: tuple[str, ...] = FILTERS
    statuses: tuple[str, ...] = ALL_STATUSES
    reviewed: str = "any"
    date_from: str | None = None
    date_to: str | None = None
    obs_range: tuple[int, int] | None = None
    messages: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        filters = (self.filters,) if isinstance(self.filters, str) else tuple(self.filters)
        statuses = (self.statuses,) if isinstance(self.statuses, str) else tuple(self.statuses)
        set_(self, "filters", _canonical(filters, FILTERS, "filter"))
        set_(self, "statuses", _canonical(statuses, ALL_STATUSES, "status"))
        reviewed = "any" if self.reviewed in (None, "all") else self.reviewed
        if reviewed not in REVIEWED_CHOICES:
            raise SelectionError(None, f"'reviewed' must be one of {', '.join(REVIEWED_CHOICES)}, "
                                       f"not {str(reviewed)[:40]!r}")
        set_(self, "reviewed", reviewed)
        set_(self, "date_from", _day(self.date_from, "from"))
        set_(self, "date_to", _day(self.date_to, "to"))
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise SelectionError(None, f"the date range is empty: 'from' {self.date_from} is after "
                                       f"'to' {self.date_to}")
        if self.obs_range is not None:
            low, high = (int(v) for v in self.obs_range)
            if not 0 <= low <= high <= OBS_ID_MAX:
                raise SelectionError(None, f"observation range {low}-{high} is not 'lowest-highest' ids "
                                           f"between 0 and {OBS_ID_MAX}")
            set_(self, "obs_range", (low, high))
        set_(self, "messages", tuple(self.messages))

    # ------------------------------------------------------------ derived
    @property
    def mjd_min(self) -> float | None:
        """Lowest MJD-OBS selected (inclusive), or None."""
        return None if self.date_from is None else day_to_mjd(self.date_from)

    @property
    def mjd_max(self) -> float | None:
        """MJD-OBS bound (exclusive): 00:00 UTC of the day after ``date_to``, or None."""
        return None if self.date_to is None else day_to_mjd(self.date_to) + 1.0

    @property
    def obs(self) -> str | None:
        """The observation range as text: ``123`` or ``100-200`` (None: all)."""
        if self.obs_range is None:
            return None
        low, high = self.obs_range
        return str(low) if low == high else f"{low}-{high}"

    @property
    def reviewed_flag(self) -> bool | None:
        """``reviewed`` as True / False / None (any)."""
        return {"any": None, "yes": True, "no": False}[self.reviewed]

    @property
    def selects_everything(self) -> bool:
        """Whether no criterion constrains anything."""
        return self.criteria() == ExposureSelection().criteria()

    def criteria(self) -> ExposureSelection:
        """The selection criteria alone (a subclass's view settings and the
        messages dropped): what decides which exposures are selected."""
        if type(self) is ExposureSelection and not self.messages:
            return self
        return ExposureSelection(**{f.name: getattr(self, f.name) for f in fields(ExposureSelection)
                                    if f.name != "messages"})

    # ------------------------------------------------------ serialisation
    def to_params(self) -> dict[str, str]:
        """The non-default criteria as parameters (`PARAMETERS` names);
        `from_params` reads them back to an equal selection."""
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
        if self.obs is not None:
            params["obs"] = self.obs
        return params

    def to_options(self) -> list[str]:
        """The criteria as ``relphot export`` options (``--status WARN,FAIL ...``)."""
        out: list[str] = []
        for name, value in ExposureSelection.to_params(self).items():
            out += [f"--{name}", value]
        return out

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ExposureSelection:
        """Read parameters strictly: `SelectionError` naming every value
        that cannot be read, a reversed obs range included
        (`parse_selection` drops them, or reads the range lowest first,
        with a message instead).

        Examples
        --------
        >>> ExposureSelection.from_params({"reviewed": "maybe"})
        Traceback (most recent call last):
        ...
        relphot_core.selection.SelectionError: 'reviewed' must be one of any, yes, no, not 'maybe'.
        """
        kwargs, messages = read_criteria(params, strict=True)
        if messages:
            problems = [re.sub(r";( the dates were)? ignored\.$", ".", m) for m in messages]
            raise SelectionError(None, " ".join(problems))
        return ExposureSelection(**kwargs)


def _split(value: object) -> list[str]:
    if value is None:
        return []
    items = [str(v) for v in value] if isinstance(value, (list, tuple)) else str(value).split(",")
    return [item.strip() for item in items if item.strip()]


def _read_day(value: object, name: str, messages: list[str]) -> str | None:
    if value in (None, ""):
        return None
    text = str(value).strip()[:40]
    try:
        return _day(text, name)
    except SelectionError as exc:
        messages.append(f"{exc.reason[0].upper()}{exc.reason[1:]}; ignored.")
        return None


def read_obs_range(value: object, messages: list[str], *, say_reversed: bool = True,
                   reversed_is_error: bool = False) -> tuple[int, int] | None:
    """An observation id (``123``) or range (``100-200``, ``100..200``) as
    ``(low, high)``; None (with a message) for anything else. A reversed
    range is read lowest first, and said unless ``say_reversed`` is false;
    with ``reversed_is_error`` it is refused (None and a message) instead."""
    if value in (None, ""):
        return None
    text = str(value).strip()[:40]
    match = _OBS_RE.match(text)
    if match is None:
        messages.append(f"Observation search '{text}' is not an id (123) or a range (100-200); ignored.")
        return None
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if high < low:
        if reversed_is_error:
            messages.append(f"'obs' {text} is a reversed range: write the lowest id first, {high}-{low}.")
            return None
        low, high = high, low
        if say_reversed:
            messages.append(f"Observation range read as {low}-{high} (lowest id first).")
    return low, high


def read_criteria(params: Mapping[str, Any] | None, *,
                  strict: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The criteria that parameters give, as `ExposureSelection` keyword
    arguments, and one readable message per value that could not be read
    (and is left out). Never raises. ``strict``: no message for what is
    read all the same by a page (a reversed obs range is refused: a script
    or a command line that wrote it probably meant something else).

    An empty ``filter`` or ``status`` (or one with only unknown values)
    means all of them.
    """
    params = dict(params or {})
    messages: list[str] = []
    filters = _split(params.get("filter"))
    for bad in [f for f in filters if f not in FILTERS]:
        messages.append(f"Unknown filter '{bad[:40]}' (choose among {', '.join(FILTERS)}); ignored.")
    statuses = [s.upper() for s in _split(params.get("status"))]
    for bad in [s for s in statuses if s not in ALL_STATUSES]:
        messages.append(f"Unknown status '{bad[:40]}' (choose among {', '.join(ALL_STATUSES)}); ignored.")
    reviewed = str(params.get("reviewed") or "any").strip().lower()
    reviewed = "any" if reviewed == "all" else reviewed
    if reviewed not in REVIEWED_CHOICES:
        messages.append(f"'reviewed' must be one of {', '.join(REVIEWED_CHOICES)}, not '{reviewed[:40]}'; ignored.")
        reviewed = "any"
    date_from = _read_day(params.get("from"), "from", messages)
    date_to = _read_day(params.get("to"), "to", messages)
    if date_from and date_to and date_from > date_to:
        messages.append(f"The date range is empty: 'from' {date_from} is after 'to' {date_to}; "
                        "the dates were ignored.")
        date_from = date_to = None
    kwargs = dict(filters=tuple(f for f in FILTERS if f in filters) or FILTERS,
                  statuses=tuple(s for s in ALL_STATUSES if s in statuses) or ALL_STATUSES,
                  reviewed=reviewed, date_from=date_from, date_to=date_to,
                  obs_range=read_obs_range(params.get("obs"), messages, reversed_is_error=strict))
    return kwargs, messages


def parse_selection(params: Mapping[str, Any] | None) -> ExposureSelection:
    """Read a selection from parameters (URL query, form values, command
    line): ``filter`` and ``status`` (comma-separated), ``reviewed``
    (any/yes/no), ``from`` and ``to`` (``YYYY-MM-DD``, UTC, both days
    included) and ``obs`` (``123`` or ``100-200``).

    Never raises: a value that cannot be read is left out, with a message
    in ``messages`` (see `ExposureSelection.from_params` for the strict
    form).

    Examples
    --------
    >>> s = parse_selection({"filter": "NIR_J", "status": "FAIL,WARN", "from": "2026-01-01"})
    >>> s.filters, s.statuses, s.date_from
    (('NIR_J',), ('WARN', 'FAIL'), '2026-01-01')
    >>> parse_selection({"filter": "NIR_Q"}).messages[0]
    "Unknown filter 'NIR_Q' (choose among NIR_Y, NIR_J, NIR_H); ignored."
    """
    kwargs, messages = read_criteria(params)
    return ExposureSelection(**kwargs, messages=tuple(messages))


# ---------------------------------------------------------------- frames
def sorted_nan_last(values: np.ndarray) -> bool:
    """Whether ``values`` is non-decreasing, with any NaN at the end."""
    finite = values.size - int(np.count_nonzero(np.isnan(values)))
    head = values[:finite]
    return not np.isnan(head).any() and bool(np.all(head[1:] >= head[:-1]))


def _isin(column: pd.Series, wanted: tuple[str, ...]) -> np.ndarray:
    """``column.isin(wanted)`` as a boolean array; on a categorical column
    (the dashboard's cached tables) a lookup of its codes, 3x faster."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        # code -1 (missing) reads the appended False
        lookup = np.append(np.isin(column.cat.categories.to_numpy(dtype=object), list(wanted)), False)
        return lookup[column.cat.codes.to_numpy()]
    return column.isin(wanted).to_numpy()


def _all_within(column: pd.Series, wanted: tuple[str, ...]) -> bool:
    """Whether a categorical column can hold only values of ``wanted`` (then
    its mask is all true and is skipped)."""
    if not isinstance(column.dtype, pd.CategoricalDtype):
        return False
    return all(c in wanted for c in column.cat.categories) and bool((column.cat.codes.to_numpy() >= 0).all())


def exposure_rows(df: pd.DataFrame, selection: ExposureSelection) -> tuple[int, int, np.ndarray | None]:
    """The rows of an exposure table that a selection keeps, as ``(start,
    stop, mask)``: rows ``start:stop``, of which those where ``mask`` is
    true (None: all of them).

    The table needs the columns the criteria use: ``filter``, ``status``,
    ``reviewed`` (bool; None counts as not reviewed), ``mjd_obs`` and
    ``obs_id`` (a table of one filter may lack ``filter`` when the
    selection keeps that filter). On a table sorted by ``mjd_obs`` (NaN last,
    as the dashboard caches them) the dates are a binary search and the
    slice; the other criteria are vectorised masks. Callers needing a few
    columns take them from these positions without copying the table
    (`select_exposures` gives the rows as a frame).
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

    if "filter" in part and not (selection.filters == FILTERS and _all_within(part["filter"], FILTERS)):
        keep(_isin(part["filter"], selection.filters))
    if selection.statuses != ALL_STATUSES:
        keep(_isin(part["status"], selection.statuses))
    if low is not None:
        keep(part["mjd_obs"].to_numpy(dtype=float) >= low)
    if high is not None:
        keep(part["mjd_obs"].to_numpy(dtype=float) < high)
    if selection.reviewed != "any":
        reviewed = part["reviewed"]
        reviewed = (reviewed if reviewed.dtype == bool else reviewed.eq(True)).to_numpy()
        keep(reviewed if selection.reviewed == "yes" else ~reviewed)
    if selection.obs_range is not None:
        obs = part["obs_id"].to_numpy()
        keep((obs >= selection.obs_range[0]) & (obs <= selection.obs_range[1]))
    return start, stop, mask


def select_exposures(df: pd.DataFrame, selection: ExposureSelection) -> pd.DataFrame:
    """The rows of an exposure table that a selection keeps, as a frame
    (the table itself when it keeps every row). See `exposure_rows`."""
    if df is None or df.empty:
        return df
    start, stop, mask = exposure_rows(df, selection)
    part = df.iloc[start:stop] if (start, stop) != (0, len(df)) else df
    return part if mask is None or mask.all() else part[mask]


def observation_keys(exposures: pd.DataFrame) -> list[tuple[int, str]]:
    """The observation products ``(obs_id, filter)`` holding the exposures
    of a table (e.g. `select_exposures`'s), sorted: the selected products."""
    if exposures is None or exposures.empty:
        return []
    pairs = pd.DataFrame({"obs_id": exposures["obs_id"].to_numpy(dtype=np.int64),
                          "filter": exposures["filter"].astype(str).to_numpy()}).drop_duplicates()
    return sorted((int(o), str(f)) for o, f in zip(pairs["obs_id"], pairs["filter"]))
