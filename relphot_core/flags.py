"""QC statuses of exposure factors and detectors, and the drift control chart.

Pure functions; the thresholds come from `relphot_core.config.Thresholds`
(exposures) and `relphot_core.config.Detectors` (detectors). The status
type and the exposure rules are in `relphot_core.status`. The control
charts with a known false-alarm rate are in `relphot_core.control`.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from numpy.lib.stride_tricks import sliding_window_view

from .config import Detectors, Thresholds
from .photometry import mag_to_flux_ratio
from .stats import MAD_TO_SIGMA
from .status import OUT_OF_LIMITS, Status, exposure_statuses, reason_for, status_rank


def exposure_status(
    value: ArrayLike,
    error: ArrayLike,
    thresholds: Thresholds = Thresholds(),
) -> np.ndarray:
    """Status of each factor: ``OK``, ``WARN``, ``FAIL`` or ``NODATA``, by the
    rules of `relphot_core.status.EXPOSURE_RULES`.

    Parameters
    ----------
    value, error : array_like
        QPRELEX and QPRELEXE (NaN where missing; a NaN error with a finite
        value counts as an infinitely precise value).
    thresholds : Thresholds, optional

    Returns
    -------
    numpy.ndarray of str

    Examples
    --------
    >>> exposure_status([1.0, 0.97, 1.007, 1.007, np.nan], [0.001, 0.001, 0.001, 0.004, np.nan]).tolist()
    ['OK', 'FAIL', 'WARN', 'OK', 'NODATA']
    """
    return exposure_statuses(value, error, thresholds)


def flag_reason(status: Any, value: Any, error: Any, thresholds: Thresholds | None) -> str:
    """Why a factor has its status, in words (`relphot_core.status.reason_for`).

    Parameters
    ----------
    status : str
        The factor's status.
    value, error : float or None
        QPRELEX and QPRELEXE.
    thresholds : Thresholds or None
        The thresholds the status was given with.

    Returns
    -------
    str
        e.g. ``|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)``. Empty for
        ``OK``, without thresholds, and when the status's rule does not hold
        for the value (a status given with other thresholds: no wrong claim).

    Examples
    --------
    >>> flag_reason("FAIL", 0.9742, 0.0006, Thresholds(warn=0.005, fail=0.015))
    '|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)'
    """
    return reason_for(status, value, error, thresholds)


@dataclass(frozen=True)
class ControlChart:
    """Running-median control chart of a time-ordered series of factors.

    Attributes
    ----------
    center : numpy.ndarray
        Median of the ``window`` previous values (NaN until ``min_points``).
    low, high : numpy.ndarray
        ``center -+ nsigma * robust sigma`` of that window.
    outlier : numpy.ndarray of bool
        The value lies outside ``[low, high]``.
    drift : numpy.ndarray of bool
        The running median itself has moved beyond ``drift_limit`` from 1:
        the whole recent series is off, even if no single point stands out.
    """

    center: np.ndarray
    low: np.ndarray
    high: np.ndarray
    outlier: np.ndarray
    drift: np.ndarray


def _row_nanmedian(rows: np.ndarray, n_finite: np.ndarray) -> np.ndarray:
    """``np.nanmedian(rows, axis=1)`` for rows with ``n_finite`` (> 0) finite
    values: one sort (NaNs go last) and the middle of the finite part, ~4x
    faster than numpy's masked-array path when some rows hold NaNs."""
    ordered = np.sort(rows, axis=1)
    low = ((n_finite - 1) // 2)[:, None]
    high = (n_finite // 2)[:, None]
    return 0.5 * (np.take_along_axis(ordered, low, axis=1) + np.take_along_axis(ordered, high, axis=1))[:, 0]


def control_chart(
    values: np.ndarray,
    *,
    window: int = 60,
    nsigma: float = 3.0,
    drift_limit: float = 0.005,
    min_points: int = 20,
) -> ControlChart:
    """Trailing running median with robust control limits.

    Each point is compared with the ``window`` points before it (not
    itself), so a sudden jump stands out and a slow drift shows as the
    running median leaving 1. Vectorised over the series.

    Parameters
    ----------
    values : array_like
        Factors in time order; NaN values are skipped in the windows and
        never flagged.
    window : int, optional
        Number of previous points in the running window.
    nsigma : float, optional
        Half-width of the control band in robust sigmas.
    drift_limit : float, optional
        ``|center - 1|`` beyond which the series is drifting (the WARN
        threshold by default).
    min_points : int, optional
        Points needed in a window before limits are drawn.

    Returns
    -------
    ControlChart

    Examples
    --------
    >>> chart = control_chart(np.r_[np.ones(20), 0.95], window=10, min_points=5)
    >>> bool(chart.outlier[-1]), bool(chart.drift[-1])
    (True, False)
    """
    values = np.asarray(values, dtype=float)
    n = values.size
    nan = np.full(n, np.nan)
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return ControlChart(nan, nan, nan, empty, empty)
    padded = np.r_[np.full(window, np.nan), values[:-1]]
    windows = sliding_window_view(padded, window)  # row i: the window points before i
    counts = np.isfinite(windows).sum(axis=1)
    enough = counts >= min_points
    center, width = nan.copy(), nan.copy()
    if enough.any():
        usable = windows[enough]
        finite = counts[enough]
        center[enough] = _row_nanmedian(usable, finite)
        mad = _row_nanmedian(np.abs(usable - center[enough, None]), finite)
        width[enough] = MAD_TO_SIGMA * mad
    # A window of identical values has no width; never draw a zero band.
    width = np.maximum(width, 1e-4)
    low, high = center - nsigma * width, center + nsigma * width
    with np.errstate(invalid="ignore"):
        outlier = np.isfinite(values) & enough & ((values < low) | (values > high))
        drift = enough & (np.abs(center - 1.0) > drift_limit)
    return ControlChart(center, low, high, outlier, drift)


def _flux_deviation(offset: np.ndarray) -> np.ndarray:
    """``|10**(-0.4 m) - 1|``: the flux fraction a magnitude offset amounts to."""
    return np.abs(mag_to_flux_ratio(offset) - 1.0)


def _limit_mmag(fraction: float, sign: float) -> float:
    """The offset (mmag, absolute) at which ``|10**(-0.4 m) - 1| = fraction``
    on the side of ``sign`` (+ fainter, - brighter)."""
    factor = 1.0 - fraction if sign >= 0 else 1.0 + fraction
    return abs(-2.5 * math.log10(factor)) * 1000.0


def detector_status(
    offset: np.ndarray,
    error: np.ndarray,
    n: np.ndarray,
    thresholds: Detectors = Detectors(),
) -> np.ndarray:
    """Status of each (exposure, detector) offset: ``OK``, ``WARN``, ``FAIL`` or ``NODATA``.

    The limits are flux fractions, as for the exposures, and a detector is
    flagged only when its offset is also significant, so that a detector
    with few sources (a large error) is not flagged by noise:

    - ``NODATA``: offset or error missing (NaN, or a non-positive error), or
      ``n < thresholds.min_sources``;
    - ``FAIL``: ``|10**(-0.4 offset) - 1| > thresholds.fail`` and
      ``|offset| > thresholds.nsigma * error``;
    - ``WARN``: the same with ``thresholds.warn``;
    - ``OK`` otherwise.

    Parameters
    ----------
    offset : array_like
        Magnitude offsets (`DetectorStat.median`, mag, positive = fainter);
        NaN where missing.
    error : array_like
        Their 1-sigma errors (mag).
    n : array_like
        Sources behind each offset (`DetectorStat.n`).
    thresholds : Detectors, optional

    Returns
    -------
    numpy.ndarray of str
        Same shape as ``offset``; empty for empty input.

    Examples
    --------
    >>> detector_status([0.0, 0.0215, 0.0215, 0.008, 0.05], [0.002, 0.002, 0.03, 0.001, np.nan],
    ...                 [300, 300, 12, 300, 300]).tolist()
    ['OK', 'FAIL', 'OK', 'WARN', 'NODATA']
    """
    offset = np.atleast_1d(np.asarray(offset, dtype=float))
    error = np.atleast_1d(np.asarray(error, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    deviation = _flux_deviation(offset)
    with np.errstate(invalid="ignore"):
        missing = ~np.isfinite(offset) | ~(error > 0) | ~np.isfinite(error) | ~(n >= thresholds.min_sources)
        significant = np.abs(offset) > thresholds.nsigma * error
    status = np.full(offset.shape, Status.OK, dtype="<U6")
    status[(deviation > thresholds.warn) & significant] = Status.WARN
    status[(deviation > thresholds.fail) & significant] = Status.FAIL
    status[missing] = Status.NODATA
    return status


def detector_reason(
    detector: Any,
    status: str,
    offset: Any,
    error: Any,
    n: Any = None,
    thresholds: Detectors | None = Detectors(),
) -> str:
    """Why a detector is ``WARN``, ``FAIL`` or ``NODATA``, in words.

    Parameters
    ----------
    detector : int
        Detector number (11..44).
    status : str
        Its status (from `detector_status`).
    offset, error : float or None
        Its offset and error in mag (positive = fainter).
    n : int, optional
        Its number of sources (for the ``NODATA`` reason).
    thresholds : Detectors or None, optional
        The thresholds the status was given with.

    Returns
    -------
    str
        e.g. ``detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag``:
        offset in mmag with an explicit sign (+ = fainter), the limit on the
        side of the offset. Empty for ``OK``, without thresholds, and when
        the offset does not pass the limit (a status given with other
        thresholds: no wrong claim).

    Examples
    --------
    >>> detector_reason(23, "FAIL", 0.0498, 0.0021)
    'detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag'
    >>> detector_reason(31, "NODATA", None, None, n=4)
    'detector 31: no offset (4 sources < 10)'
    """
    if thresholds is None or status not in (*OUT_OF_LIMITS, Status.NODATA):
        return ""
    try:
        value = float(offset)
    except (TypeError, ValueError):
        value = math.nan
    try:
        sigma = float(error)
    except (TypeError, ValueError):
        sigma = math.nan
    if status == Status.NODATA:
        if n is not None and n < thresholds.min_sources:
            return f"detector {detector}: no offset ({int(n)} sources < {thresholds.min_sources})"
        return f"detector {detector}: no offset"
    limit = thresholds.fail if status == Status.FAIL else thresholds.warn
    if not math.isfinite(value) or _flux_deviation(np.float64(value)) <= limit:
        return ""
    text = f"detector {detector}: {1000 * value:+.1f}"
    if math.isfinite(sigma) and sigma > 0:
        text += f" ± {1000 * sigma:.1f} mmag ({abs(value) / sigma:.0f} σ)"
    else:
        text += " mmag"
    return text + f" > {status} limit {_limit_mmag(limit, value):.1f} mmag"


@dataclass(frozen=True)
class DetectorFlag:
    """The exposure-level summary of its detectors' statuses.

    Attributes
    ----------
    kind : str
        The worst status among the detectors with data: ``FAIL``, ``WARN`` or
        ``OK``; ``NODATA`` when no detector has data (or there is none).
    reason : str
        e.g. ``2 of 16 detectors flagged (1 FAIL, 1 WARN); worst detector
        23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag``; empty for OK.
    worst : int or None
        The worst detector (highest status, then largest significance).
    n_fail, n_warn, n_nodata : int
        Detectors of each status.
    offset, error : float or None
        The worst detector's offset and its error (mag; None without one).
    """

    kind: str
    reason: str
    worst: int | None
    n_fail: int
    n_warn: int
    n_nodata: int
    offset: float | None = None
    error: float | None = None


def exposure_detector_flag(
    detectors: ArrayLike,
    offset: ArrayLike,
    error: ArrayLike,
    n: ArrayLike,
    thresholds: Detectors = Detectors(),
) -> DetectorFlag:
    """The "detector flag" of one exposure from its detectors' offsets.

    Parameters
    ----------
    detectors : array_like of int
        Detector numbers of the exposure.
    offset, error, n : array_like
        Their offsets (mag, positive = fainter), errors (mag) and source
        counts, as for `detector_status`.
    thresholds : Detectors, optional

    Returns
    -------
    DetectorFlag

    Examples
    --------
    >>> flag = exposure_detector_flag([11, 23, 34], [0.001, 0.0498, 0.007], [0.002, 0.0021, 0.001], [300, 280, 310])
    >>> flag.kind, flag.worst, flag.n_fail, flag.n_warn
    ('FAIL', 23, 1, 1)
    >>> flag.reason
    '2 of 3 detectors flagged (1 FAIL, 1 WARN); worst detector 23: +49.8 ± 2.1 mmag (24 σ) > FAIL limit 16.4 mmag'
    >>> exposure_detector_flag([], [], [], []).kind
    'NODATA'
    """
    detectors = np.atleast_1d(np.asarray(detectors))
    offset = np.atleast_1d(np.asarray(offset, dtype=float))
    error = np.atleast_1d(np.asarray(error, dtype=float))
    n = np.atleast_1d(np.asarray(n, dtype=float))
    status = detector_status(offset, error, n, thresholds)
    n_fail, n_warn = int((status == Status.FAIL).sum()), int((status == Status.WARN).sum())
    n_nodata = int((status == Status.NODATA).sum())
    if n_nodata == status.size:
        return DetectorFlag(Status.NODATA.value, "no detector offset" if status.size == 0 else
                            f"no detector offset ({status.size} detectors without data)", None, 0, 0, n_nodata)
    if n_fail + n_warn == 0:
        return DetectorFlag(Status.OK.value, "", None, 0, 0, n_nodata)
    # the worst detector with data: NODATA ranks below OK here
    rank = np.array([status_rank(s) if s != Status.NODATA else -1 for s in status])
    with np.errstate(invalid="ignore", divide="ignore"):
        significance = np.nan_to_num(np.abs(offset) / error, nan=0.0, posinf=0.0)
    worst = int(np.lexsort((significance, rank))[-1])
    kind = str(status[worst])
    counts = ", ".join(f"{count} {name}" for count, name in ((n_fail, Status.FAIL), (n_warn, Status.WARN)) if count)
    reason = (f"{n_fail + n_warn} of {status.size} detectors flagged ({counts}); worst "
              + detector_reason(detectors[worst].item(), kind, offset[worst], error[worst], n[worst], thresholds))
    return DetectorFlag(kind, reason, detectors[worst].item(), n_fail, n_warn, n_nodata, float(offset[worst]),
                        float(error[worst]))
