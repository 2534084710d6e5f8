"""Synthetic store content, for tests and benchmarks.

`make_result` builds a plausible `ObservationResult` by hand (no catalogues
needed); `fill_survey` fills a store with a whole survey's current values
through a fast bulk path (factors and runs only, no pair/detector rows), to
measure the dashboard's queries at scale; `fill_detector_stats` adds the
detector rows of such a survey. They write through the store's engine
(`Store.engine`) in bulk, past its API.
"""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import insert, select

from ..config import FILTERS, Detectors, Thresholds
from ..photometry import flux_ratio_to_mag
from ..results import DetectorStat, ExposureFactor, MatchSample, ObservationResult, PairStat
from ..status import Status, exposure_statuses
from ..store.engine import write_engine
from ..store.models import (
    DetectorStatRow,
    Exposure,
    ExposureFactorRow,
    Observation,
    ProcessingRun,
    Review,
    utcnow,
)
from ..store.writes import params_digest, refresh_current

if TYPE_CHECKING:  # pragma: no cover
    from ..store.api import Store

DETECTORS = tuple(10 * row + col for row in range(1, 5) for col in range(1, 5))


def make_result(
    obs_id: int,
    filter: str = "NIR_J",
    *,
    values: Sequence[float | None] | None = None,
    seed: int = 0,
    method: str = "median",
    n_detectors: int = 16,
    n_sample: int = 50,
    mjd_start: float = 60000.0,
    input_digest: str | None = None,
    parameters: dict[str, str] | None = None,
    created: datetime | None = None,
) -> ObservationResult:
    """A hand-built result of one (observation, filter).

    Parameters
    ----------
    values : sequence of float or None, optional
        One factor per dither (None = NODATA); default 4 factors near 1.
    n_detectors : int
        Detector statistics per exposure (0 for none).
    n_sample : int
        Points per pair in the match samples (0 for no samples).
    input_digest : str, optional
        Default: derived from obs_id, filter and seed.
    """
    rng = np.random.default_rng(seed)
    if values is None:
        values = list(1.0 + rng.normal(0.0, 0.002, 4))
    error = 0.001
    statuses = exposure_statuses([np.nan if v is None else v for v in values], error, Thresholds())
    exposures = []
    for dither, (value, status) in enumerate(zip(values, statuses), start=1):
        mag = None if value is None else float(flux_ratio_to_mag(value))
        exposures.append(
            ExposureFactor(
                exposure=dither,
                value=None if value is None else float(value),
                error=None if value is None else error,
                mag_offset=mag,
                status=str(status),
                reason="no valid pair" if value is None else "",
                n_pairs=0 if value is None else len(values) - 1,
                n_matched=int(rng.integers(300, 2000)),
                n_kept=int(rng.integers(200, 300)),
                n_sources=int(rng.integers(2000, 4000)),
                mjd_obs=mjd_start + (dither - 1) * 0.003,
                date_obs=f"2026-01-01T00:{dither:02d}:00.000",
                exptime=87.2,
                file=f"EUC_NIR_{obs_id}_{filter}_{dither}.fits",
            )
        )
    dithers = [e.exposure for e in exposures]
    pairs = [
        PairStat(a, b, float(rng.normal(0, 0.003)), 0.0005, 0.02, 500, 480, 20, -0.06, 0.06, True)
        for i, a in enumerate(dithers) for b in dithers[i + 1 :]
    ]
    detectors = [
        DetectorStat(d, det, float(rng.normal(0, 0.003)), 0.002, int(rng.integers(20, 200)))
        for d in dithers for det in DETECTORS[:n_detectors]
    ]
    samples = []
    if n_sample:
        for pair in pairs:
            samples.append(
                MatchSample(
                    pair.exposure_a, pair.exposure_b,
                    ra=rng.uniform(150, 151, n_sample), dec=rng.uniform(2, 3, n_sample),
                    mag=rng.uniform(17, 22, n_sample), dm=rng.normal(0, 0.02, n_sample),
                    kept=rng.random(n_sample) > 0.05,
                )
            )
    return ObservationResult(
        obs_id=obs_id,
        filter=filter,
        method=method,
        exposures=exposures,
        pairs=pairs,
        detectors=detectors,
        samples=samples,
        parameters=dict(parameters or {"clipping.sigma": "3.0", "matching.radius_arcsec": "0.5"}),
        software_version="0.1.0",
        created=created or utcnow(),
        mjd_start=mjd_start,
        mjd_end=mjd_start + 0.01,
        ra_pointing=150.5,
        dec_pointing=2.5,
        pa_pointing=0.0,
        input_digest=input_digest if input_digest is not None else f"synth-{obs_id}-{filter}-{seed}",
    )


def fill_survey(
    store: Store,
    n_obs: int,
    seed: int = 0,
    *,
    filters: Sequence[str] = FILTERS,
    n_exposures: int = 4,
    first_obs_id: int = 1,
    review_fraction: float = 0.01,
    runs_per_observation: int = 1,
    chunk: int = 5000,
    mjd_range: tuple[float, float] = (60000.0, 62000.0),
    drift: float = 0.002,
) -> int:
    """Fill a store with ``n_obs`` observations x ``filters`` x ``n_exposures``
    current factors (no pair/detector rows), fast, at times drawn uniformly
    in ``mjd_range`` (a later range: the next nights of the survey).

    ``runs_per_observation`` > 1 adds earlier runs (recomputations, one day
    apart, same statuses) under the current one, as a real store holds.

    Factors scatter by 0.2% around 1 with a slow drift (a sine of amplitude
    ``drift``, 1 sigma by default: every series is in a drift alarm much of
    the time; 0: in control between the outliers) and ~2% outliers, so
    every status occurs; ``review_fraction`` of the flagged exposures get a
    review. Returns the number of exposure factors written (all runs).
    """
    rng = np.random.default_rng(seed)
    obs_t, exp_t, run_t, fac_t, rev_t = (
        Observation.__table__, Exposure.__table__, ProcessingRun.__table__,
        ExposureFactorRow.__table__, Review.__table__,
    )
    now = utcnow()
    params = {"method": "median", "synthetic": "true"}
    pdigest = params_digest(params)
    written = 0
    obs_ids = np.arange(first_obs_id, first_obs_id + n_obs)
    mjd0 = np.sort(rng.uniform(float(mjd_range[0]), float(mjd_range[1]), n_obs))
    for start in range(0, n_obs, chunk):
        ids = obs_ids[start : start + chunk]
        mjds = mjd0[start : start + chunk]
        with write_engine(store.engine).begin() as conn:
            obs_rows = [
                {"obs_id": int(o), "filter": f, "mjd_start": float(m), "mjd_end": float(m) + 0.05,
                 "ra_pointing": float(rng.uniform(0, 360)), "dec_pointing": float(rng.uniform(-60, 60)),
                 "pa_pointing": 0.0}
                for o, m in zip(ids, mjds) for f in filters
            ]
            conn.execute(insert(obs_t), obs_rows)
            oid = {
                (r.obs_id, r.filter): (r.id, r.mjd_start)
                for r in conn.execute(
                    select(obs_t.c.id, obs_t.c.obs_id, obs_t.c.filter, obs_t.c.mjd_start).where(
                        obs_t.c.obs_id.between(int(ids[0]), int(ids[-1]))
                    )
                )
            }
            keys = [(int(o), f) for o in ids for f in filters]
            older: list[dict[int, int]] = []  # earlier runs (recomputations), oldest first
            for generation in range(runs_per_observation):
                created = now - timedelta(days=runs_per_observation - 1 - generation)
                run_rows = [
                    {"observation_id": oid[k][0], "created": created, "software_version": "synthetic",
                     "method": "median", "parameters": params,
                     "input_digest": hashlib.sha1(f"{k}-{seed}-{generation}".encode()).hexdigest(),
                     "params_digest": pdigest, "imported": False, "pinned": False}
                    for k in keys
                ]
                older.append(dict(conn.execute(
                    insert(run_t).returning(run_t.c.observation_id, run_t.c.id), run_rows
                ).all()))
            runs = older.pop()
            exp_rows = [
                {"observation_id": oid[k][0], "dither": d, "mjd_obs": oid[k][1] + 0.01 * d,
                 "date_obs": None, "exptime": 87.2, "file": None}
                for k in keys for d in range(1, n_exposures + 1)
            ]
            conn.execute(insert(exp_t), exp_rows)
            exp_ids = conn.execute(
                select(exp_t.c.id, exp_t.c.observation_id, exp_t.c.mjd_obs).where(
                    exp_t.c.observation_id.in_([oid[k][0] for k in keys])
                )
            ).all()
            n = len(exp_ids)
            slow = float(drift) * np.sin(np.array([m for _, _, m in exp_ids]) / 150.0)
            values = 1.0 + slow + rng.normal(0, 0.002, n)
            outlier = rng.random(n) < 0.02
            values[outlier] += rng.choice([-1, 1], outlier.sum()) * rng.uniform(0.006, 0.03, outlier.sum())
            nodata = rng.random(n) < 0.003
            errors = np.full(n, 0.0008)
            statuses = exposure_statuses(np.where(nodata, np.nan, values), errors, Thresholds()).tolist()
            fac_rows = []
            flagged = []
            for i, (eid, obs_pk, _) in enumerate(exp_ids):
                value = None if nodata[i] else float(values[i])
                status = statuses[i]
                fac_rows.append(
                    {"run_id": runs[obs_pk], "exposure_id": eid, "value": value,
                     "error": None if value is None else float(errors[i]),
                     "mag_offset": None if value is None else float(flux_ratio_to_mag(value)),
                     "status": status, "reason": "", "n_pairs": 0 if value is None else n_exposures - 1,
                     "n_matched": 1500, "n_kept": 1400, "n_sources": 3000}
                )
                if status != Status.OK and rng.random() < review_fraction:
                    flagged.append({"observation_id": obs_pk, "exposure_id": eid, "decision": "confirmed",
                                    "reviewer": "synth", "comment": "", "created": now,
                                    "run_id": runs[obs_pk], "status": status})
            for earlier in older:
                conn.execute(insert(fac_t), [
                    {**row, "run_id": earlier[obs_pk], "value": None if row["value"] is None else
                     row["value"] + float(rng.normal(0, 0.001))}
                    for row, (_, obs_pk, _) in zip(fac_rows, exp_ids)
                ])
            conn.execute(insert(fac_t), fac_rows)
            if flagged:
                reviewed = conn.execute(insert(rev_t).returning(rev_t.c.id, rev_t.c.exposure_id), flagged).all()
                conn.execute(
                    exp_t.update().where(exp_t.c.id == _bind("eid")).values(latest_review_id=_bind("rid")),
                    [{"eid": e, "rid": r} for r, e in reviewed],
                )
            refresh_current(conn, [oid[k][0] for k in keys])
            written += len(fac_rows) * (1 + len(older))
    return written


def _bind(name: str):
    from sqlalchemy import bindparam

    return bindparam(name)


def fill_detector_stats(
    store: Store,
    seed: int = 0,
    *,
    bad: tuple[str, int, float, float, float] | None = ("NIR_J", 23, 0.02, 0.45, 0.47),
    step: tuple[str, int, float, float] | None = ("NIR_H", 41, 0.006, 0.6),
    thresholds: Detectors = Detectors(),
    chunk: int = 400_000,
) -> int:
    """Add 16 synthetic detector rows to every exposure of the current runs
    that has none (a store filled by `fill_survey`).

    Relative offsets scatter by their errors (1.5-3 mmag; 20-200 sources);
    ``median = mag_offset + relative offset``; the status follows
    `relphot_core.flags.detector_status`.

    Parameters
    ----------
    store : Store
    seed : int
    bad : (filter, detector, offset mag, start, end) or None
        A detector off by ``offset`` for the exposures between the
        fractions ``start`` and ``end`` of the season (by MJD).
    step : (filter, detector, offset mag, start) or None
        A detector that steps by ``offset`` from the fraction ``start`` on.
    thresholds : Detectors
    chunk : int
        Rows inserted per statement batch.

    Returns
    -------
    int
        Detector rows written.
    """
    from ..flags import detector_status

    O, E, F, D = (Observation.__table__, Exposure.__table__, ExposureFactorRow.__table__,
                  DetectorStatRow.__table__)

    rng = np.random.default_rng(seed)
    stmt = (
        select(O.c.filter, O.c.current_run_id, E.c.dither, E.c.mjd_obs, F.c.mag_offset)
        .select_from(O)
        .join(F, F.c.run_id == O.c.current_run_id)
        .join(E, E.c.id == F.c.exposure_id)
        .where(~select(D.c.id).where(D.c.run_id == O.c.current_run_id).exists())
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return 0
    filters = np.array([r[0] for r in rows], dtype=object)
    run_id = np.array([r[1] for r in rows], dtype=np.int64)
    dither = np.array([r[2] for r in rows], dtype=np.int64)
    mjd = np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=float)
    mag = np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=float)
    n_det = len(DETECTORS)
    size = len(rows) * n_det
    detector = np.tile(np.array(DETECTORS), len(rows))
    band = np.repeat(filters, n_det)
    when = np.repeat(mjd, n_det)
    low, high = np.nanmin(mjd), np.nanmax(mjd)
    fraction = (when - low) / max(high - low, 1e-9)
    error = rng.uniform(0.0015, 0.003, size)
    relative = rng.normal(0.0, 1.0, size) * error  # calibrated errors
    if bad is not None:
        name, det, offset, start, end = bad
        relative[(band == name) & (detector == det) & (fraction >= start) & (fraction < end)] += offset
    if step is not None:
        name, det, offset, start = step
        relative[(band == name) & (detector == det) & (fraction >= start)] += offset
    count = rng.integers(20, 200, size)
    base = np.repeat(mag, n_det)
    median = base + relative
    status = detector_status(np.where(np.isfinite(base), relative, np.nan), error, count, thresholds)
    records = list(zip(np.repeat(run_id, n_det).tolist(), np.repeat(dither, n_det).tolist(), detector.tolist(),
                       [None if not np.isfinite(m) else m for m in median.tolist()], error.tolist(),
                       count.tolist(), status.tolist()))
    sql = ("INSERT INTO detector_stat (run_id, exposure, detector, median, error, n, status) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)")
    with write_engine(store.engine).begin() as conn:
        if conn.dialect.paramstyle != "qmark":
            sql = sql.replace("?", "%s")
        for start in range(0, len(records), chunk):
            conn.exec_driver_sql(sql, records[start:start + chunk])
    return size
