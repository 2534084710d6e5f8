"""Writing runs: bulk inserts of many `ObservationResult` in one transaction.

`save_batch` is the one write path. It is given an open connection inside a
transaction, so the caller decides the transaction's scope: one result (the
`Store.save_result` contract) or many (the bulk path of
`Store.save_results`, which falls back to one transaction per result when a
batch fails, so that one bad result never takes good ones down with it and
no result is ever stored in part).

Each table is written with one executemany statement per batch, whatever the
number of results in it, which is what makes ingest fast.
"""
from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert

from ..errors import StoreError
from ..results import ObservationResult
from ..status import STATUS_ORDER
from .samples import encode_sample
from .models import (
    DetectorStatRow,
    Exposure,
    ExposureFactorRow,
    MatchSampleRow,
    Observation,
    PairStatRow,
    ProcessingRun,
)

OBS = Observation.__table__
EXP = Exposure.__table__
RUN = ProcessingRun.__table__


def _num(value: Any) -> float | None:
    """A finite float, or None for None/NaN/inf."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def params_digest(parameters: dict[str, Any]) -> str:
    """Hash of a run's parameters (key order does not matter)."""
    text = json.dumps(parameters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def content_digest(result: ObservationResult) -> str:
    """Hash of what a result says, for results without an ``input_digest``
    (e.g. hand-built ones): re-saving the same content stays idempotent."""
    payload = {
        "exposures": result.to_rows(),
        "pairs": [asdict(p) for p in result.pairs],
        "detectors": [asdict(d) for d in result.detectors],
    }
    text = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return "content:" + hashlib.sha256(text.encode()).hexdigest()


def result_label(result: ObservationResult) -> str:
    """How an error message names one result."""
    return f"observation {getattr(result, 'obs_id', '?')} {getattr(result, 'filter', '?')}"


@dataclass
class _Prepared:
    result: ObservationResult
    key: tuple[int, str]
    method: str
    input_digest: str
    params_digest: str


def prepare(result: ObservationResult) -> _Prepared:
    """Check a result before anything is written.

    Raises
    ------
    StoreError
        Naming the observation and what is wrong with it.
    """
    label = result_label(result)
    try:
        obs_id = int(result.obs_id)
    except (TypeError, ValueError):
        raise StoreError(label, "observation id is not an integer") from None
    if not isinstance(result.filter, str) or not result.filter:
        raise StoreError(label, "filter is missing")
    if not result.method:
        raise StoreError(label, "method is missing")
    if not result.exposures:
        raise StoreError(label, "no exposure factors to store")
    dithers = [int(item.exposure) for item in result.exposures]
    if len(set(dithers)) != len(dithers):
        raise StoreError(label, f"dither numbers repeat: {sorted(dithers)}")
    for item in result.exposures:
        if item.status not in STATUS_ORDER:
            raise StoreError(label, f"exposure {item.exposure}: unknown status {item.status!r}")
    digest = result.input_digest or content_digest(result)
    return _Prepared(
        result=result,
        key=(obs_id, result.filter),
        method=str(result.method),
        input_digest=digest,
        params_digest=params_digest(dict(result.parameters)),
    )


_UPSERTS: dict[tuple[Any, ...], Any] = {}


def _upsert(
    conn: Connection,
    table: Any,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    update_cols: Sequence[str],
) -> dict[tuple[Any, ...], int]:
    """Insert rows or update (non-null values only) those whose ``keys``
    exist; return {key values: id}."""
    if not rows:
        return {}
    dialect = conn.dialect.name
    key_cols = [table.c[k] for k in keys]
    if dialect in ("sqlite", "postgresql"):
        cache_key = (dialect, table.name, tuple(keys), tuple(update_cols))
        stmt = _UPSERTS.get(cache_key)
        if stmt is None:  # built once: constructing it costs more than running it
            base: SqliteInsert | PostgresqlInsert
            if dialect == "sqlite":
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                base = sqlite_insert(table)
            else:
                from sqlalchemy.dialects.postgresql import insert as postgresql_insert

                base = postgresql_insert(table)
            stmt = base.on_conflict_do_update(
                index_elements=list(keys),
                set_={c: func.coalesce(base.excluded[c], table.c[c]) for c in update_cols},
            ).returning(table.c.id, *key_cols)
            _UPSERTS[cache_key] = stmt
        out = conn.execute(stmt, rows).all()
        return {tuple(row[1:]): row[0] for row in out}
    return upsert_portable(conn, table, rows, keys, update_cols)


def upsert_portable(
    conn: Connection,
    table: Any,
    rows: list[dict[str, Any]],
    keys: Sequence[str],
    update_cols: Sequence[str],
) -> dict[tuple[Any, ...], int]:
    """`_upsert` for databases without ``ON CONFLICT``: look up each row,
    insert the missing ones, update the others' non-null values."""
    found: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = tuple(row[k] for k in keys)
        cond = [table.c[k] == row[k] for k in keys]
        existing = conn.execute(select(table.c.id).where(*cond)).scalar()
        if existing is None:
            existing = conn.execute(insert(table).values(**row).returning(table.c.id)).scalar_one()
        else:
            values = {c: row[c] for c in update_cols if row.get(c) is not None}
            if values:
                conn.execute(update(table).where(table.c.id == existing).values(**values))
        found[key] = existing
    return found


_IDENTITIES = select(RUN.c.observation_id, RUN.c.method, RUN.c.input_digest, RUN.c.params_digest).where(
    RUN.c.observation_id.in_(bindparam("ids", expanding=True))
)

_REFRESH_CURRENT = (
    update(OBS)
    .where(OBS.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        current_run_id=select(RUN.c.id)
        .where(RUN.c.observation_id == OBS.c.id)
        .order_by(RUN.c.pinned.desc(), RUN.c.created.desc(), RUN.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
)


def refresh_current(conn: Connection, observation_ids: Sequence[int]) -> None:
    """Point ``observation.current_run_id`` at the pinned run, else the
    latest by ``created`` (ties: the last saved)."""
    ids = sorted(set(observation_ids))
    for start in range(0, len(ids), 500):
        conn.execute(_REFRESH_CURRENT, {"ids": ids[start : start + 500]})


_INSERT_RUN = insert(RUN).returning(
    RUN.c.id, RUN.c.observation_id, RUN.c.method, RUN.c.input_digest, RUN.c.params_digest
)
_INSERT_ROWS = tuple(
    insert(model.__table__) for model in (ExposureFactorRow, PairStatRow, DetectorStatRow, MatchSampleRow)
)


def save_batch(
    conn: Connection, results: Sequence[ObservationResult], *, imported: bool = False
) -> list[int | None]:
    """Store results inside the caller's transaction.

    Parameters
    ----------
    conn : Connection
        A connection in a write transaction; the caller commits or rolls back.
    results : sequence of ObservationResult
    imported : bool
        Mark the runs as imported from a product.

    Returns
    -------
    list of int or None
        Per result, the new run id, or None when an identical run (same
        method, input digest and parameters) of the same (obs_id, filter)
        already exists.
    """
    prepared = [prepare(r) for r in results]
    if not prepared:
        return []

    # 1. Observations: one row per (obs_id, filter), later results win.
    obs_rows: dict[tuple[int, str], dict[str, Any]] = {}
    for p in prepared:
        r = p.result
        obs_rows[p.key] = {
            "obs_id": p.key[0],
            "filter": p.key[1],
            "mjd_start": _num(r.mjd_start),
            "mjd_end": _num(r.mjd_end),
            "ra_pointing": _num(r.ra_pointing),
            "dec_pointing": _num(r.dec_pointing),
            "pa_pointing": _num(r.pa_pointing),
        }
    obs_ids = _upsert(
        conn,
        OBS,
        list(obs_rows.values()),
        ("obs_id", "filter"),
        ("mjd_start", "mjd_end", "ra_pointing", "dec_pointing", "pa_pointing"),
    )

    # 2. Idempotency: skip runs identical to a stored one (or to an earlier
    #    one of this batch).
    oid_list = sorted(set(obs_ids.values()))
    seen: set[tuple[int, str, str, str]] = set()
    for start in range(0, len(oid_list), 500):
        rows = conn.execute(_IDENTITIES, {"ids": oid_list[start : start + 500]}).all()
        seen.update(tuple(row) for row in rows)
    fresh: list[tuple[int, _Prepared, tuple[int, str, str, str]]] = []
    out: list[int | None] = [None] * len(prepared)
    for index, p in enumerate(prepared):
        identity = (obs_ids[p.key], p.method, p.input_digest, p.params_digest)
        if identity in seen:
            continue
        seen.add(identity)
        fresh.append((index, p, identity))
    if not fresh:
        return out

    # 3. Runs.
    run_rows = [
        {
            "observation_id": identity[0],
            "created": p.result.created,
            "software_version": str(p.result.software_version or ""),
            "method": p.method,
            "parameters": {str(k): v for k, v in dict(p.result.parameters).items()},
            "input_digest": p.input_digest,
            "params_digest": p.params_digest,
            "imported": bool(imported),
            "pinned": False,
        }
        for _, p, identity in fresh
    ]
    returned = conn.execute(_INSERT_RUN, run_rows).all()
    run_ids = {tuple(row[1:]): row[0] for row in returned}

    # 4. Exposures (time and file updated when the new run knows them).
    exp_rows: dict[tuple[int, int], dict[str, Any]] = {}
    for _, p, identity in fresh:
        for item in p.result.exposures:
            exp_rows[(identity[0], int(item.exposure))] = {
                "observation_id": identity[0],
                "dither": int(item.exposure),
                "mjd_obs": _num(item.mjd_obs),
                "date_obs": item.date_obs,
                "exptime": _num(item.exptime),
                "file": item.file,
            }
    exp_ids = _upsert(
        conn,
        EXP,
        list(exp_rows.values()),
        ("observation_id", "dither"),
        ("mjd_obs", "date_obs", "exptime", "file"),
    )

    # 5. What each run computed.
    factors: list[dict[str, Any]] = []
    pairs: list[dict[str, Any]] = []
    detectors: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for index, p, identity in fresh:
        run_id = run_ids[identity]
        out[index] = run_id
        r = p.result
        for item in r.exposures:
            factors.append(
                {
                    "run_id": run_id,
                    "exposure_id": exp_ids[(identity[0], int(item.exposure))],
                    "value": _num(item.value),
                    "error": _num(item.error),
                    "mag_offset": _num(item.mag_offset),
                    "status": item.status,
                    "reason": item.reason or "",
                    "n_pairs": int(item.n_pairs),
                    "n_matched": int(item.n_matched),
                    "n_kept": int(item.n_kept),
                    "n_sources": int(item.n_sources),
                    "global_value": _num(item.global_value),
                    "global_error": _num(item.global_error),
                    "crosscheck": item.crosscheck or "",
                    "collateral": item.collateral or "",
                    "detector_flag": item.detector_flag or None,
                    "detector_reason": item.detector_reason or "",
                    "detector_worst": item.detector_worst,
                    "detector_offset": _num(item.detector_offset),
                    "detector_offset_error": _num(item.detector_offset_error),
                }
            )
        for pair in r.pairs:
            pairs.append(
                {
                    "run_id": run_id,
                    "exposure_a": int(pair.exposure_a),
                    "exposure_b": int(pair.exposure_b),
                    "median": _num(pair.median),
                    "error": _num(pair.error),
                    "sigma": _num(pair.sigma),
                    "n_matched": int(pair.n_matched),
                    "n_kept": int(pair.n_kept),
                    "n_rejected": int(pair.n_rejected),
                    "clip_low": _num(pair.clip_low),
                    "clip_high": _num(pair.clip_high),
                    "valid": bool(pair.valid),
                }
            )
        for det in r.detectors:
            detectors.append(
                {
                    "run_id": run_id,
                    "exposure": int(det.exposure),
                    "detector": int(det.detector),
                    "median": _num(det.median),
                    "error": _num(det.error),
                    "n": int(det.n),
                    "status": det.status or None,
                }
            )
        for sample in r.samples:
            samples.append(
                {
                    "run_id": run_id,
                    "exposure_a": int(sample.exposure_a),
                    "exposure_b": int(sample.exposure_b),
                    "data": encode_sample(sample),
                }
            )
    for stmt, batch in zip(_INSERT_ROWS, (factors, pairs, detectors, samples)):
        if batch:
            conn.execute(stmt, batch)

    # 6. Current runs.
    refresh_current(conn, [identity[0] for _, _, identity in fresh])
    return out

