"""What a survey-scale batch reads and writes in the store: the input files
each set was processed from, and the processing failures.

Functions of an open connection; `relphot_core.store.api.Store` wraps them
in transactions.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Connection

from ..results import ObservationResult
from .models import InputFile, Observation, ProcessingFailure, ProcessingRun, utcnow
from .writes import prepare, save_batch

I = InputFile.__table__
O = Observation.__table__
R = ProcessingRun.__table__
P = ProcessingFailure.__table__


@dataclass(frozen=True)
class RecordedInput:
    """A catalogue as the store last saw it for one parameter set."""

    path: str
    obs_id: int
    filter: str
    dither: int
    size: int
    mtime_ns: int
    sha256: str


def recorded_inputs(conn: Connection, params_digest: str) -> dict[str, RecordedInput]:
    """Every input file recorded for a parameter set, by path."""
    query = (
        select(I.c.path, O.c.obs_id, O.c.filter, I.c.dither, I.c.size, I.c.mtime_ns, I.c.sha256)
        .select_from(I.join(O, O.c.id == I.c.observation_id))
        .where(I.c.params_digest == params_digest)
    )
    return {row[0]: RecordedInput(*row) for row in conn.execute(query)}


def record_inputs(
    conn: Connection,
    observation_id: int,
    params_digest: str,
    files: Sequence[tuple[str, int, int, int, str]],
    run_id: int | None,
) -> None:
    """Replace the set's recorded inputs by ``files``
    (path, dither, size, mtime_ns, sha256)."""
    conn.execute(delete(I).where(I.c.observation_id == observation_id, I.c.params_digest == params_digest))
    now = utcnow()
    conn.execute(insert(I), [
        {"observation_id": observation_id, "params_digest": params_digest, "path": path, "dither": dither,
         "size": size, "mtime_ns": mtime_ns, "sha256": sha256, "run_id": run_id, "recorded": now}
        for path, dither, size, mtime_ns, sha256 in files
    ])


def touch_inputs(conn: Connection, params_digest: str, files: Iterable[tuple[str, int, int]]) -> None:
    """New (size, mtime_ns) of files whose content hash was found unchanged."""
    for path, size, mtime_ns in files:
        conn.execute(update(I).where(I.c.params_digest == params_digest, I.c.path == path)
                     .values(size=size, mtime_ns=mtime_ns))


def run_of(conn: Connection, observation_id: int, method: str, input_digest: str, params: str) -> int | None:
    """The id of the run with this identity, if stored."""
    return conn.execute(select(R.c.id).where(
        R.c.observation_id == observation_id, R.c.method == method, R.c.input_digest == input_digest,
        R.c.params_digest == params,
    )).scalar()


def observation_row_id(conn: Connection, obs_id: int, filter: str) -> int | None:
    return conn.execute(select(O.c.id).where(O.c.obs_id == obs_id, O.c.filter == filter)).scalar()


def record_failure(
    conn: Connection,
    *,
    kind: str,
    path: str,
    reason: str,
    files: Sequence[str],
    params_digest: str,
    obs_id: int | None = None,
    filter: str | None = None,
    when: datetime | None = None,
) -> int:
    """Record a processing failure; the same open failure seen again (same
    path, kind, reason and parameters) counts one more attempt instead of a
    new row. Returns the failure's id."""
    when = when or utcnow()
    existing = conn.execute(select(P.c.id).where(
        P.c.resolved.is_(None), P.c.path == path, P.c.kind == kind, P.c.reason == reason,
        P.c.params_digest == params_digest,
    ).limit(1)).scalar()
    if existing is not None:
        conn.execute(update(P).where(P.c.id == existing)
                     .values(last_seen=when, attempts=P.c.attempts + 1, files=list(files)))
        return int(existing)
    return int(conn.execute(insert(P).values(
        obs_id=obs_id, filter=filter, kind=kind, path=path, files=list(files), reason=reason,
        params_digest=params_digest, created=when, last_seen=when, attempts=1, resolved=None,
    ).returning(P.c.id)).scalar_one())


def resolve_failures(conn: Connection, obs_id: int, filter: str, paths: Sequence[str]) -> None:
    """Mark the open failures of a set, or of any of its files, resolved."""
    about_files = [P.c.path.in_(list(paths[i:i + 500])) for i in range(0, len(paths), 500)]
    conn.execute(update(P).where(
        P.c.resolved.is_(None),
        or_(and_(P.c.obs_id == obs_id, P.c.filter == filter), *about_files),
    ).values(resolved=utcnow()))


FAILURE_COLUMNS = ("id", "obs_id", "filter", "kind", "path", "files", "reason", "created", "last_seen",
                   "attempts", "resolved")


def failures_query(*, open_only: bool = True, obs_id: int | None = None, filter: str | None = None):
    """SELECT of processing failures, newest first."""
    query = select(*(P.c[name] for name in FAILURE_COLUMNS))
    if open_only:
        query = query.where(P.c.resolved.is_(None))
    if obs_id is not None:
        query = query.where(P.c.obs_id == obs_id)
    if filter is not None:
        query = query.where(P.c.filter == filter)
    return query.order_by(P.c.last_seen.desc(), P.c.id.desc())


def failures(conn: Connection, *, open_only: bool = True, obs_id: int | None = None,
             filter: str | None = None) -> pd.DataFrame:
    """`Store.failures`."""
    rows = conn.execute(failures_query(open_only=open_only, obs_id=obs_id, filter=filter)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=list(FAILURE_COLUMNS))
    frame["obs_id"] = frame["obs_id"].astype("Int64")
    for column in ("created", "last_seen", "resolved"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def save_sets(conn: Connection, items: Sequence[tuple[ObservationResult, Sequence[Any]]],
              params_digest: str) -> list[int | None]:
    """`Store.save_sets`: the results, the files each was computed from and
    its failures resolved."""
    run_ids = save_batch(conn, [result for result, _ in items])
    for (result, files), run_id in zip(items, run_ids):
        observation_id = observation_row_id(conn, int(result.obs_id), result.filter)
        assert observation_id is not None
        if run_id is None:
            p = prepare(result)
            run_id_known = run_of(conn, observation_id, p.method, p.input_digest, p.params_digest)
        else:
            run_id_known = run_id
        record_inputs(
            conn, observation_id, params_digest,
            [(f.path, int(f.dither), int(f.size), int(f.mtime_ns), f.sha256) for f in files],
            run_id_known,
        )
        resolve_failures(conn, int(result.obs_id), result.filter, [f.path for f in files])
    return run_ids
