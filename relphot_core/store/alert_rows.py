"""The alerts' rows: the digests, the events alerted once and the
deliveries to each target (`relphot_core.alerts` decides what to send and
sends it). Functions of a `~sqlalchemy.engine.Connection`; the
`~relphot_core.store.api.Store` methods of the same names open the
transactions.

An event is recorded once: its key is unique, so a batch looked at twice,
or by two processes at once, alerts nothing twice. A digest is recorded
for every batch looked at, even one that brought nothing: it marks the batch
as done for ``relphot alerts check``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Connection

from .models import AlertDelivery, AlertDigest, AlertEvent, Batch

D = AlertDigest.__table__
A = AlertEvent.__table__
S = AlertDelivery.__table__
B = Batch.__table__

DELIVERY_OUTCOMES: tuple[str, ...] = ("pending", "sent", "failed", "given_up")
"""What became of a delivery: not tried yet, taken by the target, failed (tried
again by the next run), failed `max_attempts` times (no longer tried)."""

DELIVERY_COLUMNS: tuple[str, ...] = ("id", "digest_id", "batch_id", "title", "target", "outcome", "attempts",
                                     "last_error", "last_attempt", "sent", "created")
"""Columns of `deliveries` (`Store.alert_deliveries`)."""

EVENT_COLUMNS: tuple[str, ...] = ("id", "kind", "key", "text", "problem_id", "digest_id", "batch_id", "created")
"""Columns of `events` (`Store.alert_events`)."""


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery to (re)try: which target, and the digest to send."""

    id: int
    target_id: str
    attempts: int
    title: str
    body: str


def _new_keys(conn: Connection, keys: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start:start + 500])
        known.update(conn.execute(select(A.c.key).where(A.c.key.in_(chunk))).scalars())
    return set(keys) - known


def batches_to_scan(conn: Connection) -> list[tuple[int, datetime]]:
    """The finished batches the alerts have not looked at, oldest first,
    as ``(id, started)``: those after the last one looked at; when none
    ever was, the latest finished batch only (alerts turned on later do
    not bring the whole history)."""
    done = conn.execute(select(func.max(D.c.batch_id))).scalar()
    stmt = select(B.c.id, B.c.started).where(B.c.finished.is_not(None)).order_by(B.c.id)
    if done is None:
        stmt = select(B.c.id, B.c.started).where(B.c.finished.is_not(None)).order_by(B.c.id.desc()).limit(1)
    else:
        stmt = stmt.where(B.c.id > int(done))
    return [(int(i), s) for i, s in conn.execute(stmt).all()]


def record(conn: Connection, events: Sequence[Any], digest: Callable[[list[Any]], tuple[str, str]],
           targets: Sequence[tuple[str, str]], *, batch_id: int | None, now: datetime) -> tuple[int, list[Any]]:
    """Record the events not alerted yet as one digest, with a pending
    delivery per target (`relphot_core.store.Store.record_alerts`)."""
    fresh = _new_keys(conn, [e.key for e in events])
    new = [e for e in events if e.key in fresh]
    new = list({e.key: e for e in new}.values())  # one per key
    title, body = digest(new) if new else ("", "")
    key = conn.execute(insert(D).values(created=now, batch_id=batch_id, title=title[:200], body=body,
                                        n_events=len(new))).inserted_primary_key
    assert key is not None  # an INSERT of one row
    digest_id = int(key[0])
    if new:
        conn.execute(insert(A), [{"key": e.key[:255], "kind": e.kind, "digest_id": digest_id,
                                  "problem_id": e.problem_id, "text": e.text, "created": now} for e in new])
        conn.execute(insert(S), [{"digest_id": digest_id, "target_id": target_id, "target": label[:255],
                                  "outcome": "pending", "attempts": 0, "last_error": ""}
                                 for target_id, label in targets])
    return digest_id, new


def pending(conn: Connection, target_ids: Sequence[str]) -> list[PendingDelivery]:
    """Deliveries still to send (pending or failed) to these targets, oldest first."""
    rows = conn.execute(select(S.c.id, S.c.target_id, S.c.attempts, D.c.title, D.c.body)
                        .select_from(S.join(D, D.c.id == S.c.digest_id))
                        .where(S.c.outcome.in_(("pending", "failed")), S.c.target_id.in_(list(target_ids)))
                        .order_by(S.c.id)).all()
    return [PendingDelivery(int(r.id), r.target_id, int(r.attempts), r.title, r.body) for r in rows]


def claim(conn: Connection, delivery: PendingDelivery, *, now: datetime) -> bool:
    """Count an attempt of a delivery unless another process took it since
    it was read (then False: do not send it twice)."""
    taken = conn.execute(update(S).where(S.c.id == int(delivery.id), S.c.attempts == int(delivery.attempts),
                                         S.c.outcome.in_(("pending", "failed")))
                         .values(attempts=S.c.attempts + 1, last_attempt=now))
    return bool(taken.rowcount == 1)


def record_delivery(conn: Connection, delivery_id: int, error: str | None, *, max_attempts: int,
                    now: datetime) -> str:
    """Note the outcome of a delivery's sending; returns it (sent, failed,
    or given_up once ``max_attempts`` sendings failed)."""
    attempts = int(conn.execute(select(S.c.attempts).where(S.c.id == int(delivery_id))).scalar_one())
    outcome = "sent" if error is None else ("given_up" if attempts >= max_attempts else "failed")
    conn.execute(update(S).where(S.c.id == int(delivery_id)).values(
        outcome=outcome, last_error=(error or "")[:1000], last_attempt=now, sent=now if error is None else None))
    return outcome


def deliveries(conn: Connection, *, failed_only: bool = False, since: datetime | None = None,
               limit: int | None = 100) -> pd.DataFrame:
    """Deliveries, newest first (`DELIVERY_COLUMNS`)."""
    stmt = (select(S.c.id, S.c.digest_id, D.c.batch_id, D.c.title, S.c.target, S.c.outcome, S.c.attempts,
                   S.c.last_error, S.c.last_attempt, S.c.sent, D.c.created)
            .select_from(S.join(D, D.c.id == S.c.digest_id)).order_by(S.c.id.desc()))
    if failed_only:
        stmt = stmt.where(S.c.outcome.in_(("failed", "given_up")))
    if since is not None:
        stmt = stmt.where(func.coalesce(S.c.last_attempt, D.c.created) >= since)
    if limit is not None:
        stmt = stmt.limit(int(limit))
    frame = pd.DataFrame([tuple(r) for r in conn.execute(stmt).all()], columns=list(DELIVERY_COLUMNS))
    for column in ("last_attempt", "sent", "created"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["batch_id"] = frame["batch_id"].astype("Int64")
    return frame


def events(conn: Connection, *, limit: int | None = 100) -> pd.DataFrame:
    """The events alerted, newest first (`EVENT_COLUMNS`)."""
    stmt = (select(A.c.id, A.c.kind, A.c.key, A.c.text, A.c.problem_id, A.c.digest_id, D.c.batch_id, A.c.created)
            .select_from(A.join(D, D.c.id == A.c.digest_id)).order_by(A.c.id.desc()))
    if limit is not None:
        stmt = stmt.limit(int(limit))
    frame = pd.DataFrame([tuple(r) for r in conn.execute(stmt).all()], columns=list(EVENT_COLUMNS))
    frame["created"] = pd.to_datetime(frame["created"], utc=True)
    for column in ("problem_id", "batch_id"):
        frame[column] = frame[column].astype("Int64")
    return frame


__all__ = ["DELIVERY_COLUMNS", "DELIVERY_OUTCOMES", "EVENT_COLUMNS", "PendingDelivery", "batches_to_scan", "claim",
           "deliveries", "events", "pending", "record", "record_delivery"]
