"""Read queries of the store, as pandas data frames.

Every table of current values starts from ``observation.current_run_id`` (a
join, no "latest run" subquery) and reaches the latest review of each
exposure through ``exposure.latest_review_id``.

An exposure counts as *reviewed* when its latest review was made on the same
status as its current one: a recomputation that changes the status puts it
back in the triage queue (the review itself is kept and still shown).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import String, and_, case, cast, func, literal, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from ..status import FLAGGED, OUT_OF_LIMITS, STATUS_ORDER
from .models import Exposure, ExposureFactorRow, Observation, ProcessingRun, Review

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__

def is_flagged(df: pd.DataFrame) -> np.ndarray:
    """Which rows of an exposure table carry a flag: a WARN, FAIL or NODATA
    status, a flagged detector (``detector_flag`` WARN or FAIL), a
    disagreement with the global solution (``crosscheck``), or a
    control-chart alarm (``alarmed``), for the columns present."""
    flagged = df["status"].isin(FLAGGED).to_numpy(dtype=bool).copy()
    if "detector_flag" in df.columns:
        flagged |= df["detector_flag"].isin(OUT_OF_LIMITS).to_numpy(dtype=bool)
    if "crosscheck" in df.columns:
        flagged |= (df["crosscheck"].fillna("").astype(str) != "").to_numpy(dtype=bool)
    if "alarmed" in df.columns:
        flagged |= df["alarmed"].to_numpy(dtype=bool)
    return flagged


def awaits_review(df: pd.DataFrame) -> np.ndarray:
    """Which rows of an exposure table belong in the triage queue: flagged
    (`is_flagged`) and not reviewed at their current status."""
    return is_flagged(df) & ~df["reviewed"].to_numpy(dtype=bool)


@dataclass(frozen=True)
class ExposureQuery:
    """Which exposures (or observations) a read returns. None = no constraint.

    Attributes
    ----------
    filters : tuple of str or None
        Filter bands, e.g. ``("NIR_J",)``.
    mjd_min, mjd_max : float or None
        Range of the exposure's MJD-OBS (for observations: their span overlaps).
    statuses : tuple of str or None
        Current statuses (for observations: any exposure with one of them).
    reviewed : bool or None
        Reviewed or not (for observations: True = at least one exposure
        reviewed, False = at least one not reviewed).
    search : str or None
        Substring of the observation id.
    limit : int or None
        At most this many rows.
    """

    filters: tuple[str, ...] | None = None
    mjd_min: float | None = None
    mjd_max: float | None = None
    statuses: tuple[str, ...] | None = None
    reviewed: bool | None = None
    search: str | None = None
    limit: int | None = None


EXPOSURE_COLUMNS: dict[str, str] = {
    "obs_id": "int64",
    "filter": "object",
    "exposure": "int64",
    "mjd_obs": "float64",
    "date_obs": "object",
    "value": "float64",
    "error": "float64",
    "status": "object",
    "reason": "object",
    "n_pairs": "int64",
    "n_matched": "int64",
    "run_id": "int64",
    "method": "object",
    "review_decision": "object",
    "reviewer": "object",
    "review_comment": "object",
    "reviewed_at": "datetime",
    "reviewed": "bool",
    "global_value": "float64",
    "crosscheck": "object",
    "collateral": "object",
    "detector_flag": "object",
    "detector_reason": "object",
}

OBSERVATION_COLUMNS: dict[str, str] = {
    "obs_id": "int64",
    "filter": "object",
    "mjd_start": "float64",
    "mjd_end": "float64",
    "n_exposures": "int64",
    "worst_status": "object",
    "n_ok": "int64",
    "n_warn": "int64",
    "n_fail": "int64",
    "n_nodata": "int64",
    "n_reviewed": "int64",
    "run_id": "int64",
}


def frame(rows: list[Any], columns: dict[str, str]) -> pd.DataFrame:
    """A data frame with fixed columns and dtypes (also when empty).

    Text columns are ``object`` with None for missing values; ``datetime``
    columns hold timezone-aware UTC `pandas.Timestamp` (NaT when missing).
    """
    if rows:
        df = pd.DataFrame.from_records([tuple(r) for r in rows], columns=list(columns))
    else:
        df = pd.DataFrame({name: pd.Series(dtype="object") for name in columns})
    for name, dtype in columns.items():
        col = df[name]
        if dtype == "bool":
            df[name] = col.fillna(False).astype(bool)
        elif dtype == "float64":
            df[name] = pd.to_numeric(col, errors="coerce").astype("float64")
        elif dtype == "int64":
            df[name] = pd.to_numeric(col.fillna(0)).astype("int64")
        elif dtype == "datetime":
            df[name] = pd.to_datetime(col, utc=True, format="ISO8601")
        elif col.dtype != object:
            df[name] = col.astype(object).where(col.notna(), None)
    return df


def fetch(conn: Connection, stmt: Select) -> list[tuple[Any, ...]]:
    """Rows of a statement as plain DBAPI tuples (no per-value processing:
    several times faster on large tables; callers convert columns)."""
    result = conn.execute(stmt)
    try:
        return result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()


def _reviewed_expr() -> Any:
    return case((and_(V.c.id.is_not(None), V.c.status == F.c.status), literal(1)), else_=literal(0))


def _current_from(stmt: Select) -> Select:
    return (
        stmt.select_from(O)
        .join(F, F.c.run_id == O.c.current_run_id)
        .join(E, E.c.id == F.c.exposure_id)
        .join(R, R.c.id == O.c.current_run_id)
        .outerjoin(V, V.c.id == E.c.latest_review_id)
    )


def _search_clause(search: str) -> Any:
    return cast(O.c.obs_id, String).contains(search.strip(), autoescape=True)


def _exposure_where(stmt: Select, query: ExposureQuery) -> Select:
    if query.filters:
        stmt = stmt.where(O.c.filter.in_(list(query.filters)))
    if query.mjd_min is not None:
        stmt = stmt.where(E.c.mjd_obs >= float(query.mjd_min))
    if query.mjd_max is not None:
        stmt = stmt.where(E.c.mjd_obs <= float(query.mjd_max))
    if query.statuses:
        stmt = stmt.where(F.c.status.in_(list(query.statuses)))
    if query.reviewed is not None:
        stmt = stmt.where(_reviewed_expr() == (1 if query.reviewed else 0))
    if query.search and query.search.strip():
        stmt = stmt.where(_search_clause(query.search))
    return stmt


def exposure_table(
    conn: Connection,
    query: ExposureQuery,
    *,
    order_by_mjd: bool = False,
    observation_ids: list[int] | None = None,
) -> pd.DataFrame:
    """One row per exposure of the current runs (see `Store.exposure_table`);
    ``observation_ids`` restricts to those observation rows (primary keys)."""
    if observation_ids is None:
        return _exposure_table(conn, query, order_by_mjd=order_by_mjd)
    ids = sorted(set(int(i) for i in observation_ids))
    parts = [
        _exposure_table(conn, query, order_by_mjd=order_by_mjd, _ids=ids[i : i + 5000])
        for i in range(0, len(ids), 5000)
    ] or [frame([], EXPOSURE_COLUMNS)]
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    order = ["mjd_obs", "obs_id", "exposure"] if order_by_mjd else ["obs_id", "filter", "exposure"]
    return df.sort_values(order, ignore_index=True)


def _exposure_table(
    conn: Connection, query: ExposureQuery, *, order_by_mjd: bool = False,
    _ids: list[int] | None = None,
) -> pd.DataFrame:
    stmt = _current_from(
        select(
            O.c.obs_id,
            O.c.filter,
            E.c.dither.label("exposure"),
            E.c.mjd_obs,
            E.c.date_obs,
            F.c.value,
            F.c.error,
            F.c.status,
            F.c.reason,
            F.c.n_pairs,
            F.c.n_matched,
            F.c.run_id,
            R.c.method,
            V.c.decision.label("review_decision"),
            V.c.reviewer,
            V.c.comment.label("review_comment"),
            V.c.created.label("reviewed_at"),
            _reviewed_expr().label("reviewed"),
            F.c.global_value,
            F.c.crosscheck,
            F.c.collateral,
            F.c.detector_flag,
            F.c.detector_reason,
        )
    )
    stmt = _exposure_where(stmt, query)
    if _ids is not None:
        stmt = stmt.where(O.c.id.in_(_ids))
    order = [E.c.mjd_obs, O.c.obs_id, E.c.dither] if order_by_mjd else [O.c.obs_id, O.c.filter, E.c.dither]
    if query.limit is not None:
        stmt = stmt.order_by(*order).limit(int(query.limit))
        return frame(fetch(conn, stmt), EXPOSURE_COLUMNS)
    # Sorting a large result in pandas is several times cheaper than SQLite's
    # temporary B-tree.
    df = frame(fetch(conn, stmt), EXPOSURE_COLUMNS)
    keys = ["mjd_obs", "obs_id", "exposure"] if order_by_mjd else ["obs_id", "filter", "exposure"]
    return df.sort_values(keys, ignore_index=True, kind="stable")


def series(conn: Connection, filter: str) -> pd.DataFrame:
    """The light time series of one filter (obs_id, filter, exposure,
    mjd_obs, value, status, reviewed, observation_pk), ordered by mjd_obs: what
    the control chart and the triage need."""
    stmt = _current_from(
        select(O.c.obs_id, O.c.filter, E.c.dither, E.c.mjd_obs, F.c.value, F.c.error, F.c.status, _reviewed_expr(),
               O.c.id, F.c.detector_flag, F.c.crosscheck)
    ).where(O.c.filter == filter).order_by(E.c.mjd_obs, O.c.obs_id, E.c.dither)
    return frame(
        fetch(conn, stmt),
        {"obs_id": "int64", "filter": "object", "exposure": "int64", "mjd_obs": "float64", "value": "float64",
         "error": "float64", "status": "object", "reviewed": "bool", "observation_pk": "int64",
         "detector_flag": "object", "crosscheck": "object"},
    )


def _worst(df: pd.DataFrame) -> np.ndarray:
    worst_first = STATUS_ORDER[::-1]
    conditions = [df[f"n_{status.lower()}"] > 0 for status in worst_first]
    return np.select(conditions, [status.value for status in worst_first], default=None)


def observation_table(conn: Connection, query: ExposureQuery) -> pd.DataFrame:
    """One row per (obs_id, filter) with a current run (see `Store.observation_table`)."""
    reviewed = _reviewed_expr()
    counts = [
        func.sum(case((F.c.status == status, 1), else_=0)).label(f"n_{status.lower()}")
        for status in STATUS_ORDER
    ]
    n_reviewed = func.sum(reviewed)
    n_exposures = func.count(F.c.id)
    mjd_start = func.coalesce(func.min(O.c.mjd_start), func.min(E.c.mjd_obs))
    mjd_end = func.coalesce(func.max(O.c.mjd_end), func.max(E.c.mjd_obs))
    stmt = _current_from(
        select(
            O.c.obs_id,
            O.c.filter,
            mjd_start.label("mjd_start"),
            mjd_end.label("mjd_end"),
            n_exposures.label("n_exposures"),
            *counts,
            n_reviewed.label("n_reviewed"),
            O.c.current_run_id.label("run_id"),
        )
    )
    if query.filters:
        stmt = stmt.where(O.c.filter.in_(list(query.filters)))
    if query.search and query.search.strip():
        stmt = stmt.where(_search_clause(query.search))
    stmt = stmt.group_by(O.c.id, O.c.obs_id, O.c.filter, O.c.current_run_id)
    having = []
    if query.mjd_min is not None:
        having.append(mjd_end >= float(query.mjd_min))
    if query.mjd_max is not None:
        having.append(mjd_start <= float(query.mjd_max))
    if query.statuses:
        having.append(func.sum(case((F.c.status.in_(list(query.statuses)), 1), else_=0)) > 0)
    if query.reviewed is True:
        having.append(n_reviewed > 0)
    elif query.reviewed is False:
        having.append(n_reviewed < n_exposures)
    if having:
        stmt = stmt.having(and_(*having))
    stmt = stmt.order_by(O.c.obs_id, O.c.filter)
    if query.limit is not None:
        stmt = stmt.limit(int(query.limit))
    rows = fetch(conn, stmt)
    columns = [c for c in OBSERVATION_COLUMNS if c != "worst_status"]
    df = frame(rows, {c: OBSERVATION_COLUMNS[c] for c in columns})
    df.insert(5, "worst_status", _worst(df) if len(df) else pd.Series(dtype=object))
    return df


def status_counts(conn: Connection, query: ExposureQuery) -> pd.DataFrame:
    """Exposures and observations per (filter, status) of the current runs."""
    stmt = _current_from(
        select(
            O.c.filter,
            F.c.status,
            func.count(F.c.id).label("n_exposures"),
            func.count(func.distinct(O.c.id)).label("n_observations"),
        )
    )
    stmt = _exposure_where(stmt, query).group_by(O.c.filter, F.c.status).order_by(O.c.filter, F.c.status)
    rows = conn.execute(stmt).all()
    return frame(
        rows, {"filter": "object", "status": "object", "n_exposures": "int64", "n_observations": "int64"}
    )


def mask(df: pd.DataFrame, query: ExposureQuery) -> pd.DataFrame:
    """Apply an `ExposureQuery` to an exposure table in memory."""
    keep = np.ones(len(df), dtype=bool)
    if query.filters:
        keep &= df["filter"].isin(list(query.filters)).to_numpy()
    if query.mjd_min is not None:
        keep &= (df["mjd_obs"] >= float(query.mjd_min)).to_numpy()
    if query.mjd_max is not None:
        keep &= (df["mjd_obs"] <= float(query.mjd_max)).to_numpy()
    if query.statuses:
        keep &= df["status"].isin(list(query.statuses)).to_numpy()
    if query.reviewed is not None:
        keep &= (df["reviewed"] == bool(query.reviewed)).to_numpy()
    if query.search and query.search.strip():
        keep &= df["obs_id"].astype(str).str.contains(query.search.strip(), regex=False).to_numpy()
    out = df[keep]
    if query.limit is not None:
        out = out.head(int(query.limit))
    return out.reset_index(drop=True)


def add_control_chart(df: pd.DataFrame, *, window: int | None = None, nsigma: float | None = None,
                      control: Any = None) -> pd.DataFrame:
    """Add the control charts to one filter's mjd-ordered exposure table.

    Columns added:

    - ``running_median``, ``control_low``, ``control_high``: the filter's
      trailing running median and its band (what the trend draws);
    - ``alarm``: ``""``, ``"outside control limits"`` or ``"drift"``, from
      the control rules of the exposure's own dither position
      (`relphot_core.qc.dither_alarms`: known in-control level, false-alarm
      rates ~1e-4 per point); ``alarm_reason`` says what, e.g. ``drift of
      dither 4 since 2025-02-03 (obs 1040): -1.21 % (-9.8 σ)``;
      ``drift_since`` its start (MJD); ``alarmed`` is ``alarm != ""``.

    NODATA rows get NaN, ``""`` and False. ``control`` is a
    `relphot_core.config.Control` (default: the defaults)."""
    from ..config import Control, Thresholds
    from ..flags import control_chart
    from ..qc import dither_alarms

    defaults = Thresholds()
    window = int(window or defaults.drift_window)
    nsigma = float(nsigma or defaults.drift_nsigma)
    df = df.copy()
    for name in ("running_median", "control_low", "control_high", "drift_since"):
        df[name] = float("nan")
    values = df["value"].to_numpy(dtype=float)
    finite = np.isfinite(values)
    if finite.any():
        chart = control_chart(values[finite], window=window, nsigma=nsigma)
        df.loc[finite, "running_median"] = chart.center
        df.loc[finite, "control_low"] = chart.low
        df.loc[finite, "control_high"] = chart.high
    errors = df["error"].to_numpy(dtype=float) if "error" in df else np.full(len(df), np.nan)
    found = dither_alarms(df["obs_id"].to_numpy(), df["exposure"].to_numpy(), df["mjd_obs"].to_numpy(dtype=float),
                          values, errors, control or Control())
    df["alarm"] = found.alarm
    df["alarm_reason"] = found.reason
    df["drift_since"] = found.drift_since
    df["alarmed"] = found.alarm != ""
    return df


CHART_COLUMNS: tuple[str, ...] = ("running_median", "control_low", "control_high", "alarm", "alarm_reason",
                                   "drift_since", "alarmed")
