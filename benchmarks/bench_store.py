"""Store benchmark: ingest rate and the dashboard's queries at survey scale.

    python benchmarks/bench_store.py                 # full: 1000 results, 40,000-observation survey
    python benchmarks/bench_store.py --quick         # smaller, for a smoke run

Part 1, ingest (SQLite file): exposure factors per second, each result with
its 6 pair statistics, 64 detector statistics (16 detectors x 4 exposures)
and, in the second table, 6 match samples of 100 points. Baseline: the
straightforward ORM code (look up or add each object, ``session.add`` row by
row, one commit per result), measured in the same run.

Part 2, queries: a survey of N observations x 3 filters x 4 exposures filled
with `relphot_core.testing.synth.fill_survey`, then the read API timed (best of
3). Each (observation, filter) has ``--runs`` runs (recomputations, the
current one last). Baseline for the exposure table: the straightforward SQL (current run by
correlated subquery, latest review by subquery) read with ``pandas.read_sql``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from relphot_core.results import ObservationResult
from relphot_core.selection import ExposureSelection
from relphot_core.store import Store
from relphot_core.store.models import (
    DetectorStatRow,
    Exposure,
    ExposureFactorRow,
    MatchSampleRow,
    Observation,
    PairStatRow,
    ProcessingRun,
)
from relphot_core.store.samples import encode_sample
from relphot_core.testing.synth import fill_survey, make_result
from relphot_core.store.writes import params_digest


# ------------------------------------------------------------------ baseline
def naive_save(store: Store, result: ObservationResult) -> None:
    """The straightforward ORM ingest: one object at a time, one commit."""
    with Session(store._writer) as session, session.begin():
        obs = session.scalars(
            select(Observation).where(Observation.obs_id == result.obs_id, Observation.filter == result.filter)
        ).first()
        if obs is None:
            obs = Observation(obs_id=result.obs_id, filter=result.filter, mjd_start=result.mjd_start,
                              mjd_end=result.mjd_end)
            session.add(obs)
            session.flush()
        run = ProcessingRun(observation_id=obs.id, created=result.created, software_version=result.software_version,
                            method=result.method, parameters=result.parameters, input_digest=result.input_digest,
                            params_digest=params_digest(result.parameters), imported=False, pinned=False)
        session.add(run)
        session.flush()
        for item in result.exposures:
            exp = session.scalars(
                select(Exposure).where(Exposure.observation_id == obs.id, Exposure.dither == item.exposure)
            ).first()
            if exp is None:
                exp = Exposure(observation_id=obs.id, dither=item.exposure, mjd_obs=item.mjd_obs,
                               date_obs=item.date_obs, exptime=item.exptime, file=item.file)
                session.add(exp)
                session.flush()
            session.add(ExposureFactorRow(run_id=run.id, exposure_id=exp.id, value=item.value, error=item.error,
                                          mag_offset=item.mag_offset, status=item.status, reason=item.reason,
                                          n_pairs=item.n_pairs, n_matched=item.n_matched, n_kept=item.n_kept,
                                          n_sources=item.n_sources))
        for p in result.pairs:
            session.add(PairStatRow(run_id=run.id, exposure_a=p.exposure_a, exposure_b=p.exposure_b, median=p.median,
                                    error=p.error, sigma=p.sigma, n_matched=p.n_matched, n_kept=p.n_kept,
                                    n_rejected=p.n_rejected, clip_low=p.clip_low, clip_high=p.clip_high,
                                    valid=p.valid))
        for d in result.detectors:
            session.add(DetectorStatRow(run_id=run.id, exposure=d.exposure, detector=d.detector, median=d.median,
                                        error=d.error, n=d.n))
        for s in result.samples:
            session.add(MatchSampleRow(run_id=run.id, exposure_a=s.exposure_a, exposure_b=s.exposure_b,
                                       data=encode_sample(s)))
        session.flush()
        session.execute(
            text("UPDATE observation SET current_run_id = :run WHERE id = :obs"), {"run": run.id, "obs": obs.id}
        )


NAIVE_EXPOSURE_SQL = """
SELECT o.obs_id, o.filter, e.dither AS exposure, e.mjd_obs, e.date_obs, f.value, f.error, f.status, f.reason,
       f.n_pairs, f.n_matched, f.run_id, r.method, v.decision AS review_decision, v.reviewer,
       v.comment AS review_comment, v.created AS reviewed_at,
       CASE WHEN v.id IS NOT NULL AND v.status = f.status THEN 1 ELSE 0 END AS reviewed
FROM observation o
JOIN processing_run r ON r.id = (
    SELECT r2.id FROM processing_run r2 WHERE r2.observation_id = o.id
    ORDER BY r2.pinned DESC, r2.created DESC, r2.id DESC LIMIT 1)
JOIN exposure_factor f ON f.run_id = r.id
JOIN exposure e ON e.id = f.exposure_id
LEFT JOIN review v ON v.id = (SELECT max(v2.id) FROM review v2 WHERE v2.exposure_id = e.id)
WHERE o.filter = :filter
ORDER BY o.obs_id, o.filter, e.dither
"""


# ------------------------------------------------------------------ helpers
def best_of(func: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        times.append(time.perf_counter() - t0)
    return min(times), out


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print(line(row))


# ------------------------------------------------------------------ part 1
def bench_ingest(workdir: Path, n_results: int, with_samples: bool) -> list[list[str]]:
    n_sample = 100 if with_samples else 0
    results = [make_result(i, "NIR_J", seed=i, n_sample=n_sample) for i in range(1, n_results + 1)]
    n_factors = sum(len(r.exposures) for r in results)
    rows = []
    rates = {}
    for name, func in (
        ("baseline: ORM, row by row, 1 commit/result", lambda s: [naive_save(s, r) for r in results]),
        ("save_result: bulk per table, 1 commit/result", lambda s: [s.save_result(r) for r in results]),
        ("save_results: batches of 200 results", lambda s: s.save_results(results, batch_size=200)),
    ):
        path = workdir / f"ingest-{len(rates)}-{int(with_samples)}.db"
        with Store.open(str(path)) as store:
            t0 = time.perf_counter()
            func(store)
            elapsed = time.perf_counter() - t0
            assert len(store.observation_table()) == n_results
        rates[name] = n_factors / elapsed
        rows.append([name, f"{elapsed:.2f}", f"{rates[name]:,.0f}"])
    base = next(iter(rates.values()))
    for row, rate in zip(rows, rates.values()):
        row.append(f"{rate / base:.1f}x")
    return rows


# ------------------------------------------------------------------ part 2
def bench_queries(workdir: Path, n_obs: int, runs: int) -> tuple[float, int, list[list[str]]]:
    path = workdir / "survey.db"
    store = Store.open(str(path))
    t0 = time.perf_counter()
    n_factors = fill_survey(store, n_obs, seed=1, runs_per_observation=runs)
    fill_time = time.perf_counter() - t0
    q_j = ExposureSelection(filters=("NIR_J",))

    def naive() -> pd.DataFrame:
        with store.engine.connect() as conn:
            return pd.read_sql(text(NAIVE_EXPOSURE_SQL), conn, params={"filter": "NIR_J"})

    rows: list[list[str]] = []
    base_t, base_df = best_of(naive, repeat=1 if n_obs > 20000 else 3)
    ours_t, ours_df = best_of(lambda: store.exposure_table(q_j))
    assert len(base_df) == len(ours_df)
    rows.append(["exposure_table(NIR_J), baseline: subqueries + read_sql", f"{len(base_df):,}", f"{base_t:.3f}",
                 "1.0x"])
    rows.append(["exposure_table(NIR_J)", f"{len(ours_df):,}", f"{ours_t:.3f}", f"{base_t / ours_t:.1f}x"])
    probes: list[tuple[str, Callable[[], object]]] = [
        ("exposure_table(NIR_J, WARN/FAIL)", lambda: store.exposure_table(
            ExposureSelection(filters=("NIR_J",), statuses=("WARN", "FAIL")))),
        ("exposure_table(NIR_J, unreviewed, limit 500)", lambda: store.exposure_table(
            ExposureSelection(filters=("NIR_J",), reviewed="no"), limit=500)),
        ("exposure_table(obs 1234)", lambda: store.exposure_table(ExposureSelection(obs_range=(1234, 1234)))),
        ("observation_table(NIR_J)", lambda: store.observation_table(q_j)),
        ("observation_table(all filters)", lambda: store.observation_table()),
        ("status_counts()", lambda: store.status_counts()),
        ("trend(NIR_J) with control chart", lambda: store.trend("NIR_J")),
        ("triage_queue(NIR_J)", lambda: store.triage_queue(q_j)),
        ("triage_queue(all filters)", lambda: store.triage_queue()),
        ("load_result(one observation)", lambda: store.load_result(n_obs // 2, "NIR_J")),
        ("neighbours(one observation)", lambda: store.neighbours(n_obs // 2, "NIR_J")),
    ]
    for name, func in probes:
        elapsed, out = best_of(func)
        size = f"{len(out):,}" if hasattr(out, "__len__") and not isinstance(out, tuple) else "1"
        rows.append([name, size, f"{elapsed:.3f}", ""])
    store.close()
    return fill_time, n_factors, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=1000, help="results ingested per method (4 factors each)")
    parser.add_argument("--n-obs", type=int, default=40000, help="observations of the synthetic survey")
    parser.add_argument("--runs", type=int, default=2, help="runs per (observation, filter): recomputations")
    parser.add_argument("--quick", action="store_true", help="200 results and 4,000 observations")
    args = parser.parse_args(argv)
    if args.quick:
        args.results, args.n_obs = 200, 4000
    with tempfile.TemporaryDirectory(prefix="relphot-bench-") as tmp:
        workdir = Path(tmp)
        header = ["method", "seconds", "factors/s", "vs baseline"]
        print_table(f"Ingest into SQLite: {args.results} results x 4 factors, with 6 pairs and 64 detector "
                    "statistics each", header, bench_ingest(workdir, args.results, with_samples=False))
        print_table("Same, plus 6 match samples of 100 points per result", header,
                    bench_ingest(workdir, args.results, with_samples=True))
        fill_time, n_factors, rows = bench_queries(workdir, args.n_obs, args.runs)
        print_table(
            f"Queries on a survey of {args.n_obs:,} observations x 3 filters x 4 exposures, {args.runs} runs "
            f"each ({n_factors:,} factors stored; fill_survey took {fill_time:.1f} s), best of 3",
            ["query", "rows", "seconds", "vs baseline"], rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
