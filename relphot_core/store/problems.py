"""The problems of the store: keep the computed problems
(`relphot_core.qc.problems`) with their identity, state and events, and read
them back. Functions of a `~sqlalchemy.engine.Connection`; the
`~relphot_core.store.api.Store` facade opens the transactions.

Identity: a problem is its fingerprint (kind, filter, subject). `sync`
matches a filter's computed problems to the stored ones by fingerprint: a
known one is updated (span, size, exposures; a resolved one seen again after
the observation it was resolved at becomes ``regressed``), a new one is
inserted ``open``, and a stored one no longer found is marked not
``current`` (its flags are gone). Every change is a `ProblemEvent` row:
opened, grew, regressed, gone, back, and the leads' acknowledge / resolve /
ignore / reopen with who and when. Each change of state or exposures bumps
the problem's ``version``: an action taken on an older version is refused.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import and_, bindparam, case, delete, func, insert, literal, select, union_all, update
from sqlalchemy.engine import Connection

from ..qc.problems import ACTION_STATE, ACTIVE_STATES, PROBLEM_STATES, STATE_ACTIONS, Problem, next_state
from ..reviews import MAX_REVIEWER
from ..status import status_rank
from .models import (DetectorStatRow, Exposure, ExposureFactorRow, Observation, Problem as ProblemRow, ProblemChart,
                     ProblemEvent, ProblemExposure, Review, ReviewBatch, utcnow)
from .queries import fetch

P = ProblemRow.__table__
PE = ProblemExposure.__table__
EV = ProblemEvent.__table__
O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
V = Review.__table__
B = ReviewBatch.__table__
PC = ProblemChart.__table__
D = DetectorStatRow.__table__

PROBLEM_COLUMNS: tuple[str, ...] = (
    "id", "kind", "filter", "subject", "title", "reason", "first_obs", "last_obs", "first_mjd", "last_mjd",
    "n_exposures", "n_collateral", "size", "size_error", "slope", "unit", "worst_status", "severity", "ongoing",
    "current", "state", "state_by", "state_at", "state_comment", "version", "created", "updated", "grew_at",
    "fingerprint")
"""Columns of `Store.problems` (then ``n_awaiting``, ``n_reviewed``)."""


class ProblemStateError(ValueError):
    """A state change that cannot be made (the message says why)."""


class StaleProblemError(ProblemStateError):
    """An action made against an older version of a problem."""


def _exposure_ids(conn: Connection, filter_name: str) -> dict[tuple[int, int], int]:
    rows = conn.execute(select(O.c.obs_id, E.c.dither, E.c.id).select_from(O)
                        .join(E, E.c.observation_id == O.c.id).where(O.c.filter == filter_name)).all()
    return {(int(o), int(d)): int(i) for o, d, i in rows}


def _values(problem: Problem) -> dict[str, Any]:
    def number(x: float) -> float | None:
        return float(x) if x is not None and np.isfinite(x) else None

    return {"kind": problem.kind, "filter": problem.filter, "subject": problem.subject[:120], "title": problem.title,
            "reason": problem.reason, "first_obs": problem.first_obs, "last_obs": problem.last_obs,
            "first_mjd": number(problem.first_mjd), "last_mjd": number(problem.last_mjd),
            "n_exposures": len(problem.exposures), "n_collateral": problem.n_collateral,
            "size": number(problem.size), "size_error": number(problem.size_error), "slope": number(problem.slope),
            "unit": problem.unit, "worst_status": problem.worst_status or None, "severity": problem.severity,
            "ongoing": bool(problem.ongoing), "current": True}


VALUE_COLUMNS: tuple[str, ...] = (
    "kind", "filter", "subject", "title", "reason", "first_obs", "last_obs", "first_mjd", "last_mjd", "n_exposures",
    "n_collateral", "size", "size_error", "slope", "unit", "worst_status", "severity", "ongoing", "current")
"""The columns a recomputation sets (`_values`): a known problem whose values, state and exposures are all as
stored is not written again."""


def _stored_members(conn: Connection, filter_name: str, since: float | None = None) -> dict[int, set[tuple[int, str]]]:
    """``problem id -> {(exposure id, role)}`` of a filter's stored problems
    (with ``since``, only of the exposures from that MJD on)."""
    members: dict[int, set[tuple[int, str]]] = {}
    stmt = (select(PE.c.problem_id, PE.c.exposure_id, PE.c.role).select_from(PE)
            .join(P, P.c.id == PE.c.problem_id).where(P.c.filter == filter_name))
    if since is not None:
        stmt = stmt.join(E, E.c.id == PE.c.exposure_id).where(E.c.mjd_obs >= float(since))
    rows = fetch(conn, stmt)
    for pid, exposure_id, role in rows:
        members.setdefault(int(pid), set()).add((int(exposure_id), str(role)))
    return members


def sync(conn: Connection, filter_name: str, problems: Sequence[Problem], *, now: datetime | None = None,
         by: str = "relphot", exposure_ids: dict[tuple[int, int], int] | None = None,
         frozen_before: float | None = None) -> dict[str, int]:
    """Store a filter's computed problems, keeping identities.

    Only what changed is written: a known problem whose values
    (`VALUE_COLUMNS`) and state are as stored is not updated (its
    ``updated`` time is that of its last change), and of the exposures
    (``problem_exposure`` rows) only those added, removed or whose role
    changed are written.

    Parameters
    ----------
    conn : Connection
        In a transaction.
    filter_name : str
        The filter whose problems these are (all of them: a stored current
        problem of the filter not among them is gone).
    problems : sequence of Problem
    now : datetime, optional
    by : str
        Who computed them (the events' author).
    exposure_ids : dict, optional
        ``(obs_id, dither) -> exposure.id`` of the filter, when the caller
        has read them (else read here).
    frozen_before : float, optional
        The problems were computed from the season's tail, the exposures
        from this MJD on (`relphot_core.qc.resume`): the stored exposures
        before it stay as they are, with their problems (a problem not
        found in the tail that has some is not gone, it ends where they
        do), and ``exposure_ids`` holds the tail's only.

    Returns
    -------
    dict
        Counts: ``opened``, ``grew``, ``regressed``, ``gone``, ``back``, ``unchanged``.
    """
    now = now or utcnow()
    counts = dict.fromkeys(("opened", "grew", "regressed", "gone", "back", "unchanged"), 0)
    columns = select(P.c.id, P.c.fingerprint, P.c.state, P.c.resolved_obs, P.c.version, P.c.grew_at,
                     *[P.c[name] for name in VALUE_COLUMNS if name != "filter"]).where(P.c.filter == filter_name)
    if frozen_before is None:
        stored = {row.fingerprint: row for row in conn.execute(columns)}
        old_members = _stored_members(conn, filter_name) if stored else {}
    else:  # from the tail: the problems found, those with exposures in the tail, those without any
        old_members = _stored_members(conn, filter_name, frozen_before)
        wanted = [p.fingerprint[:200] for p in problems]
        stored = {}
        for start in range(0, max(len(wanted), len(old_members), 1), 500):
            chosen = columns.where(P.c.fingerprint.in_(wanted[start:start + 500])
                                   | P.c.id.in_(list(old_members)[start:start + 500]))
            stored.update((row.fingerprint, row) for row in conn.execute(chosen))
        stored.update((row.fingerprint, row) for row in conn.execute(columns.where(P.c.n_exposures == 0)))
    ids = exposure_ids if exposure_ids is not None else (
        _exposure_ids(conn, filter_name) if any(p.exposures for p in problems) else {})
    events: list[dict[str, Any]] = []
    members: dict[int, set[tuple[int, str]]] = {}
    updates: list[dict[str, Any]] = []
    seen: set[int] = set()

    before_tail: dict[int, tuple[int, int]] = {}

    def frozen(old: Any) -> tuple[int, int]:
        """Exposures (and collateral ones) of a stored problem before the tail."""
        if frozen_before is None:
            return 0, 0
        if int(old.id) not in before_tail:
            tail = old_members.get(int(old.id), ())
            before_tail[int(old.id)] = (int(old.n_exposures or 0) - len(tail),
                                        int(old.n_collateral or 0) - sum(role == "collateral" for _, role in tail))
        return before_tail[int(old.id)]

    # the worst status of the exposures before the tail (a flagged detector's problem holds them all already)
    # (only where the stored worst is worse than the tail's: else the tail's is the worst of all)
    kept = [int(stored[p.fingerprint[:200]].id) for p in problems if p.kind != "detector"
            and p.fingerprint[:200] in stored and frozen(stored[p.fingerprint[:200]])[0] > 0
            and _worse(stored[p.fingerprint[:200]].worst_status, p.worst_status)]
    worst_before = _worst_status_before(conn, kept, frozen_before) if kept and frozen_before is not None else {}
    for problem in problems:
        fingerprint = problem.fingerprint[:200]
        old = stored.get(fingerprint)
        if old is not None and int(old.id) in worst_before:
            statuses = [w for w in (problem.worst_status, worst_before[int(old.id)]) if w]
            problem = replace(problem, worst_status=max(statuses, key=status_rank) if statuses else "")
        values = _values(problem)
        mine = {(ids[(o, d)], role) for o, d, role in problem.exposures if (o, d) in ids}
        if frozen_before is not None:
            values["n_exposures"] = len(mine)
            values["n_collateral"] = sum(role == "collateral" for _, role in mine)
            if old is not None and (before := frozen(old))[0] > 0:  # its exposures before the tail stay
                values["n_exposures"] += before[0]
                values["n_collateral"] += before[1]
                for name, pick in (("first_obs", min), ("first_mjd", min)):
                    known = [v for v in (values[name], getattr(old, name)) if v is not None]
                    values[name] = pick(known) if known else None
        if old is None:
            pid = conn.execute(insert(P).returning(P.c.id), [{
                **values, "fingerprint": fingerprint, "state": "open", "state_comment": "", "version": 1,
                "created": now, "updated": now, "grew_at": now}]).scalar_one()
            events.append({"problem_id": pid, "event": "opened", "n_exposures": values["n_exposures"]})
            counts["opened"] += 1
        else:
            pid = int(old.id)
            state = next_state(old.state, old.resolved_obs, problem.last_obs)
            grew = values["n_exposures"] > int(old.n_exposures or 0) or (
                problem.last_obs is not None and old.last_obs is not None and problem.last_obs > old.last_obs)
            changed = (state != old.state or grew or not old.current
                       or values["n_exposures"] != int(old.n_exposures or 0))
            if changed or any(values[name] != getattr(old, name) for name in VALUE_COLUMNS if name != "filter"):
                updates.append({**values, "pid": pid, "state": state, "updated": now,
                                "grew_at": now if grew else old.grew_at,
                                "version": int(old.version) + (1 if changed else 0)})
            if state != old.state:
                events.append({"problem_id": pid, "event": "regressed", "n_exposures": values["n_exposures"]})
                counts["regressed"] += 1
            elif not old.current:
                events.append({"problem_id": pid, "event": "back", "n_exposures": values["n_exposures"]})
                counts["back"] += 1
            elif grew:
                events.append({"problem_id": pid, "event": "grew", "n_exposures": values["n_exposures"]})
                counts["grew"] += 1
            else:
                counts["unchanged"] += 1
        seen.add(pid)
        members[pid] = mine
    if updates:  # one statement, many parameter sets
        names = [k for k in updates[0] if k != "pid"]
        conn.execute(update(P).where(P.c.id == bindparam("pid")).values({k: bindparam(k) for k in names}), updates)
    missing = [row for row in stored.values() if row.current and int(row.id) not in seen]
    # computed from the tail: a problem not found there that has exposures before it ends with them
    ending = [row for row in missing if frozen(row)[0] > 0]
    for row in ending:
        pid = int(row.id)
        if not old_members.get(pid):
            continue  # nothing of it in the tail: as it was
        count, collateral = frozen(row)
        last = conn.execute(select(O.c.obs_id, E.c.mjd_obs).select_from(PE).join(E, E.c.id == PE.c.exposure_id)
                            .join(O, O.c.id == E.c.observation_id)
                            .where(PE.c.problem_id == pid, E.c.mjd_obs < float(frozen_before or 0.0))
                            .order_by(E.c.mjd_obs.desc(), O.c.obs_id.desc()).limit(1)).first()
        conn.execute(update(P).where(P.c.id == pid).values(
            n_exposures=count, n_collateral=collateral, last_obs=last.obs_id if last else row.last_obs,
            last_mjd=last.mjd_obs if last else row.last_mjd, ongoing=False, updated=now, version=P.c.version + 1))
        seen.add(pid)
        members[pid] = set()
    gone = [int(row.id) for row in missing if frozen(row)[0] <= 0]
    if gone:
        conn.execute(update(P).where(P.c.id.in_(gone)).values(current=False, ongoing=False, updated=now,
                                                               version=P.c.version + 1))
        events.extend({"problem_id": pid, "event": "gone", "n_exposures": 0} for pid in gone)
        counts["gone"] += len(gone)
    # the exposures: only the rows that differ (a growing drift of thousands of exposures gains a few rows, it
    # is not rewritten); every row of a problem gone
    removed: list[dict[str, int]] = []
    added: list[dict[str, Any]] = []
    for pid in seen:
        old_roles = dict(old_members.get(pid, ()))
        new_roles = dict(members[pid])
        removed += [{"pid": pid, "eid": eid} for eid, role in old_roles.items() if new_roles.get(eid) != role]
        added += [{"problem_id": pid, "exposure_id": eid, "role": role}
                  for eid, role in sorted(new_roles.items()) if old_roles.get(eid) != role]
    removed += [{"pid": pid, "eid": eid} for pid in gone for eid, _ in sorted(old_members.get(pid, ()))]
    if removed:
        conn.execute(delete(PE).where(PE.c.problem_id == bindparam("pid"), PE.c.exposure_id == bindparam("eid")),
                     removed)
    for start in range(0, len(added), 5000):
        conn.execute(insert(PE), added[start:start + 5000])
    if events:
        conn.execute(insert(EV), [{**e, "at": now, "by": by, "comment": ""} for e in events])
    return counts


def _worse(status: str | None, than: str | None) -> bool:
    """Whether ``status`` is a worse status than ``than`` (an empty one is the best)."""
    if not status:
        return False
    return not than or status_rank(status) > status_rank(than)


def _worst_status_before(conn: Connection, problem_ids: list[int], before: float) -> dict[int, str]:
    """The worst status of each problem's own (primary) exposures before ``before`` (MJD)."""
    rows = conn.execute(select(PE.c.problem_id, F.c.status).distinct().select_from(PE)
                        .join(E, E.c.id == PE.c.exposure_id).join(O, O.c.id == E.c.observation_id)
                        .join(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id))
                        .where(PE.c.problem_id.in_(problem_ids), PE.c.role == "primary",
                               E.c.mjd_obs < float(before))).all()
    worst: dict[int, str] = {}
    for pid, status in rows:
        if status and (int(pid) not in worst or status_rank(status) > status_rank(worst[int(pid)])):
            worst[int(pid)] = str(status)
    return worst


def _reviewed() -> Any:
    """Per problem: its exposures reviewed at their current status (a
    subquery walking the latest reviews, not the problems' exposures: a
    drift holds thousands of exposures, the reviews are few). An exposure
    ``shared`` with another detector drift counts only when it was reviewed
    as this problem's (in one of its review batches): reviewing one of two
    detectors that drift at once leaves the other waiting."""
    reviewed = (select(E.c.id).select_from(V)
                .join(E, and_(E.c.id == V.c.exposure_id, E.c.latest_review_id == V.c.id))
                .join(O, O.c.id == E.c.observation_id)
                .join(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id,
                              F.c.status == V.c.status)))
    held = select(PE.c.problem_id, PE.c.exposure_id).where(PE.c.role != "shared", PE.c.exposure_id.in_(reviewed))
    as_mine = (select(PE.c.problem_id, PE.c.exposure_id).distinct().select_from(V)
               .join(B, B.c.id == V.c.batch_id)
               .join(PE, and_(PE.c.exposure_id == V.c.exposure_id, PE.c.problem_id == B.c.problem_id,
                              PE.c.role == "shared"))
               .join(E, E.c.id == V.c.exposure_id)
               .join(O, O.c.id == E.c.observation_id)
               .join(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id, F.c.status == V.c.status))
               .where(V.c.revoked_at.is_(None), B.c.revoked_at.is_(None)))
    both = union_all(held, as_mine).subquery()
    return select(both.c.problem_id, func.count().label("n_reviewed")).group_by(both.c.problem_id).subquery()


_BOOLEAN_COLUMNS = ("ongoing", "current")
_TIME_COLUMNS = ("state_at", "created", "updated", "grew_at")


def _selected(*, filters: Sequence[str] | None = None, states: Sequence[str] | None = None,
              kinds: Sequence[str] | None = None, current: bool | None = True, problem_id: int | None = None,
              awaiting: bool | None = None) -> Any:
    """The problems chosen (`read`'s filters) with their review counts: a
    SELECT of `PROBLEM_COLUMNS`, ``n_awaiting`` and ``n_reviewed``."""
    counts = _reviewed()
    n_reviewed = func.coalesce(counts.c.n_reviewed, 0)
    stmt = (select(*[P.c[name] for name in PROBLEM_COLUMNS], (P.c.n_exposures - n_reviewed).label("n_awaiting"),
                   n_reviewed.label("n_reviewed"))
            .select_from(P).outerjoin(counts, counts.c.problem_id == P.c.id))
    if filters is not None:
        stmt = stmt.where(P.c.filter.in_(list(filters)))
    if states is not None:
        stmt = stmt.where(P.c.state.in_(list(states)))
    if kinds is not None:
        stmt = stmt.where(P.c.kind.in_(list(kinds)))
    if current is not None:
        stmt = stmt.where(P.c.current.is_(bool(current)))
    if problem_id is not None:
        stmt = stmt.where(P.c.id == int(problem_id))
    if awaiting is not None:
        # a failure has no exposure: it waits until a lead decides
        waits = (P.c.n_exposures - n_reviewed > 0) | ((P.c.kind == "failure") & P.c.state.in_(ACTIVE_STATES))
        stmt = stmt.where(waits if awaiting else ~waits)
    return stmt


def read(conn: Connection, *, filters: Sequence[str] | None = None, states: Sequence[str] | None = None,
         kinds: Sequence[str] | None = None, current: bool | None = True, problem_id: int | None = None,
         awaiting: bool | None = None, limit: int | None = None) -> pd.DataFrame:
    """Problems with their review counts, worst first (`PROBLEM_COLUMNS`,
    ``n_awaiting``, ``n_reviewed``).

    An exposure of a problem awaits review unless its latest valid review
    was made at its current status: ``n_awaiting = n_exposures - n_reviewed``.
    """
    stmt = _selected(filters=filters, states=states, kinds=kinds, current=current, problem_id=problem_id,
                     awaiting=awaiting).order_by(P.c.severity.desc(), P.c.first_obs, P.c.id)
    if limit is not None:
        stmt = stmt.limit(int(limit))
    # raw rows, columns converted at once (a Row and a datetime a value cost more than the query)
    frame = pd.DataFrame(list(fetch(conn, stmt)), columns=[*PROBLEM_COLUMNS, "n_awaiting", "n_reviewed"])
    for column in ("n_awaiting", "n_reviewed", "n_exposures", "n_collateral", "version", "id"):
        frame[column] = frame[column].astype("int64")
    for column in ("size", "size_error", "slope", "first_mjd", "last_mjd", "severity"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    for column in _BOOLEAN_COLUMNS:
        frame[column] = frame[column].astype(bool)
    for column in _TIME_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="mixed")
    for column in ("first_obs", "last_obs"):
        frame[column] = frame[column].astype("Int64")
    return frame


def summary(conn: Connection, **chosen: Any) -> dict[str, int]:
    """How many problems `read` would give (``chosen``: its filters), with
    their exposures awaiting review and how many are ongoing, in one
    aggregate (the queue lists the worst few of thousands)."""
    rows = _selected(**chosen).subquery()
    row = conn.execute(select(func.count(), func.coalesce(func.sum(rows.c.n_awaiting), 0),
                              func.coalesce(func.sum(case((rows.c.ongoing.is_(True), 1), else_=0)), 0))).one()
    return {"problems": int(row[0]), "awaiting": int(row[1]), "ongoing": int(row[2])}


def exposures(conn: Connection, problem_id: int) -> pd.DataFrame:
    """The exposures of a problem: obs_id, filter, exposure, role, mjd_obs,
    value, error, status, reason, reviewed (at the current status),
    review_decision, reviewer, review_id (the latest valid review); by time."""
    reviewed = case((and_(V.c.id.is_not(None), V.c.status == F.c.status), literal(True)), else_=literal(False))
    stmt = (select(O.c.obs_id, O.c.filter, E.c.dither.label("exposure"), PE.c.role, E.c.mjd_obs, F.c.value, F.c.error,
                   F.c.status, F.c.reason, reviewed.label("reviewed"), V.c.decision.label("review_decision"),
                   V.c.reviewer, E.c.latest_review_id)
            .select_from(PE)
            .join(E, E.c.id == PE.c.exposure_id)
            .join(O, O.c.id == E.c.observation_id)
            .join(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id))
            .outerjoin(V, V.c.id == E.c.latest_review_id)
            .where(PE.c.problem_id == int(problem_id))
            .order_by(E.c.mjd_obs, O.c.obs_id, E.c.dither))
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["obs_id", "filter", "exposure", "role", "mjd_obs", "value",
                                                            "error", "status", "reason", "reviewed",
                                                            "review_decision", "reviewer", "review_id"])
    frame["review_id"] = frame["review_id"].astype("Int64")
    frame["reviewed"] = frame["reviewed"].astype(bool)
    return frame


def events(conn: Connection, problem_id: int | None = None, *, since: datetime | None = None) -> pd.DataFrame:
    """Problem events, oldest first: problem_id, at, event, by, comment, n_exposures."""
    stmt = select(EV.c.problem_id, EV.c.at, EV.c.event, EV.c.by, EV.c.comment, EV.c.n_exposures).order_by(EV.c.id)
    if problem_id is not None:
        stmt = stmt.where(EV.c.problem_id == int(problem_id))
    if since is not None:
        stmt = stmt.where(EV.c.at >= since)
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=["problem_id", "at", "event", "by", "comment",
                                                            "n_exposures"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def set_state(conn: Connection, problem_id: int, action: str, by: str, *, comment: str = "",
              expected_version: int | None = None, now: datetime | None = None) -> int:
    """Apply a lead's action (`relphot_core.qc.problems.STATE_ACTIONS`) to a
    problem; returns its new version.

    Raises
    ------
    KeyError
        No such problem.
    StaleProblemError
        ``expected_version`` is not the problem's version (someone changed
        it since it was shown: the message says who and when).
    ProblemStateError
        An unknown action, no author, or an action its state does not allow.
    """
    if action not in STATE_ACTIONS:
        raise ProblemStateError(f"action must be one of {', '.join(STATE_ACTIONS)}, not {action!r}")
    by = " ".join(str(by or "").split())[:MAX_REVIEWER]
    if not by:
        raise ProblemStateError("a change of a problem's state needs the name of who makes it")
    row = conn.execute(select(P.c.state, P.c.version, P.c.last_obs, P.c.state_by, P.c.updated)
                       .where(P.c.id == int(problem_id)).with_for_update()).first()
    if row is None:
        raise KeyError(f"no problem {problem_id}")
    if expected_version is not None and int(expected_version) != int(row.version):
        last = conn.execute(select(EV.c.event, EV.c.by, EV.c.at).where(EV.c.problem_id == int(problem_id))
                            .order_by(EV.c.id.desc()).limit(1)).first()
        who = f"{last.event} by {last.by} at {last.at:%Y-%m-%d %H:%M} UTC" if last is not None else "changed"
        raise StaleProblemError(f"problem {problem_id} changed since you saw it ({who}): reload it first")
    if row.state not in STATE_ACTIONS[action]:
        raise ProblemStateError(f"problem {problem_id} is {row.state}: it cannot be {ACTION_STATE[action]}")
    now = now or utcnow()
    state = ACTION_STATE[action]
    values: dict[str, Any] = {"state": state, "state_by": by, "state_at": now, "state_comment": str(comment or ""),
                              "version": int(row.version) + 1, "updated": now}
    if state == "resolved":
        values["resolved_obs"] = row.last_obs
    conn.execute(update(P).where(P.c.id == int(problem_id)).values(**values))
    conn.execute(insert(EV), [{"problem_id": int(problem_id), "at": now, "event": action, "by": by,
                               "comment": str(comment or ""), "n_exposures": 0}])
    return int(row.version) + 1


def review_keys(conn: Connection, problem_id: int) -> list[tuple[int, str, int]]:
    """The ``(obs_id, filter, dither)`` of a problem's exposures."""
    rows = conn.execute(select(O.c.obs_id, O.c.filter, E.c.dither).select_from(PE)
                        .join(E, E.c.id == PE.c.exposure_id).join(O, O.c.id == E.c.observation_id)
                        .where(PE.c.problem_id == int(problem_id)).order_by(O.c.obs_id, E.c.dither)).all()
    return [(int(o), str(f), int(d)) for o, f, d in rows]


def exposure_problems(conn: Connection, filter_name: str) -> pd.DataFrame:
    """Which current problem each exposure of a filter belongs to:
    obs_id, exposure, problem_id, problem_kind, role (one row an exposure:
    the problem that holds it, not a detector drift that shares it)."""
    rows = conn.execute(select(O.c.obs_id, E.c.dither, PE.c.problem_id, P.c.kind, PE.c.role).select_from(PE)
                        .join(P, P.c.id == PE.c.problem_id).join(E, E.c.id == PE.c.exposure_id)
                        .join(O, O.c.id == E.c.observation_id)
                        .where(O.c.filter == filter_name, P.c.current.is_(True), PE.c.role != "shared")).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["obs_id", "exposure", "problem_id", "problem_kind", "role"])


def observation_problems(conn: Connection) -> pd.DataFrame:
    """The problems each (observation, filter) holds an exposure of:
    obs_id, filter, problems (their titles, worst first, with the state
    when it is not ``open``, e.g. ``drift of dither 4 (acknowledged);
    exposure 1071 dither 2``), n_problems. Current problems only, neither
    resolved nor ignored.

    The pairs are read as numbers and the titles once per problem (a drift
    of a survey holds tens of thousands of observations): 1.5 s -> 0.3 s
    for 80,000 observations at 480,000 factors."""
    live = and_(P.c.current.is_(True), P.c.state.not_in(("resolved", "ignored")))
    problems = fetch(conn, select(P.c.id, P.c.title, P.c.state, P.c.severity).where(live))
    empty = pd.DataFrame({"obs_id": pd.Series(dtype="int64"), "filter": pd.Series(dtype=object),
                          "problems": pd.Series(dtype=object), "n_problems": pd.Series(dtype="int64")})
    if not problems:
        return empty
    ids = np.array([int(p[0]) for p in problems], dtype=np.int64)
    text = np.array([str(title) if state == "open" else f"{title} ({state})" for _, title, state, _ in problems],
                    dtype=object)
    severity = np.array([float(p[3] or 0.0) for p in problems])
    pairs = np.array(fetch(conn, select(E.c.observation_id, PE.c.problem_id).distinct().select_from(PE)
                           .join(P, P.c.id == PE.c.problem_id).join(E, E.c.id == PE.c.exposure_id).where(live)),
                     dtype=np.int64).reshape(-1, 2)
    if not len(pairs):
        return empty
    place = np.searchsorted(ids, pairs[:, 1], sorter=np.argsort(ids))
    index = np.argsort(ids)[place]
    order = np.lexsort((ids[index], -severity[index], pairs[:, 0]))  # per observation row: worst first
    observation, index = pairs[order, 0], index[order]
    starts = np.flatnonzero(np.r_[True, observation[1:] != observation[:-1]])
    ends = np.r_[starts[1:], observation.size]
    texts = text[index]
    joined = [texts[a] if b - a == 1 else "; ".join(texts[a:b]) for a, b in zip(starts.tolist(), ends.tolist())]
    keys = dict(((int(pk), (int(obs_id), str(band))) for pk, obs_id, band in fetch(
        conn, select(O.c.id, O.c.obs_id, O.c.filter).where(O.c.id.in_(select(E.c.observation_id).select_from(PE)
                                                                        .join(E, E.c.id == PE.c.exposure_id))))))
    chosen = [keys[int(pk)] for pk in observation[starts].tolist()]
    frame = pd.DataFrame({"obs_id": np.array([k[0] for k in chosen], dtype=np.int64),
                          "filter": np.array([k[1] for k in chosen], dtype=object),
                          "problems": np.array(joined, dtype=object), "n_problems": (ends - starts).astype("int64")})
    return frame.sort_values(["obs_id", "filter"], ignore_index=True)


def flagged_detector_exposures(filter_name: str) -> Any:
    """The ids of the exposures of a filter's flagged detectors' problems (a
    subquery): before the tail of the season, the exposures a tail
    computation reads too (every exposure whose detector is flagged is its
    detector's problem's)."""
    return (select(PE.c.exposure_id).select_from(PE).join(P, P.c.id == PE.c.problem_id)
            .where(P.c.filter == filter_name, P.c.kind == "detector", PE.c.role == "primary"))


def read_chart(conn: Connection, filter_name: str) -> Any:
    """The stored chart state of a filter (a `ProblemChart` row), or None."""
    return conn.execute(select(PC).where(PC.c.filter == filter_name)).first()


def write_chart(conn: Connection, values: dict[str, Any]) -> None:
    """Store a filter's chart state (``values``: the `ProblemChart` columns)."""
    conn.execute(delete(PC).where(PC.c.filter == values["filter"]))
    conn.execute(insert(PC), [values])


def forget_chart(conn: Connection, filter_name: str) -> None:
    """Remove a filter's chart state (its next computation starts from the first night)."""
    conn.execute(delete(PC).where(PC.c.filter == filter_name))


def current_runs(conn: Connection, filter_name: str, after: int = 0) -> tuple[int, int, int, int, int]:
    """The current runs of a filter's observations: how many, the sum and
    the largest of their ids, and how many and their sum above ``after``
    (one pass)."""
    newer = O.c.current_run_id > int(after)
    row = conn.execute(select(func.count(O.c.current_run_id), func.coalesce(func.sum(O.c.current_run_id), 0),
                              func.coalesce(func.max(O.c.current_run_id), 0),
                              func.coalesce(func.sum(case((newer, 1), else_=0)), 0),
                              func.coalesce(func.sum(case((newer, O.c.current_run_id), else_=0)), 0))
                       .where(O.c.filter == filter_name, O.c.current_run_id.is_not(None))).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4])


def only_appended(conn: Connection, filter_name: str, chart: Any,
                  runs: tuple[int, int, int, int, int] | None = None) -> bool:
    """Whether the filter's data since ``chart`` was computed are new
    observations after its last exposure, and nothing else: no observation
    reprocessed or removed, no detector rows where there were none
    (``runs``: `current_runs` after ``chart.max_run``, when read already)."""
    n_runs, run_sum, _, n_new, new_sum = runs or current_runs(conn, filter_name, int(chart.max_run))
    if n_runs != int(chart.n_runs) + n_new or run_sum != int(chart.run_sum) + new_sum:
        return False
    if n_new == 0:
        return True
    earliest = conn.execute(select(func.min(E.c.mjd_obs)).select_from(O).join(E, E.c.observation_id == O.c.id)
                            .where(O.c.filter == filter_name, O.c.current_run_id > int(chart.max_run))).scalar()
    if earliest is None or chart.last_mjd is None or not float(earliest) > float(chart.last_mjd):
        return False
    if chart.detector_scale is None:  # no detector series then: none may start now
        return conn.execute(select(D.c.run_id).select_from(O).join(D, D.c.run_id == O.c.current_run_id)
                            .where(O.c.filter == filter_name, O.c.current_run_id > int(chart.max_run))
                            .limit(1)).first() is None
    return True


def version(conn: Connection) -> int:
    """A number that changes with every event of every problem (found, grew, gone, a lead's action)."""
    return int(conn.execute(select(func.max(EV.c.id))).scalar() or 0)


__all__ = ["PROBLEM_COLUMNS", "PROBLEM_STATES", "ProblemStateError", "StaleProblemError", "current_runs", "events",
           "exposure_problems", "exposures", "flagged_detector_exposures", "forget_chart", "observation_problems",
           "only_appended", "read", "read_chart", "review_keys", "set_state", "summary", "sync", "version",
           "write_chart"]
