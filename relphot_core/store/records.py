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


def _exposure_factor(row: Any) -> ExposureFactor:
    return ExposureFactor(
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
        global_value=row.global_value,
        global_error=row.global_error,
        crosscheck=row.crosscheck or "",
        collateral=row.collateral or "",
        detector_flag=row.detector_flag or "",
        detector_reason=row.detector_reason or "",
        detector_worst=row.detector_worst,
        detector_offset=row.detector_offset,
        detector_offset_error=row.detector_offset_error,
    )


def _factor_rows(run_ids: list[int]):
    """Statement: the factor rows (with their exposure's columns) of runs, by run and dither."""
    return (
        select(F, E.c.dither, E.c.mjd_obs, E.c.date_obs, E.c.exptime, E.c.file)
        .join(E, E.c.id == F.c.exposure_id)
        .where(F.c.run_id.in_(run_ids))
        .order_by(F.c.run_id, E.c.dither)
    )


def _result(obs: Any, run: Any, exposures, pairs=(), detectors=(), samples=()) -> ObservationResult:
    return ObservationResult(
        obs_id=obs.obs_id,
        filter=obs.filter,
        method=run.method,
        exposures=list(exposures),
        pairs=list(pairs),
        detectors=list(detectors),
        samples=list(samples),
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


def build_result(conn: Connection, obs: Any, run: Any) -> ObservationResult:
    """The result of ``run`` (a processing_run row) of ``obs`` (an observation
    row), with its pair and detector statistics and match samples."""
    exposures = [_exposure_factor(row) for row in conn.execute(_factor_rows([run.id]))]
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
        DetectorStat(exposure=row.exposure, detector=row.detector, median=row.median, error=row.error, n=row.n,
                     status=row.status or "")
        for row in conn.execute(select(D).where(D.c.run_id == run.id).order_by(D.c.id))
    ]
    samples = [
        decode_sample(row.data)
        for row in conn.execute(select(S.c.data).where(S.c.run_id == run.id).order_by(S.c.id))
    ]
    return _result(obs, run, exposures, pairs, detectors, samples)


def build_factor_results(conn: Connection, pairs: list[tuple[Any, Any]]) -> list[ObservationResult]:
    """The results of many (observation row, run row) pairs, exposure factors
    only (no pair or detector statistics, no samples), in two queries."""
    if not pairs:
        return []
    by_run: dict[int, list[ExposureFactor]] = {run.id: [] for _, run in pairs}
    for row in conn.execute(_factor_rows(list(by_run))):
        by_run[row.run_id].append(_exposure_factor(row))
    return [_result(obs, run, by_run[run.id]) for obs, run in pairs]
