"""The SQL of the survey views (behind `~relphot_core.store.api.Store`): the
factors of a choice of runs (`relphot_core.compare.RunChoice`, to compare
two reprocessings), the survey's pointings (the sky map) and the context
of the factors (sources matched and kept, pair dispersions).

Functions of an open connection.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from ..compare import RunChoice
from ..config import FILTERS
from . import queries
from .models import Exposure, ExposureFactorRow, Observation, PairStatRow, ProcessingRun

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
P = PairStatRow.__table__

CHOICE_FACTOR_COLUMNS: dict[str, str] = {
    "obs_id": "int64", "filter": "object", "exposure": "int64", "run_id": "int64", "value": "float64",
    "error": "float64", "status": "object",
}
CHOICE_RUN_COLUMNS: dict[str, str] = {
    "run_id": "int64", "software_version": "object", "params_digest": "object", "parameters": "object",
    "created": "datetime",
}
POINTING_COLUMNS: dict[str, str] = {
    "obs_id": "int64", "filter": "object", "ra": "float64", "dec": "float64", "mjd_start": "float64",
}


def chosen_runs(choice: RunChoice, filters: Iterable[str] = FILTERS) -> Select:
    """``SELECT observation_id, run_id``: the run each set takes under
    ``choice`` (sets without one are absent)."""
    filters = list(filters)
    if choice.kind == "current":
        return select(O.c.id.label("observation_id"), O.c.current_run_id.label("run_id")).where(
            O.c.current_run_id.is_not(None), O.c.filter.in_(filters))
    if choice.kind == "runs":
        return (select(R.c.observation_id, R.c.id.label("run_id")).join(O, O.c.id == R.c.observation_id)
                .where(R.c.id.in_(choice.run_ids), O.c.filter.in_(filters)))
    current = R.alias("current_run")
    stmt = select(R.c.observation_id, R.c.id, R.c.created).join(O, O.c.id == R.c.observation_id)
    stmt = stmt.where(O.c.filter.in_(filters))
    if choice.kind == "previous":
        stmt = stmt.join(current, current.c.id == O.c.current_run_id).where(or_(
            R.c.created < current.c.created, and_(R.c.created == current.c.created, R.c.id < current.c.id)))
    elif choice.kind == "version":
        stmt = stmt.where(R.c.software_version == choice.value)
    elif choice.kind == "params":
        stmt = stmt.where(R.c.params_digest.like(f"{choice.value}%"))
    elif choice.kind == "date":
        stmt = stmt.where(R.c.created < choice.time)
    else:  # pragma: no cover - RunChoice.parse refuses others
        raise ValueError(f"unknown choice {choice}")
    rank = func.row_number().over(partition_by=R.c.observation_id, order_by=(R.c.created.desc(), R.c.id.desc()))
    ranked = stmt.add_columns(rank.label("rank")).subquery()
    return select(ranked.c.observation_id, ranked.c.id.label("run_id")).where(ranked.c.rank == 1)


def choice_factors(conn: Connection, choice: RunChoice,
                   filters: Iterable[str] = FILTERS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`Store.choice_factors`."""
    chosen = chosen_runs(choice, filters).subquery()
    factors = (select(O.c.obs_id, O.c.filter, E.c.dither, F.c.run_id, F.c.value, F.c.error, F.c.status)
               .select_from(chosen).join(O, O.c.id == chosen.c.observation_id)
               .join(F, F.c.run_id == chosen.c.run_id).join(E, E.c.id == F.c.exposure_id))
    runs = (select(R.c.id, R.c.software_version, R.c.params_digest, R.c.parameters, R.c.created)
            .where(R.c.id.in_(select(chosen.c.run_id))))
    factor_rows = queries.fetch(conn, factors)
    run_rows = conn.execute(runs).all()
    return (queries.frame(factor_rows, CHOICE_FACTOR_COLUMNS), queries.frame(run_rows, CHOICE_RUN_COLUMNS))


def current_parameter_values(conn: Connection, keys: Sequence[str]) -> dict[str, set[str]]:
    """``key -> {value, ...}`` of the run parameters ``keys`` over the
    current runs (one run read per parameter digest)."""
    current = select(O.c.current_run_id).where(O.c.current_run_id.is_not(None))
    digests = select(func.min(R.c.id)).where(R.c.id.in_(current)).group_by(R.c.params_digest)
    values: dict[str, set[str]] = {}
    for (parameters,) in conn.execute(select(R.c.parameters).where(R.c.id.in_(digests))).all():
        for key in keys:
            if key in (parameters or {}):
                values.setdefault(key, set()).add(str(parameters[key]))
    return values


def pointings(conn: Connection) -> pd.DataFrame:
    """`Store.pointings`."""
    stmt = (select(O.c.obs_id, O.c.filter, O.c.ra_pointing, O.c.dec_pointing, O.c.mjd_start)
            .where(O.c.current_run_id.is_not(None)).order_by(O.c.obs_id, O.c.filter))
    return queries.frame(queries.fetch(conn, stmt), POINTING_COLUMNS)


def context_tables(conn: Connection, filter: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`Store.context_tables`."""
    factors = (select(O.c.obs_id, E.c.dither, E.c.mjd_obs, F.c.n_matched, F.c.n_kept).select_from(O)
               .join(F, F.c.run_id == O.c.current_run_id).join(E, E.c.id == F.c.exposure_id)
               .where(O.c.filter == str(filter)))
    pairs = (select(O.c.obs_id, P.c.exposure_a, P.c.exposure_b, P.c.sigma).select_from(O)
             .join(P, P.c.run_id == O.c.current_run_id).where(O.c.filter == str(filter)))
    factor_rows = queries.fetch(conn, factors)
    pair_rows = queries.fetch(conn, pairs)
    frame = queries.frame(factor_rows, {"obs_id": "int64", "exposure": "int64", "mjd_obs": "float64",
                                        "n_matched": "int64", "n_kept": "int64"})
    return (frame.sort_values(["mjd_obs", "obs_id", "exposure"], ignore_index=True, kind="stable"),
            queries.frame(pair_rows, {"obs_id": "int64", "exposure_a": "int64", "exposure_b": "int64",
                                      "sigma": "float64"}))
