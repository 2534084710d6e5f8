"""The SQL of reviews: batches written, revoked, listed (behind `Store`).

Every action stores one `review_batch` row and one `review` row per exposure
it reviewed. ``exposure.latest_review_id`` points at the latest review that
is not revoked: revoking a batch moves it back to the review before (or to
none), so the exposure is reviewed (or awaits review) as it was before the
batch.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import String, and_, cast, func, insert, or_, select, tuple_, update
from sqlalchemy.engine import Connection

from ..qc.flags import FLAG_KINDS, flag_about
from ..reviews import StaleReviewError, check_review
from . import queries
from .models import Exposure, ExposureFactorRow, Observation, Review, ReviewBatch, utcnow

O = Observation.__table__
E = Exposure.__table__
F = ExposureFactorRow.__table__
V = Review.__table__
B = ReviewBatch.__table__

Key = tuple[int, str, int]

REVIEW_COLUMNS = {
    "id": "int64", "obs_id": "int64", "filter": "object", "exposure": "int64", "decision": "object",
    "reviewer": "object", "comment": "object", "created": "datetime", "run_id": "float64", "status": "object",
    "cause": "object", "flag_kind": "object", "flag_reason": "object", "batch_id": "Int64",
    "revoked_at": "datetime", "revoked_by": "object", "auth_mode": "object", "revoked_auth_mode": "object",
}
"""`Store.reviews` columns and their types (``auth_mode``: how the reviewer
was known, `relphot_core.identity.AuthMode`, None before it was kept)."""

BATCH_COLUMNS = {
    "batch_id": "int64", "created": "datetime", "reviewer": "object", "decision": "object", "comment": "object",
    "cause": "object", "n_reviews": "int64", "revoked_at": "datetime", "revoked_by": "object",
    "auth_mode": "object", "revoked_auth_mode": "object", "problem_id": "Int64",
}
"""`Store.review_batches` columns and their types."""


def targets(conn: Connection, pairs: Sequence[tuple[int, str]], *, lock: bool = False) -> dict[Key, dict[str, Any]]:
    """The exposures of the observations ``(obs_id, filter)`` with what a
    review of them records: ids, current run, status, the flag shown, and
    the latest valid review's id. ``lock`` holds their exposure rows until
    the transaction ends (PostgreSQL ``FOR UPDATE``; SQLite's write
    transactions hold the whole database already), so two reviews checked
    against the same state cannot both pass."""
    found: dict[Key, dict[str, Any]] = {}
    for start in range(0, len(pairs), 400):
        chunk = list(pairs[start : start + 400])
        stmt = (
            select(O.c.obs_id, O.c.filter, E.c.dither, O.c.id, E.c.id, O.c.current_run_id, F.c.status, F.c.reason,
                   F.c.detector_flag, F.c.detector_reason, F.c.crosscheck, E.c.latest_review_id)
            .select_from(O)
            .join(E, E.c.observation_id == O.c.id)
            .outerjoin(F, and_(F.c.run_id == O.c.current_run_id, F.c.exposure_id == E.c.id))
            .where(tuple_(O.c.obs_id, O.c.filter).in_(chunk))
        )
        if lock:
            stmt = stmt.with_for_update(of=E)
        for (obs_id, filt, dither, oid, eid, run_id, status, reason, det_flag, det_reason, cross,
             latest) in conn.execute(stmt):
            kind, why = flag_about({"status": status, "reason": reason, "detector_flag": det_flag,
                                    "detector_reason": det_reason, "crosscheck": cross})
            found[(obs_id, filt, dither)] = {"observation_id": oid, "exposure_id": eid, "run_id": run_id,
                                             "status": status, "flag_kind": kind, "flag_reason": why,
                                             "latest_review_id": latest}
    return found


def _when(value: Any) -> str:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert("UTC").strftime("%Y-%m-%d %H:%M UTC")


def stale_changes(conn: Connection, known: Mapping[Key, dict[str, Any]],
                  expected: Mapping[Key, int | None]) -> list[str]:
    """What changed on each exposure whose latest valid review is no longer
    the one the reviewer saw (``expected``: key -> review id, None for no
    review), one sentence each: who changed it and when."""
    changed = [(key, known[key]["latest_review_id"], expected[key]) for key in expected
               if key in known and known[key]["latest_review_id"] != expected[key]]
    if not changed:
        return []
    ids = sorted({int(i) for _, now, then in changed for i in (now, then) if i is not None})
    rows = {row.id: row for row in conn.execute(
        select(V.c.id, V.c.decision, V.c.reviewer, V.c.created, V.c.revoked_by, V.c.revoked_at)
        .where(V.c.id.in_(ids)))} if ids else {}
    out = []
    for (obs_id, filt, dither), now, then in changed:
        what = f"{obs_id} {filt} dither {dither}"
        if then is not None and then in rows and rows[then].revoked_at is not None:
            row = rows[then]
            out.append(f"{what}: the review shown was revoked by {row.revoked_by} at {_when(row.revoked_at)}")
        elif now is not None and now in rows:
            row = rows[now]
            out.append(f"{what} was {row.decision} by {row.reviewer} at {_when(row.created)}")
        else:
            out.append(f"{what} changed")
    return out


def refuse_stale(conn: Connection, known: Mapping[Key, dict[str, Any]],
                 expected: Mapping[Key, int | None] | None) -> None:
    """Raise `StaleReviewError` when an exposure's latest review is not the expected one."""
    if expected is None:
        return
    wanted = {(int(o), str(f), int(d)): (None if r is None else int(r)) for (o, f, d), r in expected.items()}
    changes = stale_changes(conn, known, wanted)
    if changes:
        raise StaleReviewError(changes)


def add_review(conn: Connection, obs_id: int, filter: str, exposures: Sequence[int] | None, decision: str,
               reviewer: str, comment: str, cause: str, about: Mapping[Key, tuple[str, str]] | None,
               expected: Mapping[Key, int | None] | None, auth_mode: str | None) -> int | None:
    """`Store.add_review`: one batch on exposures of one observation (KeyError:
    an unknown observation or exposure)."""
    known = targets(conn, [(int(obs_id), str(filter))], lock=expected is not None)
    if not known:
        raise KeyError(f"no observation {obs_id} {filter}")
    if exposures is None:
        keys = sorted(known)
    else:
        keys = []
        for dither in exposures:
            key = (int(obs_id), str(filter), int(dither))
            if key not in known:
                raise KeyError(f"no exposure {dither} in observation {obs_id} {filter}")
            keys.append(key)
        keys = list(dict.fromkeys(keys))
    refuse_stale(conn, known, expected)
    return insert_batch(conn, [known[k] for k in keys], keys, decision, reviewer, comment, cause, about, auth_mode)


def add_reviews(conn: Connection, keys: Sequence[Key], decision: str, reviewer: str, comment: str, cause: str,
                about: Mapping[Key, tuple[str, str]] | None, expected: Mapping[Key, int | None] | None,
                auth_mode: str | None) -> int | None:
    """`Store.add_reviews`: one batch on exposures of any observations
    (KeyError: an unknown exposure)."""
    known = targets(conn, sorted({(o, f) for o, f, _ in keys}), lock=expected is not None)
    missing = [key for key in keys if key not in known]
    if missing:
        raise KeyError(f"no exposure {missing[0]}")
    unique = list(dict.fromkeys(keys))
    refuse_stale(conn, known, expected)
    return insert_batch(conn, [known[k] for k in unique], unique, decision, reviewer, comment, cause, about,
                        auth_mode)


def insert_batch(conn: Connection, chosen: list[dict[str, Any]], keys: list[Key], decision: str, reviewer: str,
                 comment: str, cause: str, about: Mapping[Key, tuple[str, str]] | None,
                 auth_mode: str | None = None, *, problem_id: int | None = None) -> int | None:
    """Store one batch and a review per target; returns the batch id (None
    when there is no target: no empty batch is stored). ``auth_mode``: how
    the reviewer was known (`relphot_core.identity.AuthMode`)."""
    review = check_review(decision, reviewer, comment, cause, reason_required=False)
    if not chosen:
        return None
    now = utcnow()
    batch_id = conn.execute(insert(B).returning(B.c.id), [{
        "created": now, "reviewer": review.reviewer, "decision": review.decision, "comment": review.comment,
        "cause": review.cause, "n_reviews": len(chosen), "auth_mode": auth_mode,
        "problem_id": problem_id}]).scalar_one()
    rows = []
    for key, target in zip(keys, chosen, strict=True):
        kind, why = (about or {}).get(key) or (target["flag_kind"], target["flag_reason"])
        if kind not in FLAG_KINDS:
            raise ValueError(f"flag kind must be one of {', '.join(FLAG_KINDS)}, not {kind!r}")
        rows.append({"observation_id": target["observation_id"], "exposure_id": target["exposure_id"],
                     "run_id": target["run_id"], "status": target["status"], "decision": review.decision,
                     "reviewer": review.reviewer, "comment": review.comment, "cause": review.cause,
                     "flag_kind": kind, "flag_reason": str(why or ""), "created": now, "batch_id": batch_id})
    conn.execute(insert(V), rows)
    refresh_latest(conn, sorted({r["exposure_id"] for r in rows}))
    return batch_id


def refresh_latest(conn: Connection, exposure_ids: Sequence[int]) -> None:
    """Point ``exposure.latest_review_id`` at each exposure's latest review
    that is not revoked (None when there is none)."""
    latest = (select(func.max(V.c.id)).where(V.c.exposure_id == E.c.id, V.c.revoked_at.is_(None))
              .scalar_subquery())
    for start in range(0, len(exposure_ids), 500):
        chunk = list(exposure_ids[start : start + 500])
        conn.execute(update(E).where(E.c.id.in_(chunk)).values(latest_review_id=latest))


def batch_owner(conn: Connection, batch_id: int) -> str:
    """Who stored a batch.

    Raises
    ------
    KeyError
        No such batch.
    """
    owner = conn.execute(select(B.c.reviewer).where(B.c.id == int(batch_id))).scalar()
    if owner is None:
        raise KeyError(f"no review batch {batch_id}")
    return str(owner)


def revoke_batch(conn: Connection, batch_id: int, by: str, auth_mode: str | None = None) -> int:
    """Revoke a batch and its reviews; returns the number of reviews revoked.

    Raises
    ------
    KeyError
        No such batch. ValueError: already revoked, or no name.
    """
    by = " ".join(str(by or "").split())[:128]
    if not by:
        raise ValueError("a revocation needs the name of who revokes")
    row = conn.execute(select(B.c.id, B.c.revoked_at, B.c.revoked_by).where(B.c.id == int(batch_id))
                       .with_for_update()).first()
    if row is None:
        raise KeyError(f"no review batch {batch_id}")
    if row.revoked_at is not None:
        raise ValueError(f"review batch {batch_id} was revoked already by {row.revoked_by} at "
                         f"{_when(row.revoked_at)}")
    now = utcnow()
    conn.execute(update(B).where(B.c.id == int(batch_id)).values(revoked_at=now, revoked_by=by,
                                                                  revoked_auth_mode=auth_mode))
    exposure_ids = list(conn.execute(select(V.c.exposure_id).where(V.c.batch_id == int(batch_id),
                                                                   V.c.revoked_at.is_(None))).scalars())
    conn.execute(update(V).where(V.c.batch_id == int(batch_id), V.c.revoked_at.is_(None))
                 .values(revoked_at=now, revoked_by=by))
    refresh_latest(conn, sorted(set(exposure_ids)))
    return len(exposure_ids)


def review_rows(conn: Connection, obs_id: int | None = None, filter: str | None = None, *,
                search: str | None = None, batch_id: int | None = None,
                include_revoked: bool = True) -> pd.DataFrame:
    """`Store.reviews`."""
    stmt = (
        select(V.c.id, O.c.obs_id, O.c.filter, E.c.dither.label("exposure"), V.c.decision, V.c.reviewer,
               V.c.comment, V.c.created, V.c.run_id, V.c.status, V.c.cause, V.c.flag_kind, V.c.flag_reason,
               V.c.batch_id, V.c.revoked_at, V.c.revoked_by, B.c.auth_mode, B.c.revoked_auth_mode)
        .select_from(V)
        .join(O, O.c.id == V.c.observation_id)
        .join(E, E.c.id == V.c.exposure_id)
        .outerjoin(B, B.c.id == V.c.batch_id)
        .order_by(V.c.id)
    )
    if obs_id is not None:
        stmt = stmt.where(O.c.obs_id == int(obs_id))
    if filter is not None:
        stmt = stmt.where(O.c.filter == str(filter))
    if batch_id is not None:
        stmt = stmt.where(V.c.batch_id == int(batch_id))
    if not include_revoked:
        stmt = stmt.where(V.c.revoked_at.is_(None))
    for word in str(search or "").split():
        stmt = stmt.where(or_(*(func.lower(column).contains(word.lower(), autoescape=True)
                                for column in (V.c.comment, V.c.cause, V.c.reviewer, V.c.flag_reason,
                                               cast(O.c.obs_id, String), O.c.filter, V.c.decision))))
    return queries.frame(conn.execute(stmt).all(), REVIEW_COLUMNS)


LATEST_COLUMNS = {"obs_id": "int64", "filter": "object", "exposure": "int64", "decision": "object",
                  "reviewer": "object", "status": "object", "review_id": "float64"}
"""`latest_reviews` columns and their types."""


def latest_reviews(conn: Connection, after_id: int, up_to_id: int, filter: str | None = None) -> pd.DataFrame:
    """The reviews with ``after_id < id <= up_to_id`` that are their
    exposure's latest (not revoked): what changed in the review columns of
    the trend tables (`Store.reviews_since`)."""
    stmt = (
        select(O.c.obs_id, O.c.filter, E.c.dither.label("exposure"), V.c.decision, V.c.reviewer, V.c.status,
               V.c.id.label("review_id"))
        .select_from(V)
        .join(E, and_(E.c.id == V.c.exposure_id, E.c.latest_review_id == V.c.id))
        .join(O, O.c.id == V.c.observation_id)
        .where(V.c.id > int(after_id), V.c.id <= int(up_to_id))
        .order_by(V.c.id)
    )
    if filter is not None:
        stmt = stmt.where(O.c.filter == str(filter))
    return queries.frame(conn.execute(stmt).all(), LATEST_COLUMNS)


def batch_rows(conn: Connection) -> pd.DataFrame:
    """`Store.review_batches`."""
    stmt = select(B.c.id, B.c.created, B.c.reviewer, B.c.decision, B.c.comment, B.c.cause, B.c.n_reviews,
                  B.c.revoked_at, B.c.revoked_by, B.c.auth_mode, B.c.revoked_auth_mode,
                  B.c.problem_id).order_by(B.c.id)
    return queries.frame(conn.execute(stmt).all(), BATCH_COLUMNS)


def revocations() -> Any:
    """A scalar subquery that changes with every revocation (part of `Store.data_version`)."""
    return select(func.count(B.c.id)).where(B.c.revoked_at.is_not(None)).scalar_subquery()
