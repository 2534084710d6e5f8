"""Read queries of the store, as pandas data frames.

Every table of current values starts from ``observation.current_run_id`` (a
join, no "latest run" subquery) and reaches the latest review of each
exposure through ``exposure.latest_review_id``.

An exposure counts as *reviewed* when its latest review was made on the same
status as its current one: a recomputation that changes the status puts it
back in the triage queue (the review itself is kept and still shown).

Which rows a read returns is an `relphot_core.selection.ExposureSelection`
(the rules are described there); `selection_conditions` is its SQL form.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, case, false, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from ..config import FILTERS
from ..selection import ALL_STATUSES, ExposureSelection
from ..status import OUT_OF_LIMITS, STATUS_ORDER
from .models import Exposure, ExposureFactorRow, Observation, ProcessingRun, Review

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__


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
    "review_cause": "object",
    "reviewed_at": "datetime",
    "reviewed": "bool",
    "global_value": "float64",
    "crosscheck": "object",
    "collateral": "object",
    "detector_flag": "object",
    "detector_reason": "object",
    "detector_worst": "float64",
    "detector_offset": "float64",
    "detector_offset_error": "float64",
    "review_id": "float64",
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


def frame(rows: Sequence[Any], columns: dict[str, str]) -> pd.DataFrame:
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
        elif dtype == "Int64":  # whole numbers that may be missing (ids)
            df[name] = pd.to_numeric(col, errors="coerce").astype("Int64")
        elif dtype == "datetime":
            df[name] = pd.to_datetime(col, utc=True, format="ISO8601")
        elif col.dtype != object:
            df[name] = col.astype(object).where(col.notna(), None)
    return df


def fetch(conn: Connection, stmt: Select) -> Sequence[tuple[Any, ...]]:
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


def selection_conditions(selection: ExposureSelection) -> tuple[list[Any], list[Any]]:
    """The SQL form of a selection's rules (`relphot_core.selection`), as
    two lists of conditions: on the observation (filter, obs id) and on the
    exposure of the current run (status, review state, MJD-OBS)."""
    on_observation: list[Any] = []
    on_exposure: list[Any] = []
    if selection.filters != FILTERS:
        on_observation.append(O.c.filter.in_(list(selection.filters)))
    else:  # the store may hold no other filter, but say it as the frames do
        on_observation.append(O.c.filter.in_(list(FILTERS)))
    if selection.obs_range is not None:
        on_observation.append(O.c.obs_id.between(*selection.obs_range))
    if selection.statuses != ALL_STATUSES:
        on_exposure.append(F.c.status.in_(list(selection.statuses)))
    if selection.mjd_min is not None:
        on_exposure.append(E.c.mjd_obs >= selection.mjd_min)
    if selection.mjd_max is not None:
        on_exposure.append(E.c.mjd_obs < selection.mjd_max)
    if selection.reviewed_flag is not None:
        on_exposure.append(_reviewed_expr() == (1 if selection.reviewed_flag else 0))
    return on_observation, on_exposure


def selected_observations(selection: ExposureSelection) -> Select:
    """``SELECT observation.id`` of the observations holding at least one
    selected exposure (for ``IN``)."""
    return _exposure_where(_current_from(select(O.c.id)), selection).distinct()


def _exposure_where(stmt: Select, selection: ExposureSelection, *, indexed: bool = True) -> Select:
    on_observation, on_exposure = selection_conditions(selection)
    conditions = on_observation + on_exposure
    if not conditions:
        return stmt
    return stmt.where(and_(*conditions) if indexed else _per_row(conditions))


def _per_row(conditions: Sequence[Any]) -> Any:
    """``conditions`` as one expression no index serves: tested on the rows
    the other conditions find (e.g. a few observations by their keys),
    never chosen by the planner to find rows itself (an index on the
    filter or the status would have it walk a whole filter)."""
    return case((and_(*conditions), 1), else_=0) == 1


KEYS_PER_QUERY = 5000
"""Observations named in one query at most (``IN`` lists stay within the
databases' limits on bound parameters); more are read in several."""


def observations_condition(keys: Sequence[tuple[int, str]]) -> Any:
    """The SQL condition "the observation is one of ``keys``" ((obs_id,
    filter) pairs), per filter an ``IN`` list of obs ids (each a look-up of
    the (obs_id, filter) index)."""
    by_filter: dict[str, set[int]] = {}
    for obs_id, name in keys:
        by_filter.setdefault(str(name), set()).add(int(obs_id))
    if not by_filter:
        return false()
    return or_(*(and_(O.c.filter == name, O.c.obs_id.in_(sorted(ids))) for name, ids in sorted(by_filter.items())))


def _chunks(observation_ids: Sequence[int] | None, observations: Sequence[tuple[int, str]] | None) -> list[Any]:
    """The conditions restricting a read to ``observation_ids`` (primary
    keys) or ``observations`` ((obs_id, filter) pairs), `KEYS_PER_QUERY` a query."""
    if observation_ids is not None:
        ids = sorted(set(int(i) for i in observation_ids))
        return [O.c.id.in_(ids[i : i + KEYS_PER_QUERY]) for i in range(0, len(ids), KEYS_PER_QUERY)] or [false()]
    keys = sorted(set((int(o), str(f)) for o, f in observations or ()))
    chunks = [keys[i : i + KEYS_PER_QUERY] for i in range(0, len(keys), KEYS_PER_QUERY)]
    return [observations_condition(chunk) for chunk in chunks] or [false()]


def exposure_table(
    conn: Connection,
    selection: ExposureSelection,
    *,
    limit: int | None = None,
    order_by_mjd: bool = False,
    observation_ids: list[int] | None = None,
    observations: Sequence[tuple[int, str]] | None = None,
) -> pd.DataFrame:
    """One row per selected exposure of the current runs (see
    `Store.exposure_table`), at most ``limit``; ``observation_ids``
    restricts to those observation rows (primary keys), ``observations``
    to those (obs_id, filter)."""
    if observation_ids is None and observations is None:
        return _exposure_table(conn, selection, limit=limit, order_by_mjd=order_by_mjd)
    parts = [
        _exposure_table(conn, selection, order_by_mjd=order_by_mjd, _where=condition)
        for condition in _chunks(observation_ids, observations)
    ]
    df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    order = ["mjd_obs", "obs_id", "exposure"] if order_by_mjd else ["obs_id", "filter", "exposure"]
    df = df.sort_values(order, ignore_index=True)
    return df if limit is None else df.head(int(limit))


def _exposure_table(
    conn: Connection, selection: ExposureSelection, *, limit: int | None = None, order_by_mjd: bool = False,
    _where: Any = None,
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
            V.c.cause.label("review_cause"),
            V.c.created.label("reviewed_at"),
            _reviewed_expr().label("reviewed"),
            F.c.global_value,
            F.c.crosscheck,
            F.c.collateral,
            F.c.detector_flag,
            F.c.detector_reason,
            F.c.detector_worst,
            F.c.detector_offset,
            F.c.detector_offset_error,
            E.c.latest_review_id.label("review_id"),
        )
    )
    stmt = _exposure_where(stmt, selection, indexed=_where is None)
    if _where is not None:
        stmt = stmt.where(_where)
    order = [E.c.mjd_obs, O.c.obs_id, E.c.dither] if order_by_mjd else [O.c.obs_id, O.c.filter, E.c.dither]
    if limit is not None:
        if not order_by_mjd and _where is None and selection.statuses == ALL_STATUSES:
            # the first ``limit`` exposures are among those of the first
            # ``limit`` observations holding one: sort those only (with a
            # status, its index already gives few rows: measured faster)
            stmt = stmt.where(O.c.id.in_(_first_observations(selection, int(limit))))
        stmt = stmt.order_by(*order).limit(int(limit))
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


PROBLEM_INPUT_COLUMNS: dict[str, str] = {
    "obs_id": "int64", "exposure": "int64", "mjd_obs": "float64", "value": "float64", "error": "float64",
    "status": "object", "reason": "object", "detector_flag": "object", "detector_worst": "float64",
    "detector_offset": "float64", "detector_offset_error": "float64", "crosscheck": "object",
    "collateral": "object", "exposure_pk": "int64",
}
"""The columns `relphot_core.qc.problems.find_problems` reads (and the exposure's key)."""


OBSERVATION_SPAN_DAYS = 1.0
"""An observation's exposures are taken within this many days of its start."""


def observations_since(mjd: float) -> Any:
    """A condition on the observations that may hold an exposure at or after
    ``mjd``: those started at most `OBSERVATION_SPAN_DAYS` before (a range
    of the (filter, start) index), and those without a start. The caller
    keeps the exposures at or after ``mjd``."""
    return or_(O.c.mjd_start >= float(mjd) - OBSERVATION_SPAN_DAYS, O.c.mjd_start.is_(None))


def problem_input(conn: Connection, filter: str, *, since: float | None = None,
                  before: Any = None) -> pd.DataFrame:
    """One filter's current exposures as the problems need them
    (`PROBLEM_INPUT_COLUMNS`), in time order: no review, no run (a lean read).

    Parameters
    ----------
    conn : Connection
    filter : str
    since : float, optional
        Only the exposures from this MJD on (the tail of the season).
    before : subquery, optional
        With ``since``, the ids of earlier exposures to read too (those of
        its flagged detectors' problems: `relphot_core.store.problems.flagged_detector_exposures`),
        when their detector flag is out of limits.
    """
    columns = (O.c.obs_id, E.c.dither, E.c.mjd_obs, F.c.value, F.c.error, F.c.status, F.c.reason,
               F.c.detector_flag, F.c.detector_worst, F.c.detector_offset, F.c.detector_offset_error,
               F.c.crosscheck, F.c.collateral, E.c.id)
    base = (select(*columns).select_from(O).join(F, F.c.run_id == O.c.current_run_id)
            .join(E, E.c.id == F.c.exposure_id).where(O.c.filter == filter))
    if since is None:
        rows = fetch(conn, base)
    else:
        rows = fetch(conn, base.where(observations_since(since), E.c.mjd_obs >= float(since)))
        if before is not None:
            flagged = [status.value for status in OUT_OF_LIMITS]
            rows = [*fetch(conn, base.where(E.c.id.in_(before), F.c.detector_flag.in_(flagged),
                                            E.c.mjd_obs < float(since))), *rows]
    df = frame(rows, PROBLEM_INPUT_COLUMNS)
    return df.sort_values(["mjd_obs", "obs_id", "exposure"], ignore_index=True, kind="stable")


def _worst(df: pd.DataFrame) -> np.ndarray:
    worst_first = STATUS_ORDER[::-1]
    conditions = [df[f"n_{status.lower()}"] > 0 for status in worst_first]
    # None: an object array, None where no status counts
    return np.select(conditions, [status.value for status in worst_first], default=None)  # type: ignore[call-overload]


def observation_table(conn: Connection, selection: ExposureSelection, *, limit: int | None = None,
                      observations: Sequence[tuple[int, str]] | None = None) -> pd.DataFrame:
    """One row per selected (obs_id, filter) with a current run: those
    holding at least one selected exposure; the counts are of all their
    exposures (see `Store.observation_table`). ``observations``: only
    those (obs_id, filter) among them."""
    if observations is not None:
        parts = [_observation_table(conn, selection, where=condition) for condition in _chunks(None, observations)]
        df = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
        df = df.sort_values(["obs_id", "filter"], ignore_index=True) if len(parts) > 1 else df
        return df if limit is None else df.head(int(limit))
    return _observation_table(conn, selection, limit=limit)


def _observation_table(conn: Connection, selection: ExposureSelection, *, limit: int | None = None,
                       where: Any = None) -> pd.DataFrame:
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
    on_observation, on_exposure = selection_conditions(selection)
    if where is not None:  # few observations: their counts, then the selection
        stmt = stmt.where(where, *([_per_row(on_observation)] if on_observation else []))
    elif limit is not None:
        # the first ``limit`` observations first (walking the (obs_id,
        # filter) index, each tested by one indexed look-up), then the
        # counts of those only: not of every observation of the filters
        stmt = stmt.where(O.c.id.in_(_first_observations(selection, int(limit))))
    elif on_observation:
        stmt = stmt.where(and_(*on_observation))
    stmt = stmt.group_by(O.c.id, O.c.obs_id, O.c.filter, O.c.current_run_id)
    if on_exposure and (limit is None or where is not None):
        # the whole observation is kept when one of its exposures is selected
        stmt = stmt.having(func.sum(case((and_(*on_exposure), 1), else_=0)) > 0)
    stmt = stmt.order_by(O.c.obs_id, O.c.filter)
    rows = fetch(conn, stmt)
    columns = [c for c in OBSERVATION_COLUMNS if c != "worst_status"]
    df = frame(rows, {c: OBSERVATION_COLUMNS[c] for c in columns})
    df.insert(5, "worst_status", _worst(df) if len(df) else pd.Series(dtype=object))
    return df


def _first_observations(selection: ExposureSelection, limit: int) -> Select:
    """``SELECT observation.id`` of the first ``limit`` observations (by
    obs_id, filter) with a current run holding a selected exposure.

    Written so that the database walks the observations in that order and
    stops at ``limit``, testing each by an indexed look-up of its current
    run's exposures: ``column || ''`` and ``column + 0`` keep SQLite's
    planner off the indexes on filter, status and MJD-OBS (SQLite's
    documented way), which would have it test every observation (or
    every exposure of a status) first."""
    on_observation = [O.c.current_run_id.is_not(None), (O.c.filter + "").in_(list(selection.filters))]
    if selection.obs_range is not None:
        on_observation.append(O.c.obs_id.between(*selection.obs_range))
    on_exposure = [F.c.run_id == O.c.current_run_id]
    if selection.statuses != ALL_STATUSES:
        on_exposure.append((F.c.status + "").in_(list(selection.statuses)))
    if selection.mjd_min is not None:
        on_exposure.append(E.c.mjd_obs + 0 >= selection.mjd_min)
    if selection.mjd_max is not None:
        on_exposure.append(E.c.mjd_obs + 0 < selection.mjd_max)
    if selection.reviewed_flag is not None:
        on_exposure.append(_reviewed_expr() == (1 if selection.reviewed_flag else 0))
    held = (select(F.c.id).select_from(F.join(E, E.c.id == F.c.exposure_id)
                                       .outerjoin(V, V.c.id == E.c.latest_review_id))
            .where(*on_exposure))
    return select(O.c.id).where(*on_observation, held.exists()).order_by(O.c.obs_id, O.c.filter).limit(limit)


def status_counts(conn: Connection, selection: ExposureSelection) -> pd.DataFrame:
    """Selected exposures, and the observations holding them, per (filter,
    status) of the current runs."""
    stmt = _current_from(
        select(
            O.c.filter,
            F.c.status,
            func.count(F.c.id).label("n_exposures"),
            func.count(func.distinct(O.c.id)).label("n_observations"),
        )
    )
    stmt = _exposure_where(stmt, selection).group_by(O.c.filter, F.c.status).order_by(O.c.filter, F.c.status)
    rows = conn.execute(stmt).all()
    return frame(
        rows, {"filter": "object", "status": "object", "n_exposures": "int64", "n_observations": "int64"}
    )


def exposure_count(conn: Connection, selection: ExposureSelection) -> int:
    """How many exposures of the current runs the selection holds (the rows
    `exposure_table` gives without a limit)."""
    stmt = _exposure_where(_current_from(select(func.count(F.c.id))), selection)
    return int(conn.execute(stmt).scalar() or 0)


def observation_count(conn: Connection, selection: ExposureSelection) -> int:
    """How many (obs_id, filter) with a current run hold a selected exposure
    (the rows `observation_table` gives without a limit)."""
    stmt = _exposure_where(_current_from(select(func.count(func.distinct(O.c.id)))), selection)
    return int(conn.execute(stmt).scalar() or 0)


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
        # a window shorter than the chart's usual minimum still draws its band
        chart = control_chart(values[finite], window=window, nsigma=nsigma, min_points=min(20, window))
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
