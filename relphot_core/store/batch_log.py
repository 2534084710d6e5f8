"""The batches' log, the users' visits and what is new since a time
(`relphot_core.news.News`).

Functions of a `~sqlalchemy.engine.Connection`; the
`~relphot_core.store.api.Store` facade opens the transactions.

A batch row is written when ``relphot compute --db`` starts (``finished``
empty) and completed when it ends, so a batch that died shows as one that
never finished. "New" is by processing time: a set is new when its current
run was stored after the moment, a problem when one of its events
(opened, grew, regressed) happened after it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection

from ..news import (BATCH_COLUMNS, DITHERS_PER_SET, FAILURE_COLUMNS, LONE_KIND, NEW_FAIL_COLUMNS, NEWS_EVENTS,
                    NEWS_PROBLEM_COLUMNS, SET_COLUMNS, News, Since)
from .models import (Batch, Exposure, ExposureFactorRow, Observation, Problem, ProblemEvent, ProcessingFailure,
                     ProcessingRun, UserVisit, utcnow)

B = Batch.__table__
U = UserVisit.__table__
O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
R = ProcessingRun.__table__
P = Problem.__table__
EV = ProblemEvent.__table__
FL = ProcessingFailure.__table__

VISIT_GAP = timedelta(hours=1)
"""Requests closer than this belong to one visit."""


def start(conn: Connection, *, command: str = "compute", host: str = "", software_version: str = "",
          params_digest: str = "", sets_planned: int = 0, sets_computed: int = 0,
          started: datetime | None = None) -> int:
    """Record a batch that starts now; returns its id."""
    values = {"started": started or utcnow(), "command": command[:32], "host": host[:128],
              "software_version": software_version[:64], "params_digest": params_digest[:64],
              "sets_planned": int(sets_planned), "sets_computed": int(sets_computed), "new_runs": 0, "same_runs": 0,
              "failures": 0, "statuses": {}, "problems": {}}
    key = conn.execute(insert(B).values(**values)).inserted_primary_key
    assert key is not None  # an INSERT of one row
    return int(key[0])


def finish(conn: Connection, batch_id: int, *, new_runs: int = 0, same_runs: int = 0, failures: int = 0,
           statuses: dict[str, int] | None = None, problems: dict[str, int] | None = None,
           exit_status: int | None = None, finished: datetime | None = None) -> None:
    """Complete a batch's row with what it did.

    Raises
    ------
    KeyError
        No such batch.
    """
    started: datetime | None = conn.execute(select(B.c.started).where(B.c.id == int(batch_id))).scalar()
    if started is None:
        raise KeyError(f"no batch {batch_id}")
    finished = finished or utcnow()
    conn.execute(update(B).where(B.c.id == int(batch_id)).values(
        finished=finished, seconds=max((finished - started).total_seconds(), 0.0), new_runs=int(new_runs),
        same_runs=int(same_runs), failures=int(failures), statuses={k: int(v) for k, v in (statuses or {}).items()},
        problems={k: int(v) for k, v in (problems or {}).items()}, exit_status=exit_status))


def read(conn: Connection, *, since: datetime | None = None, limit: int | None = None,
         finished_only: bool = False) -> pd.DataFrame:
    """Batches, newest first (`relphot_core.news.BATCH_COLUMNS`)."""
    stmt = select(*(B.c[name] for name in BATCH_COLUMNS)).order_by(B.c.started.desc(), B.c.id.desc())
    if since is not None:
        stmt = stmt.where(B.c.started >= since)
    if finished_only:
        stmt = stmt.where(B.c.finished.is_not(None))
    if limit is not None:
        stmt = stmt.limit(int(limit))
    frame = pd.DataFrame([tuple(r) for r in conn.execute(stmt).all()], columns=list(BATCH_COLUMNS))
    for column in ("started", "finished"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def last_started(conn: Connection) -> datetime | None:
    """When the latest batch started (None: no batch yet)."""
    return conn.execute(select(func.max(B.c.started))).scalar()


def record_visit(conn: Connection, name: str, *, now: datetime | None = None,
                 gap: timedelta = VISIT_GAP) -> datetime | None:
    """Note that ``name`` is here now; returns when their previous visit
    ended (None on a first visit).

    A request more than ``gap`` after the last one starts a new visit: the
    last one becomes the previous visit. Within a visit the answer stays
    the same, so "since your last visit" does not empty itself as one reads.
    """
    now = now or utcnow()
    name = name[:128]
    row = conn.execute(select(U.c.seen, U.c.previous).where(U.c.name == name)).first()
    if row is None:
        conn.execute(insert(U).values(name=name, seen=now, previous=None))
        return None
    seen, previous = row
    if now - seen > gap:
        previous = seen
    conn.execute(update(U).where(U.c.name == name).values(seen=now, previous=previous))
    return previous


def previous_visit(conn: Connection, name: str) -> datetime | None:
    """When ``name``'s previous visit ended, without recording one."""
    return conn.execute(select(U.c.previous).where(U.c.name == name[:128])).scalar()


def news(conn: Connection, since: Since, *, filters: list[str] | None = None) -> News:
    """What the store gained after ``since.at`` (everything when it is None)."""
    at = since.at
    # the sets whose current run is new
    runs = (select(O.c.obs_id, O.c.filter, R.c.id.label("run_id"), func.count(F.c.id).label("n_exposures"))
            .select_from(R.join(O, and_(O.c.id == R.c.observation_id, O.c.current_run_id == R.c.id))
                         .join(F, F.c.run_id == R.c.id))
            .group_by(O.c.obs_id, O.c.filter, R.c.id))
    statuses = (select(F.c.status, func.count()).select_from(R.join(O, O.c.current_run_id == R.c.id)
                                                             .join(F, F.c.run_id == R.c.id)).group_by(F.c.status))
    fails = (select(O.c.obs_id, O.c.filter, E.c.dither, F.c.value, F.c.error, F.c.reason, R.c.id)
             .select_from(R.join(O, O.c.current_run_id == R.c.id).join(F, F.c.run_id == R.c.id)
                          .join(E, E.c.id == F.c.exposure_id))
             .where(F.c.status == "FAIL").order_by(O.c.filter, O.c.obs_id, E.c.dither))
    failures = (select(*(FL.c[name] for name in FAILURE_COLUMNS)).where(FL.c.resolved.is_(None))
                .order_by(FL.c.created.desc()))
    events = (select(EV.c.problem_id, EV.c.event, EV.c.at).where(EV.c.event.in_(NEWS_EVENTS)).order_by(EV.c.id))
    batches = select(*(B.c[name] for name in BATCH_COLUMNS)).order_by(B.c.started.desc(), B.c.id.desc())
    if at is not None:
        runs, statuses, fails = (q.where(R.c.created >= at) for q in (runs, statuses, fails))
        failures = failures.where(FL.c.created >= at)
        events = events.where(EV.c.at >= at)
        batches = batches.where(B.c.started >= at)
    if filters:
        runs, statuses, fails = (q.where(O.c.filter.in_(filters)) for q in (runs, statuses, fails))
        failures = failures.where(FL.c.filter.in_(filters))

    sets = pd.DataFrame([tuple(r) for r in conn.execute(runs).all()], columns=["obs_id", "filter", "run_id",
                                                                                "n_exposures"])
    sets = sets[list(SET_COLUMNS)].sort_values(["filter", "obs_id"], kind="stable").reset_index(drop=True)
    batch_frame = pd.DataFrame([tuple(r) for r in conn.execute(batches).all()], columns=list(BATCH_COLUMNS))
    for column in ("started", "finished"):
        batch_frame[column] = pd.to_datetime(batch_frame[column], utc=True)
    failure_frame = pd.DataFrame([tuple(r) for r in conn.execute(failures).all()], columns=list(FAILURE_COLUMNS))
    failure_frame["created"] = pd.to_datetime(failure_frame["created"], utc=True)
    lone = failure_frame["kind"] == LONE_KIND
    return News(
        since=since, batches=batch_frame, sets=len(sets),
        statuses={str(s): int(n) for s, n in conn.execute(statuses).all()},
        new_fails=pd.DataFrame([tuple(r) for r in conn.execute(fails).all()], columns=list(NEW_FAIL_COLUMNS)),
        failures=failure_frame[~lone].reset_index(drop=True),
        problems=_news_problems(conn, conn.execute(events).all(), filters),
        missing_dither=sets[sets["n_exposures"] < DITHERS_PER_SET].reset_index(drop=True),
        lone=failure_frame[lone].reset_index(drop=True),
    )


def _news_problems(conn: Connection, events: Sequence[Any], filters: list[str] | None) -> pd.DataFrame:
    """One row per problem: its most telling event (`NEWS_EVENTS` order) and when."""
    rank = {event: i for i, event in enumerate(NEWS_EVENTS)}
    best: dict[int, tuple[str, datetime]] = {}
    for problem_id, event, at in events:
        kept = best.get(problem_id)
        if kept is None or rank[event] < rank[kept[0]] or (event == kept[0] and at > kept[1]):
            best[problem_id] = (event, at)
    columns = list(NEWS_PROBLEM_COLUMNS)
    if not best:
        return pd.DataFrame({c: [] for c in columns})
    stmt = (select(P.c.id, P.c.kind, P.c.filter, P.c.subject, P.c.title, P.c.size, P.c.size_error, P.c.slope, P.c.unit,
                   P.c.worst_status, P.c.n_exposures, P.c.state, P.c.ongoing, P.c.current, P.c.severity)
            .where(P.c.id.in_(list(best))))
    if filters:
        stmt = stmt.where(P.c.filter.in_(filters))
    rows = []
    for r in conn.execute(stmt).all():
        event, at = best[int(r.id)]
        rows.append((int(r.id), event, at, r.kind, r.filter, r.subject, r.title, r.size, r.size_error, r.slope, r.unit,
                     r.worst_status, int(r.n_exposures), r.state, bool(r.ongoing), bool(r.current),
                     rank[event], -float(r.severity or 0.0)))
    frame = pd.DataFrame(rows, columns=[*columns, "_rank", "_severity"])
    frame = frame.sort_values(["_rank", "_severity", "problem_id"], kind="stable").drop(columns=["_rank", "_severity"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame.reset_index(drop=True)


def totals(conn: Connection) -> dict[str, int]:
    """Counts over every batch: batches, finished ones, sets computed, runs
    stored, failures (``/metrics``' counters)."""
    row = conn.execute(select(func.count(), func.count(B.c.finished), func.coalesce(func.sum(B.c.sets_computed), 0),
                              func.coalesce(func.sum(B.c.new_runs), 0),
                              func.coalesce(func.sum(B.c.failures), 0))).one()
    return dict(zip(("batches", "finished", "sets_computed", "new_runs", "failures"), (int(v) for v in row)))
