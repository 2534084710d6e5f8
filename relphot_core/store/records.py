"""Rebuilding an `ObservationResult` from the rows of one run."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..results import DetectorStat, ExposureFactor, ObservationResult, PairStat
from .models import DetectorStatRow, Exposure, ExposureFactorRow, MatchSampleRow, PairStatRow
from .samples import decode_sample

E = Exposure.__table__
F = ExposureFactorRow.__table__
P = PairStatRow.__table__
D = DetectorStatRow.__table__
S = MatchSampleRow.__table__


def build_result(conn: Connection, obs: Any, run: Any) -> ObservationResult:
    """The result of ``run`` (a processing_run row) of ``obs`` (an observation row)."""
    factors = conn.execute(
        select(F, E.c.dither, E.c.mjd_obs, E.c.date_obs, E.c.exptime, E.c.file)
        .join(E, E.c.id == F.c.exposure_id)
        .where(F.c.run_id == run.id)
        .order_by(E.c.dither)
    ).all()
    exposures = [
        ExposureFactor(
            exposure=row.dither,
            value=row.value,
            error=row.error,
            mag_offset=row.mag_offset,
            status=row.status,
            reason=row.reason,
            n_pairs=row.n_pairs,
            n_matched=row.n_matched,
            n_kept=row.n_kept,
            n_sources=row.n_sources,
            mjd_obs=row.mjd_obs,
            date_obs=row.date_obs,
            exptime=row.exptime,
            file=row.file,
        )
        for row in factors
    ]
    pairs = [
        PairStat(
            exposure_a=row.exposure_a,
            exposure_b=row.exposure_b,
            median=row.median,
            error=row.error,
            sigma=row.sigma,
            n_matched=row.n_matched,
            n_kept=row.n_kept,
            n_rejected=row.n_rejected,
            clip_low=row.clip_low,
            clip_high=row.clip_high,
            valid=bool(row.valid),
        )
        for row in conn.execute(select(P).where(P.c.run_id == run.id).order_by(P.c.id))
    ]
    detectors = [
        DetectorStat(exposure=row.exposure, detector=row.detector, median=row.median, error=row.error, n=row.n)
        for row in conn.execute(select(D).where(D.c.run_id == run.id).order_by(D.c.id))
    ]
    samples = [
        decode_sample(row.data)
        for row in conn.execute(select(S.c.data).where(S.c.run_id == run.id).order_by(S.c.id))
    ]
    return ObservationResult(
        obs_id=obs.obs_id,
        filter=obs.filter,
        method=run.method,
        exposures=exposures,
        pairs=pairs,
        detectors=detectors,
        samples=samples,
        parameters=dict(run.parameters or {}),
        software_version=run.software_version,
        created=run.created,
        mjd_start=obs.mjd_start,
        mjd_end=obs.mjd_end,
        ra_pointing=obs.ra_pointing,
        dec_pointing=obs.dec_pointing,
        pa_pointing=obs.pa_pointing,
        input_digest="" if run.input_digest.startswith("content:") else run.input_digest,
    )
