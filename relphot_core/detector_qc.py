"""The per-detector summary of a period's offsets (the detector page's
map). The control chart of each (filter, detector) series is
`relphot_core.qc.detector_alarms`.

Pure functions of numpy arrays: no I/O, no store.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .config import DETECTORS, Detectors
from .flags import detector_status
from .photometry import MEDIAN_EFFICIENCY
from .stats import MAD_TO_SIGMA
from .status import Status


SUMMARY_COLUMNS: tuple[str, ...] = ("detector", "median_mmag", "error_mmag", "count", "flagged", "status",
                                    "worst_mmag", "worst_error_mmag", "worst_obs", "worst_exposure", "worst_status")
"""Columns of `detector_summary`."""


def detector_summary(
    detector: np.ndarray,
    offset: np.ndarray,
    error: np.ndarray,
    n: np.ndarray,
    flagged: np.ndarray,
    thresholds: Detectors = Detectors(),
    detectors: tuple[int, ...] = DETECTORS,
    obs_id: np.ndarray | None = None,
    exposure: np.ndarray | None = None,
) -> pd.DataFrame:
    """Per-detector summary of a period's offsets (one row per detector).

    Each detector's *worst* offset of the period (the worst status, then the
    largest ``|offset|``) is given too, with its error, its exposure and its status
    (`relphot_core.flags.detector_status` of that one offset): one bad
    exposure of a detector shows there, where the median hides it.

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
    obs_id, exposure : array_like, optional
        The rows' observation and dither (the worst offset's exposure).

    Returns
    -------
    pandas.DataFrame
        `SUMMARY_COLUMNS`: detector, median_mmag, error_mmag (NaN without
        finite offsets), count (finite offsets), flagged (rows flagged),
        status (OK / WARN / FAIL / NODATA); worst_mmag, worst_error_mmag,
        worst_obs and worst_exposure (-1 when not given or no offset),
        worst_status.
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
    worst, worst_error, worst_n = np.full(size, np.nan), np.full(size, np.nan), np.zeros(size)
    worst_obs, worst_exposure = np.full(size, -1, dtype=np.int64), np.full(size, -1, dtype=np.int64)
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
        # the worst: the worst status (FAIL, WARN, OK), then the largest |offset|
        where = np.flatnonzero(rows)[good]
        judged = detector_status(values, error[where], n[where], thresholds)
        rank = np.select([judged == Status.FAIL.value, judged == Status.WARN.value], [2.0, 1.0], 0.0)
        at = where[int(np.lexsort((np.abs(values), rank))[-1])]
        worst[k], worst_error[k], worst_n[k] = offset[at], error[at], n[at]
        if obs_id is not None:
            worst_obs[k] = int(np.asarray(obs_id)[at])
        if exposure is not None:
            worst_exposure[k] = int(np.asarray(exposure)[at])
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
        "worst_mmag": 1000 * worst,
        "worst_error_mmag": 1000 * worst_error,
        "worst_obs": worst_obs,
        "worst_exposure": worst_exposure,
        "worst_status": detector_status(worst, worst_error, worst_n, thresholds).astype(object),
    }, columns=list(SUMMARY_COLUMNS))
