"""The SQL of results and runs (behind `~relphot_core.store.api.Store`):
a result read back (one, or the current ones), the runs of an observation,
pins, neighbours and the data version. Saving is in
`relphot_core.store.writes`.

Functions of an open connection; the `Store` opens it and wraps writes in
one transaction.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

import pandas as pd
from sqlalchemy import Row, Select, func, select, update
from sqlalchemy.engine import Connection

from ..errors import StoreError
from ..results import ObservationResult
from ..selection import ExposureSelection
from . import queries, review_rows
from .models import ExposureFactorRow, Observation, ProcessingRun, Review
from .records import build_factor_results, build_result
from .writes import refresh_current

O = Observation.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
V = Review.__table__

RUN_COLUMNS = {
    "run_id": "int64", "created": "datetime", "method": "object", "software_version": "object",
    "imported": "bool", "pinned": "bool", "parameters": "object", "input_digest": "object", "current": "bool",
}
"""`Store.runs` columns and their types."""


def _version_statement() -> Select:
    # the parts: last run id, last review id, pins (count, sum), revocations
    return select(
        select(func.max(R.c.id)).scalar_subquery(),
        select(func.max(V.c.id)).scalar_subquery(),
        select(func.count(R.c.id)).where(R.c.pinned).scalar_subquery(),
        select(func.sum(R.c.id)).where(R.c.pinned).scalar_subquery(),
        review_rows.revocations(),
    )


def data_version(conn: Connection) -> str:
    """`Store.data_version`."""
    return ":".join(str(x or 0) for x in conn.execute(_version_statement()).one())


def reviews_since(conn: Connection, version: str, filter: str | None = None) -> tuple[str, pd.DataFrame | None]:
    """`Store.reviews_since` (read in one transaction)."""
    now = data_version(conn)
    before, after = version.split(":"), now.split(":")
    if len(before) != len(after) or not all(p.isdigit() for p in before):
        return now, None
    if before == after:
        return now, review_rows.latest_reviews(conn, 0, 0, filter)
    if before[:1] + before[2:] != after[:1] + after[2:] or int(after[1]) < int(before[1]):
        return now, None
    return now, review_rows.latest_reviews(conn, int(before[1]), int(after[1]), filter)


def is_empty(conn: Connection) -> bool:
    """True when no run is stored."""
    return conn.execute(select(R.c.id).limit(1)).first() is None


def load_result(conn: Connection, obs_id: int, filter: str, run_id: int | None = None) -> ObservationResult:
    """`Store.load_result` (KeyError: no such observation or run)."""
    obs = conn.execute(select(O).where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))).first()
    if obs is None:
        raise KeyError(f"no observation {obs_id} {filter}")
    wanted = obs.current_run_id if run_id is None else int(run_id)
    run = conn.execute(select(R).where(R.c.id == wanted, R.c.observation_id == obs.id)).first()
    if run is None:
        raise KeyError(f"no run {run_id} of observation {obs_id} {filter}")
    return build_result(conn, obs, run)


def current_observations(
    obs_ids: Iterable[int] | None = None,
    filter: str | Iterable[str] | None = None,
    since: datetime | str | None = None,
    selection: ExposureSelection | None = None,
) -> Select:
    """The observation rows with a current run, in (obs_id, filter) order,
    narrowed as `Store.iter_results` says (StoreError: a bad ``since``)."""
    stmt = select(O).join(R, R.c.id == O.c.current_run_id).order_by(O.c.obs_id, O.c.filter)
    if obs_ids is not None:
        stmt = stmt.where(O.c.obs_id.in_([int(x) for x in obs_ids]))
    if filter is not None:
        stmt = stmt.where(O.c.filter.in_([filter] if isinstance(filter, str) else list(filter)))
    if since is not None:
        if isinstance(since, str):
            try:
                since = datetime.fromisoformat(since.strip().replace("Z", "+00:00"))
            except ValueError:
                raise StoreError(None, f"not an ISO 8601 time: {since!r}") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        stmt = stmt.where(R.c.created >= since)
    if selection is not None and not selection.selects_everything:
        stmt = stmt.where(O.c.id.in_(queries.selected_observations(selection)))
    return stmt


def current_results(conn: Connection, observations: Sequence[Row[Any]], *, details: bool) -> list[ObservationResult]:
    """The current results of observation rows (of `current_observations`),
    in full or (``details`` False) their exposure factors only."""
    runs = {run.id: run for run in conn.execute(
        select(R).where(R.c.id.in_([obs.current_run_id for obs in observations])))}
    found = [(obs, runs[obs.current_run_id]) for obs in observations if obs.current_run_id in runs]
    if details:
        return [build_result(conn, obs, run) for obs, run in found]
    return build_factor_results(conn, found)


def runs(conn: Connection, obs_id: int, filter: str) -> pd.DataFrame:
    """`Store.runs`."""
    stmt = (
        select(
            R.c.id, R.c.created, R.c.method, R.c.software_version, R.c.imported, R.c.pinned,
            R.c.parameters, R.c.input_digest, (R.c.id == O.c.current_run_id).label("current"),
        )
        .join(O, O.c.id == R.c.observation_id)
        .where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))
        .order_by(R.c.created, R.c.id)
    )
    return queries.frame(conn.execute(stmt).all(), RUN_COLUMNS)


def neighbours(conn: Connection, obs_id: int, filter: str | None = None) -> tuple[int | None, int | None]:
    """`Store.neighbours`."""
    base = select(O.c.obs_id).where(O.c.current_run_id.is_not(None))
    if filter is not None:
        base = base.where(O.c.filter == str(filter))
    prev = conn.execute(base.where(O.c.obs_id < int(obs_id)).order_by(O.c.obs_id.desc()).limit(1)).scalar()
    nxt = conn.execute(base.where(O.c.obs_id > int(obs_id)).order_by(O.c.obs_id).limit(1)).scalar()
    return prev, nxt


def observation_id(conn: Connection, obs_id: int, filter: str) -> int:
    """The row id of an (obs_id, filter) (KeyError: not in the store)."""
    oid = conn.execute(select(O.c.id).where(O.c.obs_id == int(obs_id), O.c.filter == str(filter))).scalar()
    if oid is None:
        raise KeyError(f"no observation {obs_id} {filter}")
    return oid


def pin_run(conn: Connection, run_id: int) -> None:
    """`Store.pin_run` (KeyError: no such run)."""
    observation = conn.execute(select(R.c.observation_id).where(R.c.id == int(run_id))).scalar()
    if observation is None:
        raise KeyError(f"no run {run_id}")
    conn.execute(update(R).where(R.c.observation_id == observation).values(pinned=R.c.id == int(run_id)))
    refresh_current(conn, [observation])


def unpin(conn: Connection, obs_id: int, filter: str) -> None:
    """`Store.unpin` (KeyError: no such observation)."""
    observation = observation_id(conn, obs_id, filter)
    conn.execute(update(R).where(R.c.observation_id == observation).values(pinned=False))
    refresh_current(conn, [observation])
