"""Per-(exposure, detector) offsets of one filter's current runs, as numpy
columns: what the detector page's control charts and focal plane need.

A survey holds ~7.7 million detector rows (480,000 exposures x 16
detectors), ~2.6 million per filter. They are read as raw DBAPI tuples in
chunks (no ORM, no per-value processing), every column numeric (NULLs
replaced in SQL by a sentinel, statuses by small integer codes), each chunk
flattened into one numpy array with `numpy.fromiter`: no Python loop per
row, and the tuples of one chunk only are alive at a time. Sorting is done
in numpy (a stable lexsort), cheaper than SQLite's temporary B-tree.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
import pandas as pd
from sqlalchemy import BigInteger, case, cast, func, literal, select
from sqlalchemy.engine import Connection

from ..status import STATUS_ORDER
from .models import DetectorStatRow, Exposure, ExposureFactorRow, Observation

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
D = DetectorStatRow.__table__

DETECTOR_STATUSES: tuple[str, ...] = (*(status.value for status in STATUS_ORDER), "")
"""Categories of the ``status`` column: OK, WARN, FAIL, NODATA and ``""``
(runs stored before detector statuses)."""

DETECTOR_COLUMNS: tuple[str, ...] = ("obs_id", "exposure", "detector", "mjd_obs", "offset", "error", "n", "status")
"""The columns of `detector_table`, in order."""

_MISSING = 1e300
"""Sentinel for SQL NULL in float columns (no finite offset, error or MJD comes near it)."""

_CHUNK = 250_000
"""Rows converted at a time: bounds the memory of the Python tuples."""


def _status_code():
    """Index of the status in `DETECTOR_STATUSES` (NULL and unknown: ``""``)."""
    return case(*[(D.c.status == status.value, literal(i)) for i, status in enumerate(STATUS_ORDER)],
                else_=literal(len(STATUS_ORDER)))


_DETECTOR_SLOTS = 64
"""Detector numbers and dithers are packed below 64 (NISP: 11..44, 1..4)."""


def detector_statements(filter_name: str):
    """The two SELECTs of `detector_table`, both unordered.

    - the detector rows of the filter's current runs, four numbers a row:
      ``((run_id * 64 + dither) * 64 + detector) * 8 + status code``, the
      median (mag), its error, the number of sources;
    - the exposures of those runs: run_id, dither, obs_id, mjd_obs,
      mag_offset.

    Joining the exposure's columns in SQL would repeat them on each of its
    16 detector rows, and every value returned costs a Python object: the
    join is done in numpy (`detector_table`): 4.3 s instead of 7.8 s for the 2.56 million rows of
    one filter of the benchmark store (SQLite, 2 cores).
    """
    missing = literal(_MISSING)
    slots = literal(_DETECTOR_SLOTS)
    # 64-bit: run ids of a survey overflow a 32-bit integer once packed (PostgreSQL's INTEGER arithmetic)
    run = cast(D.c.run_id, BigInteger)
    packed = ((run * slots + D.c.exposure) * slots + D.c.detector) * literal(8) + _status_code()
    detectors = (
        select(packed, func.coalesce(D.c.median, missing), func.coalesce(D.c.error, missing),
               func.coalesce(D.c.n, literal(0)))
        .select_from(O)
        .join(D, D.c.run_id == O.c.current_run_id)
        .where(O.c.filter == str(filter_name))
    )
    exposures = (
        select(O.c.current_run_id, E.c.dither, O.c.obs_id, func.coalesce(E.c.mjd_obs, missing),
               func.coalesce(F.c.mag_offset, missing))
        .select_from(O)
        .join(F, F.c.run_id == O.c.current_run_id)
        .join(E, E.c.id == F.c.exposure_id)
        .where(O.c.filter == str(filter_name))
    )
    return detectors, exposures


def _numbers(conn: Connection, stmt, width: int) -> np.ndarray:
    """The rows of a statement whose columns are all numbers, as a float64
    array of shape (rows, width): raw DBAPI tuples, ``_CHUNK`` at a time."""
    parts: list[np.ndarray] = []
    result = conn.execute(stmt)
    try:
        cursor = result.cursor
        while cursor is not None:
            rows = cursor.fetchmany(_CHUNK)
            if not rows:
                break
            flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.float64, count=len(rows) * width)
            parts.append(flat.reshape(len(rows), width))
            del rows
    finally:
        result.close()
    return np.concatenate(parts) if parts else np.empty((0, width))


def _nan_missing(values: np.ndarray) -> np.ndarray:
    values = np.array(values, dtype=np.float64)
    values[values >= 0.5 * _MISSING] = np.nan
    return values


def detector_table(conn: Connection, filter_name: str, since: Mapping[int, float] | None = None) -> pd.DataFrame:
    """One row per (observation, dither, detector) of one filter's current runs.

    Parameters
    ----------
    conn : sqlalchemy.engine.Connection
    filter_name : str
        e.g. ``"NIR_J"``.

    Returns
    -------
    pandas.DataFrame
        Columns `DETECTOR_COLUMNS`: ``obs_id`` (int64), ``exposure`` (the
        dither, int8), ``detector`` (11..44, int8), ``mjd_obs`` (the
        exposure's MJD, float64), ``offset`` (the detector's median minus
        its exposure factor's ``mag_offset``, mag, positive = fainter; NaN
        when either is NULL), ``error`` (mag, float64; NaN when NULL),
        ``n`` (sources, int32), ``status`` (categorical, `DETECTOR_STATUSES`).
        Ordered by detector, then mjd_obs, obs_id and exposure: each
        detector's series is contiguous and in time order (what
        `relphot_core.control.control_rules` runs fastest on).
    since : mapping, optional
        ``{detector: MJD}``: only these detectors, each from its MJD on
        (the tails of their series, `relphot_core.qc.resume`).
    """
    detector_stmt, exposure_stmt = detector_statements(filter_name)
    if since is None:
        rows = _numbers(conn, detector_stmt, 4)
        exposures = _numbers(conn, exposure_stmt, 5)
    else:
        from .queries import observations_since

        groups: dict[float, list[int]] = {}  # the detectors that start at the same time: one statement
        for d, first_mjd in since.items():
            groups.setdefault(float(first_mjd), []).append(int(d))
        parts = [_numbers(conn, detector_stmt.where(observations_since(mjd), D.c.detector.in_(group)), 4)
                 for mjd, group in sorted(groups.items())]
        rows = np.concatenate(parts) if parts else np.empty((0, 4))
        exposures = (_numbers(conn, exposure_stmt.where(observations_since(min(since.values()))), 5)
                     if since else np.empty((0, 5)))
    packed = rows[:, 0].astype(np.int64)
    status = (packed % 8).astype(np.int8)
    detector = (packed // 8) % _DETECTOR_SLOTS
    exposure_key = packed // (8 * _DETECTOR_SLOTS)  # run_id * 64 + dither
    # the exposures in time order: their rank is the sort key within a detector
    _run_id, dither, obs_id, mjd = (exposures[:, i] for i in range(4))
    by_time = np.lexsort((dither, obs_id, mjd))
    exposures = exposures[by_time]
    keys = exposures[:, 0].astype(np.int64) * _DETECTOR_SLOTS + exposures[:, 1].astype(np.int64)
    lookup = np.argsort(keys, kind="stable")
    found = np.searchsorted(keys, exposure_key, sorter=lookup)
    found = lookup[np.minimum(found, max(keys.size - 1, 0))] if keys.size else np.zeros(0, dtype=np.int64)
    matched = keys[found] == exposure_key if keys.size else np.zeros(packed.size, dtype=bool)
    if not matched.all():  # a detector row of a dither without factor row: left out
        rows, status, detector, found = rows[matched], status[matched], detector[matched], found[matched]
    order = np.argsort(detector * (keys.size + 1) + found, kind="stable")
    rows, status, detector, found = rows[order], status[order], detector[order], found[order]
    mine = exposures[found]
    if since is not None:  # each detector from its own start
        start = np.full(_DETECTOR_SLOTS, np.inf)
        for d, first_mjd in since.items():
            start[int(d)] = float(first_mjd)
        keep = mine[:, 3] >= start[detector]
        rows, status, detector, mine = rows[keep], status[keep], detector[keep], mine[keep]
    median = _nan_missing(rows[:, 1])
    return pd.DataFrame({
        "obs_id": mine[:, 2].astype(np.int64),
        "exposure": mine[:, 1].astype(np.int8),
        "detector": detector.astype(np.int8),
        "mjd_obs": _nan_missing(mine[:, 3]),
        "offset": median - _nan_missing(mine[:, 4]),
        "error": _nan_missing(rows[:, 2]),
        "n": rows[:, 3].astype(np.int32),
        "status": pd.Categorical.from_codes(status, categories=list(DETECTOR_STATUSES)),
    }, columns=list(DETECTOR_COLUMNS))
