"""QC signals across observations: the control charts of each (filter,
dither position), named for what they find.

One series per dither position of a filter, in time order: ``QPRELEX - 1``
with its error. The in-control level is known (0: the factors are relative
within each observation) and the width is the robust width of the pulls
``(QPRELEX - 1) / QPRELEXE`` over the leading reference windows of *every*
dither of the filter (`pull_width`), which a later step or one drifting
dither cannot inflate much. `relphot_core.control.control_rules` then
marks single points *outside control limits* and *drifts* (a persistent
shift, CUSUM), with false-alarm rates of about 1e-4 per point.

Alarm names, the same from here to the page: `OUTSIDE_LIMITS`
("outside control limits") and `DRIFT` ("drift").
"""
from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

import numpy as np

from .config import Control
from .control import ALARM_DRIFT, ALARM_OUTSIDE_LIMITS, DRIFT, OUTSIDE_LIMITS, control_rules
from .mjd import mjd_to_day
from .stats import MAD_TO_SIGMA
from .status import OUT_OF_LIMITS

ALARM_KINDS: tuple[str, ...] = (OUTSIDE_LIMITS, DRIFT)


@dataclass(frozen=True)
class DitherAlarms:
    """Per exposure of a filter's series (aligned with the input arrays)."""

    alarm: np.ndarray
    """``""``, `OUTSIDE_LIMITS` or `DRIFT` (a point inside a drift is the drift's)."""
    reason: np.ndarray
    """What the alarm says, e.g. ``drift of dither 4 since 2025-02-03 (obs 1040): -1.21 % (-9.8 σ)``."""
    drift_since: np.ndarray
    """MJD where the drift started (NaN outside drifts)."""
    scale: float
    """The width of the pulls used (1 for calibrated errors)."""


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


def dither_alarms(
    obs_id: np.ndarray,
    dither: np.ndarray,
    mjd: np.ndarray,
    value: np.ndarray,
    error: np.ndarray,
    control: Control = Control(),
) -> DitherAlarms:
    """Control-chart alarms of one filter's exposures, per dither position.

    Parameters
    ----------
    obs_id, dither, mjd, value, error : array_like
        One entry per exposure, in time order (MJD non-decreasing); NaN
        value or error for NODATA.
    control : Control
        The rules' parameters.

    Returns
    -------
    DitherAlarms
    """
    obs_id = np.asarray(obs_id)
    dither = np.asarray(dither)
    mjd = np.asarray(mjd, dtype=float)
    value = np.asarray(value, dtype=float)
    error = np.asarray(error, dtype=float)
    n = value.size
    alarm = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    since = np.full(n, np.nan)
    scale = pull_width(value, error, dither, control.reference_points)
    if n == 0:
        return DitherAlarms(alarm, reason, since, scale)
    enough = int(np.isfinite(value).sum()) >= control.min_reference_points
    # too few points to know the width: no alarm (control_rules needs its reference window then)
    result = control_rules(value - 1.0, error, mjd, dither, center=0.0, scale=scale if enough else None,
                           **asdict(control))
    for item in result.alarms:
        if item.kind == OUTSIDE_LIMITS:
            i = item.first
            if alarm[i] == DRIFT:
                continue
            alarm[i] = OUTSIDE_LIMITS
            reason[i] = (f"outside control limits: QPRELEX {value[i]:.4f} is {item.sigmas:+.1f} σ from 1 "
                         f"for dither {item.group} of this filter")
    bits = result.alarm
    in_drift = (bits & ALARM_DRIFT) != 0
    drift_text: dict[int, str] = {}
    for item in result.alarms:
        if item.kind == DRIFT:
            # the shift shown: the median over the points that raised the alarm (start..first)
            span = np.flatnonzero((dither == item.group) & np.isfinite(value))
            span = span[(span >= item.start) & (span <= item.first)]
            shift = float(np.median(value[span] - 1.0)) if span.size else item.magnitude
            drift_text[item.start] = (f"drift of dither {item.group} since {mjd_to_day(mjd[item.start])} "
                                      f"(obs {obs_id[item.start]}): {100 * shift:+.2f} % over "
                                      f"{span.size} observation{'s' if span.size != 1 else ''} to the alarm")
    for i in np.flatnonzero(in_drift):
        start = int(result.drift_start[i])
        alarm[i] = DRIFT
        reason[i] = drift_text.get(start, f"drift of dither {dither[i]}")
        since[i] = mjd[start] if start >= 0 else np.nan
    lone = ((bits & ALARM_OUTSIDE_LIMITS) != 0) & ~in_drift & (alarm == "")
    for i in np.flatnonzero(lone):  # outside the limits but folded into an alarm list entry elsewhere
        alarm[i] = OUTSIDE_LIMITS
        reason[i] = f"outside control limits: QPRELEX {value[i]:.4f} for dither {dither[i]} of this filter"
    return DitherAlarms(alarm, reason, since, scale)


_WORST_DETECTOR = re.compile(r"(?:worst )?detector (\d{2})")


def causes(
    obs_id: np.ndarray,
    filter_name: np.ndarray,
    dither: np.ndarray,
    alarm: np.ndarray,
    drift_since: np.ndarray,
    detector_flag: np.ndarray,
    detector_reason: np.ndarray,
) -> np.ndarray:
    """The cause each flagged exposure is grouped under for review.

    - ``drift of NIR_H dither 4 since 2025-01-26``: every exposure of one
      drift alarm;
    - ``detector 23 of NIR_J``: exposures whose worst flagged detector is
      that one (a flat-field problem recurs);
    - ``observation 1040 NIR_H``: everything else, by observation (its
      dithers' flags usually share one cause, e.g. one bad exposure and
      the collateral flags of its partners).

    Parameters
    ----------
    obs_id, filter_name, dither, alarm, drift_since, detector_flag, detector_reason : array_like
        Columns of an exposure table with the control-chart and detector
        columns (``alarm`` "" / "outside control limits" / "drift").

    Returns
    -------
    numpy.ndarray of object (str)
    """
    n = len(obs_id)
    out = np.empty(n, dtype=object)
    for i in range(n):
        band = str(filter_name[i])
        if alarm[i] == DRIFT:
            out[i] = f"drift of {band} dither {int(dither[i])} since {mjd_to_day(float(drift_since[i]))}"
            continue
        if detector_flag[i] in OUT_OF_LIMITS:
            match = _WORST_DETECTOR.search(str(detector_reason[i] or ""))
            if match:
                out[i] = f"detector {match.group(1)} of {band}"
                continue
        out[i] = f"observation {int(obs_id[i])} {band}"
    return out
