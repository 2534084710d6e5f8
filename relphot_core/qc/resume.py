"""Where the control charts of a filter may start again after a batch, so
that the problems of a season are computed from its tail instead of from
its first night.

Pure functions of numpy arrays. The rules of `relphot_core.control` are
causal and forget: the CUSUM of a point is the largest sum of its last
``cusum_window`` (+1) increments, and a drift's start is looked for at most
`relphot_core.qc.series.SEARCH_BEFORE` points before the CUSUM's own
change point. So a chart run on the rows of a series from row ``q`` on,
with the in-control width of the whole season (``scale``, fixed once every
series has its leading reference window), finds from ``q`` on exactly what
the chart of the whole series finds, provided the whole series is in no
drift from ``q - before`` to ``q + after`` (`quiet_rows`):

- from ``q + cusum_window + 1`` on the two CUSUMs are the same numbers (the
  same increments, no restart in between: a restart only follows a drift);
- before that the tail's CUSUM is at most the whole one, which stays under
  its decision interval there (no drift): neither alarms;
- a drift that alarms later starts after ``q + SEARCH_BEFORE``: its start,
  level and end are judged on the same rows.

Data appended after the series' last row can only add drifts that alarm
after it, whose starts lie at most ``cusum_window + 1 + SEARCH_BEFORE`` rows
before it: a row is a safe start for the *next* computation only when at
least `KEEP_ROWS` rows follow it. One series' start is an index of its own
rows; the exposures of a filter are read from one time (`common_start`),
each detector's series from its own (`series_starts`).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, cast

import numpy as np
import pandas as pd

from ..config import Control
from .problems import Problem, find_problems
from .series import FIT_POINTS, LEVEL_POINTS, SEARCH_BEFORE, CarriedDrift, SeriesAlarms, detector_alarms, dither_alarms


@dataclass(frozen=True)
class Margins:
    """Rows around a start that must be out of any drift, and the rows that
    must follow it.

    Attributes
    ----------
    before : int
        Rows before the start (the CUSUM's memory).
    after : int
        Rows after it (the memory and the start search of a later drift).
    keep : int
        Rows of the series that must follow it (data appended later cannot
        reach back so far).
    """

    before: int
    after: int
    keep: int

    @classmethod
    def of(cls, control: Control) -> Margins:
        memory = int(control.cusum_window) + 2
        return cls(before=memory, after=memory + SEARCH_BEFORE,
                   keep=2 * (memory + SEARCH_BEFORE) + int(control.min_reference_points))


def quiet_rows(in_drift: np.ndarray, margins: Margins) -> np.ndarray:
    """Rows of one series (in time order) where its chart may start again:
    no row in drift from ``before`` rows before to ``after`` rows after,
    and at least ``keep`` rows after it.

    Parameters
    ----------
    in_drift : numpy.ndarray of bool
        Per row of the series, in a drift (from its start to its end).
    margins : Margins

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> drift = np.zeros(1000, dtype=bool); drift[500:520] = True
    >>> ok = quiet_rows(drift, Margins(before=10, after=20, keep=100))
    >>> bool(ok[479]), bool(ok[480]), bool(ok[529]), bool(ok[530]), bool(ok[899]), bool(ok[900])
    (True, False, False, True, True, False)
    """
    in_drift = np.asarray(in_drift, dtype=bool)
    n = in_drift.size
    counts = np.r_[0, np.cumsum(in_drift)]
    rows = np.arange(n)
    lo = np.maximum(rows - margins.before, 0)
    hi = np.minimum(rows + margins.after + 1, n)
    return (counts[hi] - counts[lo] == 0) & (rows <= n - 1 - margins.keep)


def common_start(times: Mapping[Any, np.ndarray], quiet: Mapping[Any, np.ndarray]) -> float | None:
    """The latest time ``T`` at which every series may start again: for each
    series, its first row at or after ``T`` is one of its quiet rows.

    Parameters
    ----------
    times : mapping
        Per series, its rows' times (non-decreasing).
    quiet : mapping
        Per series, `quiet_rows` of the same rows.

    Returns
    -------
    float or None
        None when no such time exists (start from the first row).

    Examples
    --------
    >>> t = np.arange(10.0)
    >>> common_start({1: t, 2: t + 0.5}, {1: t < 7, 2: t < 5})
    4.5
    >>> common_start({1: t}, {1: np.zeros(10, dtype=bool)}) is None
    True
    """
    if not times:
        return None
    candidates = []
    for label, t in times.items():
        ok = np.flatnonzero(quiet[label])
        if ok.size == 0:
            return None
        candidates.append(float(t[ok[-1]]))
    start = min(candidates)
    while True:
        moved = False
        for label, t in times.items():
            first = int(np.searchsorted(t, start, side="left"))
            if first < t.size and quiet[label][first]:
                continue
            earlier = np.flatnonzero(quiet[label][:first])
            if earlier.size == 0:
                return None
            start, moved = float(t[earlier[-1]]), True
        if not moved:
            return start


def series_starts(series: np.ndarray, times: np.ndarray, in_drift: np.ndarray,
                  margins: Margins, until: float = np.inf, restart: np.ndarray | None = None) -> dict[int, float]:
    """Per series (each on its own), the time of its latest quiet row (not
    after ``until``: the detectors' series start no later than the
    exposures they are mapped to).

    Parameters
    ----------
    series, times, in_drift : numpy.ndarray
        Per row: its series, time and whether it is in a drift; rows in time
        order within each series.
    margins : Margins

    Returns
    -------
    dict
        ``{series: time}``; a series without a quiet row is left out.
    """
    out: dict[int, float] = {}
    for label in np.unique(series).tolist():
        rows = np.flatnonzero(series == label)
        valid = quiet_rows(in_drift[rows], margins) | (restart[rows] if restart is not None else False)
        ok = np.flatnonzero(valid & (times[rows] <= until))
        if ok.size:
            out[int(label)] = float(times[rows[ok[-1]]])
    return out


def by_series(series: np.ndarray, times: np.ndarray, in_drift: np.ndarray, margins: Margins,
              restart: np.ndarray | None = None) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """The times and the rows where each series may start again (for
    `common_start`): its quiet rows and the rows where its chart restarted
    after a drift ended (``restart``)."""
    times_of: dict[int, np.ndarray] = {}
    quiet_of: dict[int, np.ndarray] = {}
    for label in np.unique(series).tolist():
        rows = np.flatnonzero(series == label)
        times_of[int(label)] = times[rows]
        quiet_of[int(label)] = quiet_rows(in_drift[rows], margins) | (restart[rows] if restart is not None else False)
    return times_of, quiet_of




def shifted(alarms: SeriesAlarms, rows_before: int) -> SeriesAlarms:
    """``alarms`` of a table's last rows as the alarms of the whole table,
    whose first ``rows_before`` rows have none (they come before the tail)."""
    if rows_before == 0:
        return alarms
    pad = np.zeros(rows_before)
    return SeriesAlarms(
        alarm=np.r_[np.full(rows_before, "", dtype=object), alarms.alarm],
        reason=np.r_[np.full(rows_before, "", dtype=object), alarms.reason],
        drift_since=np.r_[pad + np.nan, alarms.drift_since],
        drift=np.r_[np.full(rows_before, -1, dtype=np.int64), alarms.drift],
        scale=alarms.scale,
        drifts=[replace(d, start=d.start + rows_before, first=d.first + rows_before, end=d.end + rows_before)
                for d in alarms.drifts],
        restart=np.r_[np.zeros(rows_before, dtype=bool), alarms.restart],
        resumable=np.r_[np.zeros(rows_before, dtype=bool), alarms.resumable])


def references_complete(series: np.ndarray, value: np.ndarray, error: np.ndarray, control: Control) -> bool:
    """Every series has its whole leading reference window (the width of its
    pulls cannot change with more data)."""
    finite = np.isfinite(value) & np.isfinite(error) & (error > 0)
    labels, counts = np.unique(np.asarray(series)[finite], return_counts=True)
    return bool(labels.size) and bool((counts >= control.reference_points).all())


def control_key(control: Control) -> str:
    """A digest of the control charts' parameters (a chart state is only
    resumed with the parameters it was computed with)."""
    text = json.dumps(asdict(control), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ChartStart:
    """Where a filter's computation starts its charts.

    Attributes
    ----------
    exposure_since : float
        MJD of the first exposure read (the dither series start there).
    detector_since : dict
        ``{detector: MJD}``: where each detector's series starts (empty: the
        filter has no detector rows).
    dither_scale, detector_scale : float or None
        The widths of the pulls (`relphot_core.qc.series.SeriesAlarms.scale`).
    detector_carried : dict
        ``{detector: CarriedDrift}``: the detectors whose series start
        inside a drift that is still on (at its ``warm_since``, their
        ``detector_since``).
    """

    exposure_since: float
    detector_since: dict[int, float] = field(default_factory=dict)
    dither_scale: float | None = None
    detector_scale: float | None = None
    detector_carried: dict[int, CarriedDrift] = field(default_factory=dict)

    def carried_json(self) -> str:
        """`detector_carried` as JSON (the store keeps it)."""
        return json.dumps({str(d): asdict(c) for d, c in sorted(self.detector_carried.items())})

    @staticmethod
    def carried_from_json(text: str | None) -> dict[int, CarriedDrift]:
        """The inverse of `carried_json`."""
        return {int(d): CarriedDrift(**fields) for d, fields in json.loads(text or "{}").items()}


@dataclass(frozen=True)
class FilterProblems:
    """The problems of a filter and where the next computation may start.

    Attributes
    ----------
    problems : list of Problem
        From `relphot_core.qc.problems.find_problems`; computed from the
        tail (``start`` given), they hold the tail's exposures and, for a
        flagged detector, its earlier flagged exposures.
    next_start : ChartStart or None
        None: the next computation starts from the first night (a series
        has not yet its whole reference window, or no row is quiet).
    """

    problems: list[Problem]
    next_start: ChartStart | None


def filter_problems(table: pd.DataFrame, filter_name: str, control: Control, start: ChartStart | None, *,
                    failures: pd.DataFrame | None = None,
                    detectors: pd.DataFrame | None = None) -> FilterProblems:
    """The problems of one filter, from its first night (``start`` None) or
    from the tail of its season, and where the next computation may start.

    Parameters
    ----------
    table : pandas.DataFrame
        `relphot_core.store.queries.problem_input` of the filter: every
        exposure, or (``start`` given) those from ``start.exposure_since``
        on after the earlier ones whose detector is flagged.
    filter_name : str
    control : Control
    start : ChartStart or None
    failures : pandas.DataFrame, optional
        The filter's unresolved processing failures.
    detectors : pandas.DataFrame, optional
        The filter's detector rows (`relphot_core.store.Store.detector_table`),
        from ``start.detector_since`` when ``start`` is given.

    Returns
    -------
    FilterProblems
    """
    margins = Margins.of(control)
    mjd_all = table["mjd_obs"].to_numpy(dtype=float)
    n_before = int((mjd_all < start.exposure_since).sum()) if start is not None else 0
    obs = table["obs_id"].to_numpy(dtype=np.int64)[n_before:]
    dither = table["exposure"].to_numpy(dtype=np.int64)[n_before:]
    mjd = mjd_all[n_before:]
    value = table["value"].to_numpy(dtype=float)[n_before:]
    error = table["error"].to_numpy(dtype=float)[n_before:]
    alarms = dither_alarms(obs, dither, mjd, value, error, control,
                           scale=start.dither_scale if start is not None else None)
    detector_series = None
    if detectors is None:
        detectors = pd.DataFrame({name: pd.Series(dtype=float) for name in ("obs_id", "detector", "mjd_obs", "offset",
                                                                              "error")})
    if len(detectors):
        detector_series = detector_alarms(
            detectors["obs_id"].to_numpy(), detectors["detector"].to_numpy(),
            detectors["mjd_obs"].to_numpy(dtype=float), detectors["offset"].to_numpy(dtype=float),
            detectors["error"].to_numpy(dtype=float), control,
            scale=start.detector_scale if start is not None else None,
            carried=dict(start.detector_carried) if start is not None else None)
    problems = find_problems(table, filter_name, control, alarms=shifted(alarms, n_before), failures=failures,
                             detectors=detectors if detector_series is not None else None,
                             detector_series=detector_series)
    if start is None:
        complete = references_complete(dither, value, error, control) and (detector_series is None or (
            references_complete(detectors["detector"].to_numpy(), detectors["offset"].to_numpy(dtype=float),
                                detectors["error"].to_numpy(dtype=float), control)))
        if not complete or not len(table):
            return FilterProblems(problems, None)
    times, quiet = by_series(dither, mjd, alarms.drift >= 0, margins, alarms.restart)
    since = common_start(times, quiet)
    if since is None:
        if start is None:
            return FilterProblems(problems, None)
        since = start.exposure_since
    # a detector's series starts no later than the exposures: its drifts over the exposures computed are
    # computed again (before them, its drifts' exposures stay with their problems)
    detector_since = {d: t for d, t in (start.detector_since.items() if start is not None else ()) if t <= since}
    carried = {d: c for d, c in (start.detector_carried.items() if start is not None else ())
               if detector_since.get(d) == c.warm_since}
    if detector_series is not None:
        labels = detectors["detector"].to_numpy()
        quiet_since = series_starts(labels, detectors["mjd_obs"].to_numpy(dtype=float), detector_series.drift >= 0,
                                    margins, until=since, restart=detector_series.restart)
        for d, t in quiet_since.items():
            if t > detector_since.get(d, -np.inf):
                detector_since[d] = t
                carried.pop(d, None)
        for d, drift in inside_drifts(detectors, detector_series, problems, margins, until=since).items():
            if drift.warm_since > detector_since.get(d, -np.inf):
                detector_since[d], carried[d] = drift.warm_since, drift
        if set(np.unique(labels).tolist()) - set(detector_since):
            return FilterProblems(problems, None)  # a detector without a quiet row yet
    return FilterProblems(problems, ChartStart(
        since, detector_since,
        start.dither_scale if start is not None else alarms.scale,
        (start.detector_scale if start is not None
         else detector_series.scale if detector_series is not None else None),
        carried))


def inside_drifts(detectors: pd.DataFrame, found: SeriesAlarms, problems: list[Problem], margins: Margins, *,
                  until: float) -> dict[int, CarriedDrift]:
    """Per detector whose latest drift is still on, the latest place (not
    after ``until``) where its chart may start again inside that drift
    (`relphot_core.control.ControlResult.resumable`), with what the next
    computation needs of the drift (`CarriedDrift`).

    The ``margins.before`` rows before that place warm the chart up; they
    must follow the drift's start, hold `LEVEL_POINTS` finite points (its
    size now may be fitted on them) and start at a new time (a series is
    read from a time on). The drift's start must be final: `FIT_POINTS`
    finite points after its alarm (`relphot_core.qc.series.change_point`).
    """
    labels = detectors["detector"].to_numpy()
    mjd = detectors["mjd_obs"].to_numpy(dtype=float)
    obs = detectors["obs_id"].to_numpy(dtype=np.int64)
    value = detectors["offset"].to_numpy(dtype=float)
    error = detectors["error"].to_numpy(dtype=float)
    finite = np.isfinite(value) & np.isfinite(error) & (error > 0)
    flagged_obs = {int(p.subject.split()[-1]): np.unique([o for o, _d, role in p.exposures if role == "primary"])
                   for p in problems if p.kind == "detector"}
    latest: dict[int, Any] = {}
    for drift in found.drifts:
        latest[int(cast(int, drift.series))] = drift
    out: dict[int, CarriedDrift] = {}
    for d, drift in latest.items():
        rows = np.flatnonzero(labels == d)
        if drift.end != rows[-1]:
            continue  # ended
        start_at = int(np.searchsorted(rows, drift.start))
        first_at = int(np.searchsorted(rows, drift.first))
        if drift.carried is None and int(finite[rows[first_at:]].sum()) < FIT_POINTS:
            continue  # its start may still move
        warm_since = np.r_[True, np.diff(mjd[rows]) > 0]  # a series can be read from here
        for q in np.flatnonzero(found.resumable[rows] & (mjd[rows] <= until))[::-1].tolist():
            r0 = q - margins.before
            if (r0 < start_at or not warm_since[q] or not warm_since[r0]
                    or int(finite[rows[r0:q]].sum()) < LEVEL_POINTS):
                continue
            before = rows[start_at:r0]
            carry = drift.carried
            out[d] = CarriedDrift(
                warm_since=float(mjd[rows[r0]]), judged_since=float(mjd[rows[q]]), direction=int(drift.direction),
                delta=float(drift.delta),
                start_mjd=carry.start_mjd if carry is not None else float(mjd[drift.start]),
                start_obs=carry.start_obs if carry is not None else int(obs[drift.start]),
                points_before=(carry.points_before if carry is not None else 0) + int(finite[before].sum()),
                rows_before=(carry.rows_before if carry is not None else 0) + int(before.size),
                flagged_before=(carry.flagged_before if carry is not None else 0)
                + int(np.isin(obs[before], flagged_obs.get(d, np.empty(0, dtype=np.int64))).sum()))
            break
    return out


__all__ = ["ChartStart", "FilterProblems", "Margins", "by_series", "common_start", "control_key", "filter_problems",
           "inside_drifts", "quiet_rows", "references_complete", "series_starts", "shifted"]
