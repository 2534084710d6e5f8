"""QC signals of the NISP detectors across observations: one control chart
per (filter, detector), and a per-detector summary over a period.

One series per detector of a filter, in time order: the detector's offset
against its own exposure, ``offset = median - mag_offset`` (mag, positive =
fainter), with its error. As for the dither positions
(`relphot_core.qc.dither_alarms`), the in-control level is known (0: the
offsets are relative to the exposure) and the width is the robust width of
the pulls ``offset / error`` over the leading reference windows of *every*
detector of the filter (`reference_pull_width`), which one bad or drifting
detector cannot inflate much. `relphot_core.control.control_rules` marks
single offsets *outside control limits* and *drifts* (CUSUM), with
false-alarm rates of about 1e-4 per point.

Pure functions of numpy arrays: no I/O, no store.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from .config import DETECTORS, Control, Detectors
from .control import ALARM_DRIFT, ALARM_OUTSIDE_LIMITS, DRIFT, OUTSIDE_LIMITS, control_rules
from .flags import detector_status
from .mjd import mjd_to_day
from .qc import reference_pull_width
from .stats import MAD_TO_SIGMA

MEDIAN_EFFICIENCY = 1.2533
"""sqrt(pi / 2): the standard error of a median of Gaussian values is this
times the standard deviation over sqrt(n)."""

SUMMARY_COLUMNS: tuple[str, ...] = ("detector", "median_mmag", "error_mmag", "count", "flagged", "status")
"""Columns of `detector_summary`."""


@dataclass(frozen=True)
class DetectorAlarms:
    """Per row of a filter's detector table (aligned with the input arrays)."""

    alarm: np.ndarray
    """``""``, `OUTSIDE_LIMITS` or `DRIFT` (a point inside a drift is the drift's)."""
    reason: np.ndarray
    """What the alarm says, e.g. ``drift of detector 23 since 2025-02-03 (obs 1040): +12.3 mmag over 9
    exposures to the alarm``; ``""`` without alarm."""
    drift_since: np.ndarray
    """MJD where the drift started (NaN outside drifts)."""
    scale: float
    """The width of the pulls used (1 for calibrated errors)."""


def detector_alarms(
    obs_id: np.ndarray,
    detector: np.ndarray,
    mjd: np.ndarray,
    offset: np.ndarray,
    error: np.ndarray,
    control: Control = Control(),
) -> DetectorAlarms:
    """Control-chart alarms of one filter's detector offsets, per detector.

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

    Returns
    -------
    DetectorAlarms

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> n = 600
    >>> offset = rng.normal(0, 0.002, n)
    >>> offset[400:] += 0.02                         # a 2 % step of the detector from row 400
    >>> found = detector_alarms(np.arange(n), np.full(n, 23), 60000 + np.arange(n) / 10, offset,
    ...                         np.full(n, 0.002))
    >>> found.alarm[399], found.alarm[450]
    ('', 'drift')
    >>> found.reason[450].startswith("drift of detector 23 since")
    True
    """
    obs_id = np.asarray(obs_id)
    detector = np.asarray(detector)
    mjd = np.asarray(mjd, dtype=float)
    offset = np.asarray(offset, dtype=float)
    error = np.asarray(error, dtype=float)
    n = offset.size
    alarm = np.full(n, "", dtype=object)
    reason = np.full(n, "", dtype=object)
    since = np.full(n, np.nan)
    if n == 0:
        return DetectorAlarms(alarm, reason, since, 1.0)
    scale = reference_pull_width(offset, error, detector, control.reference_points)
    finite = np.isfinite(offset) & np.isfinite(error) & (error > 0)
    # too few points to know the width: no alarm (control_rules needs its reference window then)
    enough = int(finite.sum()) >= control.min_reference_points
    result = control_rules(offset, error, mjd, detector, center=0.0, scale=scale if enough else None,
                           **asdict(control))
    bits = result.alarm
    in_drift = (bits & ALARM_DRIFT) != 0
    for item in result.alarms:
        if item.kind != OUTSIDE_LIMITS:
            continue
        i = item.first
        if in_drift[i]:
            continue
        alarm[i] = OUTSIDE_LIMITS
        reason[i] = (f"outside control limits: offset {1000 * offset[i]:+.1f} mmag is {item.sigmas:+.1f} σ "
                     f"from 0 for detector {item.group} of this filter")
    drift_text: dict[int, str] = {}
    for item in result.alarms:
        if item.kind != DRIFT:
            continue
        # the shift shown: the median over the points that raised the alarm (start..first)
        span = np.arange(item.start, item.first + 1)
        span = span[(detector[span] == item.group) & finite[span]]
        shift = float(np.median(offset[span])) if span.size else item.magnitude
        drift_text[item.start] = (
            f"drift of detector {item.group} since {mjd_to_day(mjd[item.start])} (obs {obs_id[item.start]}): "
            f"{1000 * shift:+.1f} mmag over {span.size} exposure{'s' if span.size != 1 else ''} to the alarm")
    drifting = np.flatnonzero(in_drift)
    if drifting.size:
        starts = result.drift_start[drifting]
        unique, inverse = np.unique(starts, return_inverse=True)
        texts = np.array([drift_text.get(int(s), f"drift of detector {detector[s]}") for s in unique],
                         dtype=object)
        alarm[drifting] = DRIFT
        reason[drifting] = texts[inverse.ravel()]
        since[drifting] = np.where(starts >= 0, mjd[np.maximum(starts, 0)], np.nan)
    lone = np.flatnonzero(((bits & ALARM_OUTSIDE_LIMITS) != 0) & ~in_drift & (alarm == ""))
    for i in lone:  # outside the limits but folded into an alarm list entry elsewhere
        alarm[i] = OUTSIDE_LIMITS
        reason[i] = f"outside control limits: offset {1000 * offset[i]:+.1f} mmag for detector {detector[i]}"
    return DetectorAlarms(alarm, reason, since, scale)


def detector_summary(
    detector: np.ndarray,
    offset: np.ndarray,
    error: np.ndarray,
    n: np.ndarray,
    flagged: np.ndarray,
    thresholds: Detectors = Detectors(),
    detectors: tuple[int, ...] = DETECTORS,
) -> pd.DataFrame:
    """Per-detector summary of a period's offsets (one row per detector).

    The error of the median offset is the robust standard error of a
    median from the scatter of the offsets themselves,
    ``1.2533 * 1.4826 * MAD / sqrt(count)``, so that a detector whose offset
    varies within the period gets the error of that variation, not only of
    the photon noise (with one offset: that offset's own error). The status
    is `relphot_core.flags.detector_status` of the median offset with that
    error and the period's total number of sources.

    Parameters
    ----------
    detector, offset, error, n : array_like
        The period's rows: detector number, offset (mag), its error (mag),
        sources behind it.
    flagged : array_like of bool
        Which rows carry a flag (a WARN / FAIL status or a control-chart alarm).
    thresholds : Detectors
    detectors : tuple of int
        The detectors to report, in order (default the NISP 11..44).

    Returns
    -------
    pandas.DataFrame
        `SUMMARY_COLUMNS`: detector, median_mmag, error_mmag (NaN without
        finite offsets), count (finite offsets), flagged (rows flagged),
        status (OK / WARN / FAIL / NODATA).
    """
    detector = np.asarray(detector)
    offset = np.asarray(offset, dtype=float)
    error = np.asarray(error, dtype=float)
    n = np.asarray(n, dtype=float)
    flagged = np.asarray(flagged, dtype=bool)
    size = len(detectors)
    median = np.full(size, np.nan)
    spread = np.full(size, np.nan)
    counts = np.zeros(size, dtype=np.int64)
    flags = np.zeros(size, dtype=np.int64)
    sources = np.zeros(size)
    for k, det in enumerate(detectors):
        rows = detector == det
        flags[k] = int(np.count_nonzero(flagged & rows))
        values = offset[rows]
        good = np.isfinite(values)
        values = values[good]
        counts[k] = values.size
        if not values.size:
            continue
        sources[k] = float(np.nansum(n[rows][good]))
        median[k] = float(np.median(values))
        if values.size == 1:
            spread[k] = float(error[rows][good][0])
        else:
            mad_sigma = MAD_TO_SIGMA * float(np.median(np.abs(values - median[k])))
            spread[k] = MEDIAN_EFFICIENCY * mad_sigma / np.sqrt(values.size)
    status = detector_status(median, spread, sources, thresholds)
    return pd.DataFrame({
        "detector": np.asarray(detectors, dtype=np.int64),
        "median_mmag": 1000 * median,
        "error_mmag": 1000 * spread,
        "count": counts,
        "flagged": flags,
        "status": status.astype(object),
    }, columns=list(SUMMARY_COLUMNS))
