"""Problems at survey size: what computing them adds to a nightly batch, and
what the problem queue and the overview's headline cost to read.

    python benchmarks/bench_problems.py                       # 40,000 observations (480,000 factors)
    python benchmarks/bench_problems.py --observations 4000 --density 500
    python benchmarks/bench_problems.py --drift 0 --detectors # a survey in control between its faults

The store is synthesised with `relphot_core.testing.synth.fill_survey` (the
dashboard benchmark's survey: 0.2 % scatter, ~2 % outliers and, with the
default ``--drift 0.002``, a slow sine of 1 sigma on every series, so that
every dither series is in a drift alarm much of the time: thousands of
problems, more than a real survey would hold; ``--drift 0``: in control
between the outliers), with ``--detectors`` 16 detector rows per exposure
(`relphot_core.testing.synth.fill_detector_stats`: a bad detector over a
span and a detector that steps for good, still off in the nights added).
Measured:

- ``update_problems`` on the whole store the first time (every problem
  opened); after a night of new observations (``--night`` x 3 filters,
  after the season's last one) computed from the tail of the season (what
  ``relphot compute --db`` adds to its batch); and after a second such
  night computed from the first night (``from_start=True``: what it cost
  before the tail computation), against the baseline of that night's own
  computation: the same number of sets through `compute_observation` on
  simulated catalogues (``--density`` sources per detector, 3500: the full
  density of the survey benchmark), timed in the same run, wall and CPU
  time (on a loaded machine the CPU ratio is the one to read); and the
  whole nightly batch that the problems are added to: ``relphot compute
  DIR --db ... --jobs 1`` in a fresh process over that night's sets
  written as FITS_LDAC catalogues (`bench_survey.make_survey`: a dozen
  simulated, the others copies with another OBS_ID), its start-up, header
  scan, catalogue reading and store writes included (``--no-batch``
  skips it);
- the queue (``Store.problems(awaiting=True)``) and the headline
  (``Store.problems(states=open, regressed)``) reads, 20 times each (p50, p95).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def timed(work) -> tuple[object, float, float]:
    """``work()``, its wall and CPU seconds (this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = work()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def nightly_compute_seconds(n_sets: int, density: float) -> tuple[float, float]:
    """Wall and CPU seconds to compute ``n_sets`` simulated sets in this process (one core)."""
    from relphot_core.factors import compute_observation
    from relphot_core.simulate import simulate_observation

    catalogs = [simulate_observation(5_000_000 + i, "NIR_J", sources_per_detector=density, seed=i).to_catalogs()
                for i in range(n_sets)]
    _, wall, cpu = timed(lambda: [compute_observation(cats, keep_samples=False) for cats in catalogs])
    return wall, cpu


def nightly_batch_seconds(n_sets: int, density: float) -> tuple[float, float]:
    """Wall and CPU seconds of ``relphot compute --jobs 1`` over ``n_sets``
    full sets of FITS catalogues, into a new store, in a fresh process."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_survey import make_survey

    with tempfile.TemporaryDirectory(prefix="relphot-bench-night-") as tmp:
        make_survey(Path(tmp) / "night", n_sets, density=density)
        command = [sys.executable, "-c", "import sys; from relphot_core.cli import main; sys.exit(main(sys.argv[1:]))",
                   "compute", str(Path(tmp) / "night"), "--db", f"sqlite:///{Path(tmp) / 'night.db'}",
                   "--jobs", "1", "--no-samples", "--no-snapshots", "--quiet"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise SystemExit(f"the nightly batch failed:\n{done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=int, default=40_000)
    parser.add_argument("--night", type=int, default=40, help="observations of the night (x 3 filters)")
    parser.add_argument("--density", type=float, default=3500.0, help="sources per detector of the night's sets")
    parser.add_argument("--drift", type=float, default=0.002, help="amplitude of the survey's slow drift")
    parser.add_argument("--detectors", action="store_true", help="16 detector rows per exposure")
    parser.add_argument("--no-batch", action="store_true", help="skip timing the whole nightly batch")
    args = parser.parse_args()

    from relphot_core.qc.problems import ACTIVE_STATES
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_detector_stats, fill_survey

    def add_night(store: Store, number: int) -> None:
        first = args.observations - 2 * args.night + 1 + number * args.night
        fill_survey(store, args.night, seed=2 + number, first_obs_id=first, drift=args.drift,
                    mjd_range=(62000.0 + 4 * number, 62004.0 + 4 * number))
        if args.detectors:
            # the detector that stepped for good stays off in the night: a drift that never ends
            fill_detector_stats(store, seed=2 + number, bad=None, step=("NIR_H", 41, 0.006, 0.0))

    def summary(counts: dict[str, dict[str, int]]) -> dict[str, int]:
        return {k: sum(c[k] for c in counts.values()) for k in ("opened", "grew", "gone", "unchanged")}

    with tempfile.TemporaryDirectory(prefix="relphot-bench-problems-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'survey.db'}")
        start = time.perf_counter()
        written = fill_survey(store, args.observations - 2 * args.night, seed=1, drift=args.drift)
        if args.detectors:
            written += fill_detector_stats(store, seed=1)
        print(f"{written:,} rows written in {time.perf_counter() - start:.0f} s")
        counts, first, first_cpu = timed(store.update_problems)
        n_problems = sum(c["opened"] for c in counts.values())
        add_night(store, 0)
        counts, again, again_cpu = timed(store.update_problems)
        night_counts = summary(counts)
        add_night(store, 1)
        _, whole, whole_cpu = timed(lambda: store.update_problems(from_start=True))
        queue, headline = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            rows = store.problems(awaiting=True)
            queue.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            store.problems(states=ACTIVE_STATES)
            headline.append(time.perf_counter() - t0)
        store.close()
    n_sets = 3 * args.night
    sample = min(n_sets, 12)
    compute, compute_cpu = (seconds * n_sets / sample for seconds in nightly_compute_seconds(sample, args.density))
    batch, batch_cpu = (None, None) if args.no_batch else nightly_batch_seconds(n_sets, args.density)
    print(f"{args.observations:,} observations x 3 filters (drift {args.drift}, "
          f"{'with' if args.detectors else 'no'} detector rows); {n_problems:,} problems; the night: {args.night} "
          f"observations ({n_sets} sets at {args.density:.0f} sources per detector): {night_counts}\n")
    rows_out = [
        ("update_problems, first (every problem opened)", f"{first:.2f} s", f"CPU {first_cpu:.2f} s"),
        ("after a night, from the season's tail", f"{again:.2f} s", f"CPU {again_cpu:.2f} s"),
        ("after a night, from the first night (before)", f"{whole:.2f} s", f"CPU {whole_cpu:.2f} s"),
        ("the night's computation (baseline, one core)", f"{compute:.1f} s", f"CPU {compute_cpu:.1f} s"),
        ("problems / computation, CPU, tail", f"{100 * again_cpu / compute_cpu:.1f} %", "< 5 %"),
        ("problems / computation, CPU, first night", f"{100 * whole_cpu / compute_cpu:.1f} %", ""),
    ]
    if batch is not None and batch_cpu is not None:
        rows_out += [
            (f"the night's batch, relphot compute --jobs 1 ({n_sets} sets)", f"{batch:.1f} s",
             f"CPU {batch_cpu:.1f} s"),
            ("problems / batch, CPU, tail", f"{100 * again_cpu / batch_cpu:.1f} %", "< 5 %"),
            ("problems / batch, CPU, first night", f"{100 * whole_cpu / batch_cpu:.1f} %", ""),
        ]
    rows_out += [
        ("problem queue read p50 / p95", "{:.0f} / {:.0f} ms".format(*(1000 * v for v in _percentiles(queue))),
         f"{len(rows):,} rows"),
        ("headline read p50 / p95", "{:.0f} / {:.0f} ms".format(*(1000 * v for v in _percentiles(headline))), ""),
    ]
    width = max(len(r[0]) for r in rows_out)
    for name, value, note in rows_out:
        print(f"{name:{width}}  {value:>14}  {note}")


if __name__ == "__main__":
    main()
