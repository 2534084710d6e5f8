"""Problems at survey size: what computing them adds to a nightly batch, and
what the problem queue and the overview's headline cost to read.

    python benchmarks/bench_problems.py                  # 40,000 observations (480,000 factors)
    python benchmarks/bench_problems.py --observations 4000

The store is synthesised with `relphot_core.testing.synth.fill_survey` (the
dashboard benchmark's survey: 0.2 % scatter, a slow drift, ~2 % outliers:
thousands of problems, more than a real survey would hold). Measured:

- ``update_problems`` on the whole store the first time (every problem
  opened) and after a "night" of new observations (the problems of the
  three filters computed again and synchronised: what ``relphot compute
  --db`` adds to its batch), against the baseline of that night's own
  computation: the same number of sets through `compute_observation` on
  simulated catalogues (density 500 per detector), timed in the same run,
  wall and CPU time (on a shared, loaded machine the wall times wait for
  the other processes: the CPU ratio is the one to read);
- the queue (``Store.problems(awaiting=True)``) and the headline
  (``Store.problems(states=open, regressed)``) reads, 20 times each (p50, p95).
"""
from __future__ import annotations

import argparse
import statistics
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


def nightly_compute_seconds(n_sets: int) -> tuple[float, float]:
    """Wall and CPU seconds to compute ``n_sets`` simulated sets in this process (one core)."""
    from relphot_core.factors import compute_observation
    from relphot_core.simulate import simulate_observation

    catalogs = [simulate_observation(5_000_000 + i, "NIR_J", sources_per_detector=500, seed=i).to_catalogs()
                for i in range(n_sets)]
    _, wall, cpu = timed(lambda: [compute_observation(cats, keep_samples=False) for cats in catalogs])
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=int, default=40_000)
    parser.add_argument("--night", type=int, default=40, help="observations of the night (x 3 filters)")
    args = parser.parse_args()

    from relphot_core.qc.problems import ACTIVE_STATES
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_survey

    with tempfile.TemporaryDirectory(prefix="relphot-bench-problems-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'survey.db'}")
        start = time.perf_counter()
        written = fill_survey(store, args.observations - args.night, seed=1)
        print(f"{written:,} factors written in {time.perf_counter() - start:.0f} s")
        counts, first, first_cpu = timed(store.update_problems)
        n_problems = sum(c["opened"] for c in counts.values())
        # the night: new observations, then the problems again
        fill_survey(store, args.night, seed=2, first_obs_id=args.observations - args.night + 1)
        counts, again, again_cpu = timed(store.update_problems)
        grown = {k: sum(c[k] for c in counts.values()) for k in ("opened", "grew", "unchanged")}
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
    sample = min(n_sets, 24)
    compute, compute_cpu = (seconds * n_sets / sample for seconds in nightly_compute_seconds(sample))
    print(f"{args.observations:,} observations x 3 filters; {n_problems:,} problems; the night: {args.night} "
          f"observations ({n_sets} sets): {grown}\n")
    rows_out = [
        ("update_problems, first (every problem opened)", f"{first:.2f} s", f"CPU {first_cpu:.2f} s"),
        ("update_problems after the night", f"{again:.2f} s", f"CPU {again_cpu:.2f} s"),
        ("the night's computation (baseline, one core)", f"{compute:.1f} s", f"CPU {compute_cpu:.1f} s"),
        ("problems / computation, wall", f"{100 * again / compute:.1f} %", "< 5 %"),
        ("problems / computation, CPU", f"{100 * again_cpu / compute_cpu:.1f} %", "< 5 %"),
        ("problem queue read p50 / p95", "{:.0f} / {:.0f} ms".format(*(1000 * v for v in _percentiles(queue))),
         f"{len(rows):,} rows"),
        ("headline read p50 / p95", "{:.0f} / {:.0f} ms".format(*(1000 * v for v in _percentiles(headline))), ""),
    ]
    width = max(len(r[0]) for r in rows_out)
    for name, value, note in rows_out:
        print(f"{name:{width}}  {value:>14}  {note}")


if __name__ == "__main__":
    main()
