"""QC statuses of exposure factors and the drift control chart.

Pure functions; the thresholds come from `relphot_core.config.Thresholds`.
"""
from __future__ import annotations

from dataclasses import dataclass

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .config import Thresholds
from .stats import MAD_TO_SIGMA


def exposure_status(
    value: np.ndarray,
    error: np.ndarray,
    thresholds: Thresholds = Thresholds(),
) -> np.ndarray:
    """Status of each factor: ``OK``, ``WARN``, ``FAIL`` or ``NODATA``.

    - ``FAIL``: ``|value - 1| > thresholds.fail``;
    - ``WARN``: ``|value - 1| > thresholds.warn`` and more than
      ``thresholds.warn_nsigma`` errors from 1;
    - ``NODATA``: the value is missing (NaN);
    - ``OK`` otherwise.

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
    value = np.atleast_1d(np.asarray(value, dtype=float))
    error = np.atleast_1d(np.asarray(error, dtype=float))
    deviation = np.abs(value - 1.0)
    significant = ~(deviation <= thresholds.warn_nsigma * np.nan_to_num(error, nan=0.0))
    status = np.full(value.shape, "OK", dtype="<U6")
    status[(deviation > thresholds.warn) & significant] = "WARN"
    status[deviation > thresholds.fail] = "FAIL"
    status[~np.isfinite(value)] = "NODATA"
    return status


def flag_reason(status: Any, value: Any, error: Any, thresholds: Thresholds | None) -> str:
    """Why a factor is ``WARN`` or ``FAIL``, in words.

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
        the other statuses (a ``NODATA`` factor has its own reason), without
        thresholds, and when the value does not pass the threshold (a status
        given with other thresholds: no wrong claim).

    Examples
    --------
    >>> flag_reason("FAIL", 0.9742, 0.0006, Thresholds(warn=0.005, fail=0.015))
    '|QPRELEX − 1| = 0.0258 > FAIL limit 0.015 (43 σ)'
    """
    if thresholds is None or status not in ("WARN", "FAIL"):
        return ""
    try:
        offset = abs(float(value) - 1.0)
    except (TypeError, ValueError):
        return ""
    limit = thresholds.fail if status == "FAIL" else thresholds.warn
    if not math.isfinite(offset) or offset <= limit:
        return ""
    text = f"|QPRELEX − 1| = {offset:.4f} > {status} limit {limit:g}"
    try:
        sigmas = offset / abs(float(error))
    except (TypeError, ValueError, ZeroDivisionError):
        sigmas = math.nan
    return text + (f" ({sigmas:.0f} σ)" if math.isfinite(sigmas) else "")


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
