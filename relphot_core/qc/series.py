"""QC signals across observations: the control charts of a filter's series,
dither positions (``QPRELEX - 1``) or detectors (offsets in mag), named for
what they find.

One series per dither position (or detector) of a filter, in time order,
with its errors. The in-control level is known (0: the factors are relative
within each observation, the detector offsets relative to their exposure)
and the width is the robust width of the pulls ``value / error`` over the
leading reference windows of *every* series of the filter
(`reference_pull_width`), which a later step or one drifting series cannot
inflate much. `relphot_core.control.control_rules` then marks single
points *outside control limits* and *drifts* (a persistent shift, CUSUM),
with false-alarm rates of about 1e-4 per point, and ends a drift when its
series is back.

A drift is then described for people (`SeriesDrift`): its start is the
change point that best explains the points given the drift's own level (a
fit of "0 before, a line after" over the candidates around the CUSUM's
estimate, so a small collateral shift just before a real step does not pull
the start back), and its size *now* is the level of a line fitted to its last
points, with the slope.

Alarm names, the same from here to the page: `OUTSIDE_LIMITS`
("outside control limits") and `DRIFT` ("drift").
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..config import Control
from ..control import DRIFT, OUTSIDE_LIMITS, Resumed, control_rules
from ..mjd import mjd_to_day
from ..stats import MAD_TO_SIGMA

ALARM_KINDS: tuple[str, ...] = (OUTSIDE_LIMITS, DRIFT)

SEARCH_BEFORE = 30
"""Points before the CUSUM's change-point estimate where a drift's start is
also looked for."""

FIT_POINTS = 100
"""Points after a candidate start used to judge it."""

LEVEL_POINTS = 30
"""Last points of a drift whose fitted line gives its level now and slope."""


@dataclass(frozen=True)
class SeriesKind:
    """How a series and its values are named.

    Attributes
    ----------
    label : str
        ``"dither"`` or ``"detector"``: what one series is.
    scale : float
        Factor from values to the unit shown (100 for %, 1000 for mmag).
    unit : str
        The unit shown (``"%"``, ``"mmag"``).
    value_text : str
        How a single value is introduced (``"QPRELEX - 1"``, ``"offset"``).
    digits : int
        Decimals shown.
    """

    label: str
    scale: float
    unit: str
    value_text: str
    digits: int = 2

    def outlier_text(self, value: float, sigmas: float, label: object) -> str:
        """What a single point outside the control limits says."""
        if self.label == "dither":
            where = f"QPRELEX {1.0 + value:.4f} is {sigmas:+.1f} σ from 1"
        else:
            where = f"{self.value_text} {self.amount(value, digits=1)} is {sigmas:+.1f} σ from 0"
        return f"outside control limits: {where} for {self.label} {label} of this filter"

    def amount(self, value: float, error: float | None = None, *, signed: bool = True,
               digits: int | None = None) -> str:
        """``-0.52 ± 0.02 %`` / ``+31.5 mmag``."""
        digits = self.digits if digits is None else digits
        text = f"{self.scale * value:+.{digits}f}" if signed else f"{self.scale * value:.{digits}f}"
        if error is not None and np.isfinite(error):
            text += f" ± {self.scale * error:.{digits}f}"
        return f"{text} {self.unit}"


DITHER_SERIES = SeriesKind("dither", 100.0, "%", "QPRELEX - 1")
"""Series of ``QPRELEX - 1`` per dither position (shown in %)."""
DETECTOR_SERIES = SeriesKind("detector", 1000.0, "mmag", "offset", 1)
"""Series of detector offsets in mag (shown in mmag, + = fainter)."""


@dataclass(frozen=True)
class SeriesDrift:
    """One drift of one series, described for people.

    Rows index the input arrays of `series_alarms`.

    Attributes
    ----------
    series : object
        The series label (dither position or detector number).
    start, first, end : int
        Rows of its start (the change point), of the alarm and of its last
        point in drift.
    level, level_error : float
        Its size now: the value at ``end`` of a line fitted to its last
        `LEVEL_POINTS` points (value units), with its error.
    slope, slope_error : float
        That line's slope in value units per day (NaN with fewer than 3
        points or no time span).
    direction : int
        +1 above the in-control level, -1 below.
    n_points : int
        Finite points from its start to ``end`` (those before the rows
        given included, for a drift carried in).
    delta : float
        The shift its return test looks for the end of
        (`relphot_core.control.ControlAlarm.delta`).
    carried : CarriedDrift or None
        The drift started before the rows given (`series_alarms`'
        ``carried``): ``start`` and ``first`` are then the series' first
        row, and its real start is ``carried.start_mjd``.
    """

    series: object
    start: int
    first: int
    end: int
    level: float
    level_error: float
    slope: float
    slope_error: float
    direction: int
    n_points: int
    delta: float = float("nan")
    carried: CarriedDrift | None = None


@dataclass(frozen=True)
class CarriedDrift:
    """A drift still on at the end of a series' last computation, carried
    into the next one, whose rows start inside it (the tail of a season,
    `relphot_core.qc.resume`).

    Attributes
    ----------
    warm_since : float
        MJD of the first row given: the ``cusum_window + 2`` rows from
        there only fill the chart's memory (`relphot_core.control.Resumed`).
    judged_since : float
        MJD of the first row judged after them.
    direction : int
    delta : float
        `SeriesDrift.direction` and `SeriesDrift.delta`.
    start_mjd : float
    start_obs : int
        Time and observation of its start.
    points_before, rows_before : int
        Its finite points and its rows (missing ones included) before
        ``warm_since``.
    flagged_before : int
        Of those rows, the ones of observations where the same detector
        is flagged (what the collateral test of
        `relphot_core.qc.problems` counts).
    """

    warm_since: float
    judged_since: float
    direction: int
    delta: float
    start_mjd: float
    start_obs: int
    points_before: int
    rows_before: int
    flagged_before: int = 0


@dataclass(frozen=True)
class SeriesAlarms:
    """Per row of a filter's series (aligned with the input arrays)."""

    alarm: np.ndarray
    """``""``, `OUTSIDE_LIMITS` or `DRIFT` (every point from a drift's start to its end is the drift's)."""
    reason: np.ndarray
    """What the alarm says, e.g. ``drift of dither 4 since 2025-02-03 (obs 1040): now -1.27 ± 0.03 %,
    -0.10 %/day``."""
    drift_since: np.ndarray
    """MJD where the drift started (NaN outside drifts)."""
    drift: np.ndarray
    """Index into `drifts` of the drift a row belongs to; -1 elsewhere."""
    scale: float
    """The width of the pulls used (1 for calibrated errors)."""
    drifts: list[SeriesDrift] = field(default_factory=list)
    """The drifts, in order of start."""
    restart: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Rows where a series' chart started again after a drift ended (`relphot_core.control.ControlResult.restart`)."""
    resumable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    """Rows of a drift still on where its series' chart may start again inside it
    (`relphot_core.control.ControlResult.resumable`)."""


def reference_pull_width(offset: np.ndarray, error: np.ndarray, groups: np.ndarray,
                         reference_points: int) -> float:
    """Robust width (MAD about 0) of the pulls ``offset / error`` over the
    first ``reference_points`` finite pulls of each group (rows in time
    order within a group), at least 0.5; 1.0 with fewer than 2 pulls.

    Parameters
    ----------
    offset, error : array_like
        Offsets and their errors (same units); NaN rows are ignored.
    groups : array_like
        Series label per row (a detector, a dither position).
    reference_points : int
        Leading finite points of each series that count.

    Returns
    -------
    float
    """
    offset = np.asarray(offset, dtype=float)
    error = np.asarray(error, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        pulls = offset / error
    finite = np.isfinite(pulls) & (error > 0)
    rows = np.flatnonzero(finite)
    if rows.size < 2:
        return 1.0
    labels = np.asarray(groups)[rows]
    order = np.argsort(labels, kind="stable")  # time order kept within each group
    sorted_labels = labels[order]
    starts = np.r_[0, np.flatnonzero(sorted_labels[1:] != sorted_labels[:-1]) + 1]
    rank = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    chosen = pulls[rows[order][rank < reference_points]]
    if chosen.size < 2:
        return 1.0
    return max(0.5, float(MAD_TO_SIGMA * np.median(np.abs(chosen))))


def pull_width(values: np.ndarray, errors: np.ndarray, groups: np.ndarray | None = None,
               reference_points: int | None = None) -> float:
    """`reference_pull_width` of the pulls ``(QPRELEX - 1) / QPRELEXE``
    (every finite one without ``groups``).

    With ``groups`` and ``reference_points``, only the first
    ``reference_points`` finite pulls of each group (the series' leading
    reference windows, rows in time order) count: a step or a drift later
    in a series does not widen the limits it is judged by, and pooling the
    groups keeps one series drifting from its start from widening them
    much either.
    """
    deviation = np.asarray(values, dtype=float) - 1.0
    if groups is None or reference_points is None:
        groups, reference_points = np.zeros(deviation.size, dtype=np.int64), deviation.size
    return reference_pull_width(deviation, errors, groups, reference_points)


def _line(t: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float, float, float, float]:
    """Weighted least-squares line ``y = a + b (t - t_mean)``: a, b, their
    errors and the weighted sum of squared residuals (b = 0 without a span)."""
    sw = w.sum()
    t_mean = float((w * t).sum() / sw)
    dt = t - t_mean
    stt = float((w * dt * dt).sum())
    a = float((w * y).sum() / sw)
    b = float((w * dt * y).sum() / stt) if stt > 0 else 0.0
    residual = y - a - b * dt
    sse = float((w * residual * residual).sum())
    return a, b, 1.0 / np.sqrt(sw), (1.0 / np.sqrt(stt) if stt > 0 else np.nan), sse


def change_point(t: np.ndarray, z: np.ndarray, lo: int, hi: int, end: int) -> int:
    """The start of a drift: the row ``c`` in ``[lo, hi]`` that best explains
    ``z`` (standardised values of one series, in-control level 0) as 0
    before ``c`` and, from ``c`` on, either a step (a constant) or a ramp
    (a line from 0 at ``c``), in least squares over ``[lo, hi + FIT_POINTS)``
    capped at ``end``.

    Both shapes have one free parameter, so neither is favoured; a free
    line (two) would fit a ramp from too early a start as well as from the
    right one.

    Parameters
    ----------
    t, z : numpy.ndarray
        Times (days) and standardised values of the series' finite points.
    lo, hi : int
        The candidates (positions in ``t``, ``z``).
    end : int
        Last position of the drift.

    Returns
    -------
    int

    Examples
    --------
    >>> z = np.r_[np.zeros(20), np.full(10, 1.5), np.full(30, 12.0)]  # a small shift, then a big step at 30
    >>> change_point(np.arange(60.0), z, 15, 40, 59)
    30
    >>> ramp = np.r_[np.zeros(40), 0.3 * np.arange(1, 41)]            # rising from 0 at 39: the first point is 40
    >>> change_point(np.arange(80.0), ramp, 10, 60, 79)
    39
    """
    stop = min(end + 1, hi + FIT_POINTS)  # every candidate is judged on the same points, lo .. stop - 1
    y = z[lo:stop]
    x = t[lo:stop]
    total = float((y * y).sum())
    best, best_cost = hi, np.inf
    for c in range(lo, min(hi, stop - 1) + 1):
        after, since = y[c - lo:], x[c - lo:] - t[c]
        # step: SSE = total - (sum y)^2 / n; ramp through 0 at c: SSE = total - (sum y dt)^2 / sum dt^2
        gain = float(after.sum()) ** 2 / after.size
        spread = float((since * since).sum())
        if spread > 0:
            gain = max(gain, float((after * since).sum()) ** 2 / spread)
        if total - gain < best_cost:
            best, best_cost = c, total - gain
    return best


def _describe(kind: SeriesKind, label: object, obs_id: np.ndarray, mjd: np.ndarray, drift: SeriesDrift,
              ongoing: bool) -> str:
    since, since_obs = ((drift.carried.start_mjd, drift.carried.start_obs) if drift.carried is not None
                        else (mjd[drift.start], obs_id[drift.start]))
    text = (f"drift of {kind.label} {label} since {mjd_to_day(since)} (obs {since_obs}): "
            f"now {kind.amount(drift.level, drift.level_error)}")
    if np.isfinite(drift.slope):
        text += f", {kind.amount(drift.slope, digits=kind.digits + 1)}/day"
    if not ongoing:
        text += f"; ended after obs {obs_id[drift.end]} ({mjd_to_day(mjd[drift.end])})"
    return text


def series_alarms(
    obs_id: np.ndarray,
    series: np.ndarray,
    mjd: np.ndarray,
    value: np.ndarray,
    error: np.ndarray,
    control: Control = Control(),
    kind: SeriesKind = DITHER_SERIES,
    *,
    scale: float | None = None,
    carried: Mapping[Any, CarriedDrift] | None = None,
) -> SeriesAlarms:
    """Control-chart alarms of one filter's series, and their drifts described.

    Parameters
    ----------
    obs_id, series, mjd : array_like
        Observation id, series label (dither position or detector) and
        time of each row, in time order within each series.
    value, error : array_like
        The deviation from the in-control level 0 (``QPRELEX - 1``, or a
        detector offset in mag) and its error; NaN where missing.
    control : Control
        The rules' parameters.
    kind : SeriesKind
        How the series and values are named (`DITHER_SERIES`,
        `DETECTOR_SERIES`).
    scale : float, optional
        The width of the pulls when already known (`SeriesAlarms.scale` of
        an earlier computation whose series had their whole reference
        windows): the series may then start anywhere (the tail of a season,
        `relphot_core.qc.resume`); default: `reference_pull_width` of these
        rows.
    carried : mapping, optional
        ``{series: CarriedDrift}``: series whose rows start inside a drift
        (needs ``scale``); rows before ``judged_since`` only fill the
        chart's memory.

    Returns
    -------
    SeriesAlarms
    """
    obs_id = np.asarray(obs_id)
    series = np.asarray(series)
    mjd = np.asarray(mjd, dtype=float)
    value = np.asarray(value, dtype=float)
    error = np.asarray(error, dtype=float)
    n = value.size
    alarm = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    since = np.full(n, np.nan)
    member = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return SeriesAlarms(alarm, reason, since, member, 1.0, [])
    finite = np.isfinite(value) & np.isfinite(error) & (error > 0)
    if scale is None:
        scale = reference_pull_width(value, error, series, control.reference_points)
        # too few points to know the width: no alarm (control_rules needs its reference window then)
        enough = int(finite.sum()) >= control.min_reference_points
    else:
        enough = True
    carried = dict(carried or {})
    if carried and not enough:
        raise ValueError("carried drifts need the scale")
    resumed = {label: Resumed(int(((series == label) & (mjd < drift.judged_since)).sum()), drift.direction,
                              drift.delta) for label, drift in carried.items()}
    result = control_rules(value, error, mjd, series, center=0.0, scale=scale if enough else None,
                           resumed=resumed, **asdict(control))
    with np.errstate(invalid="ignore", divide="ignore"):
        # winsorised as the CUSUM's input is (one wild point must not decide where a drift starts), and
        # shrunk by the CUSUM's allowance k: a shift the chart tolerates (a partner's leak) starts nothing
        z = np.clip(value / (scale * error), -control.outlier_nsigma, control.outlier_nsigma)
        z = np.sign(z) * np.maximum(np.abs(z) - control.cusum_k, 0.0)
    last_row = {label: int(np.flatnonzero(series == label)[-1]) for label in np.unique(series).tolist()}
    drifts: list[SeriesDrift] = []
    rows_of: dict[object, np.ndarray] = {}
    after_drift: dict[object, int] = {}  # per series: the position after its latest drift so far
    for item in result.alarms:
        if item.kind != DRIFT:
            continue
        rows = rows_of.get(item.group)
        if rows is None:
            rows = rows_of[item.group] = np.flatnonzero((series == item.group) & finite)
        if rows.size == 0:
            continue
        first, end = (int(np.searchsorted(rows, r)) for r in (item.first, item.end))
        cusum_start = int(np.searchsorted(rows, item.start))
        carry = carried.get(item.group) if first == 0 and item.start == item.first else None
        # the start: the best change point around the CUSUM's, not before the previous drift of the series
        previous_end = after_drift.get(item.group, 0)
        lo = max(previous_end, cusum_start - SEARCH_BEFORE)
        start = 0 if carry is not None else change_point(mjd[rows], z[rows], lo, min(first, end), end)
        tail = rows[max(start, end + 1 - LEVEL_POINTS):end + 1]
        weights = 1.0 / (scale * error[tail]) ** 2
        if tail.size >= 3:
            a, b, a_error, b_error, _ = _line(mjd[tail], value[tail], weights)
            t_mean = float((weights * mjd[tail]).sum() / weights.sum())
            span = mjd[tail[-1]] - t_mean
            level = a + b * span
            level_error = float(np.hypot(a_error, b_error * span)) if np.isfinite(b_error) else a_error
            if not np.isfinite(b_error):
                b = np.nan
        else:
            level = float((weights * value[tail]).sum() / weights.sum())
            level_error, b, b_error = 1.0 / float(np.sqrt(weights.sum())), np.nan, np.nan
        if carry is not None:  # starts before the rows given: from the series' first one
            first_row = int(np.flatnonzero(series == item.group)[0])
            drifts.append(SeriesDrift(item.group, first_row, first_row, int(rows[end]), float(level),
                                      float(level_error), float(b), float(b_error), item.direction,
                                      int(end + 1) + carry.points_before, item.delta, carry))
        else:
            drifts.append(SeriesDrift(item.group, int(rows[start]), int(rows[first]), int(rows[end]), float(level),
                                      float(level_error), float(b), float(b_error), item.direction,
                                      int(end - start + 1), item.delta))
        after_drift[item.group] = max(after_drift.get(item.group, 0), end + 1)
    drifts.sort(key=lambda d: d.start)
    series_rows = {label: np.flatnonzero(series == label) for label in {d.series for d in drifts}}
    for index, drift in enumerate(drifts):
        rows = series_rows[drift.series]
        rows = rows[np.searchsorted(rows, drift.start):np.searchsorted(rows, drift.end, side="right")]
        ongoing = drift.end == last_row[drift.series]
        alarm[rows] = DRIFT
        reason[rows] = _describe(kind, drift.series, obs_id, mjd, drift, ongoing)
        since[rows] = drift.carried.start_mjd if drift.carried is not None else mjd[drift.start]
        member[rows] = index
    for item in result.alarms:
        i = item.first
        if item.kind != OUTSIDE_LIMITS or member[i] >= 0:
            continue
        alarm[i] = OUTSIDE_LIMITS
        reason[i] = kind.outlier_text(float(value[i]), item.sigmas, item.group)
    return SeriesAlarms(alarm, reason, since, member, scale, drifts, result.restart, result.resumable)


def dither_alarms(
    obs_id: np.ndarray,
    dither: np.ndarray,
    mjd: np.ndarray,
    value: np.ndarray,
    error: np.ndarray,
    control: Control = Control(),
    *,
    scale: float | None = None,
) -> SeriesAlarms:
    """`series_alarms` of one filter's exposures, one series per dither position.

    Parameters
    ----------
    obs_id, dither, mjd, value, error : array_like
        One entry per exposure, in time order (MJD non-decreasing); value is
        QPRELEX, NaN value or error for NODATA.
    control : Control
        The rules' parameters.

    Returns
    -------
    SeriesAlarms

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> n = 300
    >>> obs = np.repeat(np.arange(1000, 1000 + n), 4)
    >>> dither = np.tile([1, 2, 3, 4], n)
    >>> mjd = 60700.0 + obs / 10.0 - 100.0
    >>> value = 1.0 + rng.normal(0, 0.0005, obs.size)
    >>> value[(dither == 2) & (obs >= 1200) & (obs < 1220)] -= 0.005   # a 0.5 % step over 20 observations
    >>> found = dither_alarms(obs, dither, mjd, value, np.full(obs.size, 0.0005))
    >>> [(int(obs[d.start]), int(obs[d.end])) for d in found.drifts]
    [(1200, 1219)]
    >>> found.reason[found.drifts[0].end]
    'drift of dither 2 since 2025-02-14 (obs 1200): now -0.48 ± 0.02 %, +0.013 %/day; ended after obs 1219 (2025-02-15)'
    """
    return series_alarms(obs_id, dither, mjd, np.asarray(value, dtype=float) - 1.0, error, control, DITHER_SERIES,
                         scale=scale)


def detector_alarms(
    obs_id: np.ndarray,
    detector: np.ndarray,
    mjd: np.ndarray,
    offset: np.ndarray,
    error: np.ndarray,
    control: Control = Control(),
    *,
    scale: float | None = None,
    carried: Mapping[Any, CarriedDrift] | None = None,
) -> SeriesAlarms:
    """`series_alarms` of one filter's detector offsets, one series per detector.

    Parameters
    ----------
    obs_id, detector, mjd, offset, error : array_like
        One entry per (exposure, detector), in time order within each
        detector (e.g. sorted by detector then MJD, the order of
        `relphot_core.store.Store.detector_table`, fastest; or all by MJD).
        ``offset = median - mag_offset`` and ``error`` in mag; NaN where
        missing.
    control : Control
        The rules' parameters.
    scale, carried
        As `series_alarms`' (the tail of a season).

    Returns
    -------
    SeriesAlarms

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> n = 600
    >>> offset = rng.normal(0, 0.002, n)
    >>> offset[400:] += 0.02                         # a 2 % step of the detector from row 400
    >>> found = detector_alarms(np.arange(n), np.full(n, 23), 60000 + np.arange(n) / 10, offset,
    ...                         np.full(n, 0.002))
    >>> found.alarm[399], found.alarm[450], found.drifts[0].start
    ('', 'drift', 400)
    >>> found.reason[450].startswith("drift of detector 23 since")
    True
    """
    return series_alarms(obs_id, detector, mjd, offset, error, control, DETECTOR_SERIES, scale=scale,
                         carried=carried)
