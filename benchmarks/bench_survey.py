"""Survey-scale batches: throughput, scaling, memory, reruns.

    python benchmarks/bench_survey.py                  # 120 sets timed, memory at 30 and 300 sets
    python benchmarks/bench_survey.py --quick          # 8 sets, low density: a smoke run

Writes full-density simulated sets (4 FITS_LDAC catalogues of 16 detectors,
~90,000 rows each) into a temporary directory: a dozen simulated ones, the
others copies with another OBS_ID in their primary header (the computation
costs the same). Every batch is the real `relphot compute DIR --db ...` in
a fresh process, so the figures include start-up, the header scan and the
store writes. Measured in the same run:

- sets/s with 1 and 2 workers, local processes and Dask (LocalCluster), and
  the scaling efficiency (2 workers / 1 worker);
- peak RSS of the largest worker process, at 30 and at 300 sets: streaming
  keeps it flat; the baseline, today's in-memory path (every catalogue read,
  then every set computed), grows with the batch;
- the rerun over unchanged inputs against the first run (the bigger batch);
- the projected time of the survey's 87,000 sets per worker core.
"""
from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

SURVEY_SETS = 87_000
FILTERS = ("NIR_Y", "NIR_J", "NIR_H")


# ------------------------------------------------------------------ inputs
def _patch_obs_id(data: bytes, obs_id: int) -> bytes:
    """The catalogue's bytes with OBS_ID replaced in its primary header."""
    end = data.index(b"END" + b" " * 77)
    header = data[:end]
    for start in range(0, len(header), 80):
        if header[start:start + 8] == b"OBS_ID  ":
            card = f"OBS_ID  = {obs_id:>20d} / observation id".ljust(80).encode()
            return data[:start] + card + data[start + 80:]
    raise ValueError("no OBS_ID card in the primary header")


def make_survey(directory: Path, n_sets: int, *, density: float, unique: int = 12) -> float:
    """``n_sets`` sets of 4 exposures under ``directory``; returns seconds."""
    from relphot_core.simulate import simulate_observation, write_observation

    start = time.perf_counter()
    originals: list[list[Path]] = []
    for index in range(min(unique, n_sets)):
        sim = simulate_observation(1000 + index // 3, FILTERS[index % 3], sources_per_detector=density,
                                   seed=index, exposure_offsets={1 + index % 4: 0.01})
        originals.append(write_observation(sim, directory / f"{1000 + index // 3}"))
    per_filter = max(1, len(originals) // 3)
    for index in range(len(originals), n_sets):
        obs_id = 1000 + index // 3
        # a copy of an original of the same filter (the sets stay unique by (obs, filter))
        source = originals[index % 3 + 3 * ((index // 3) % per_filter)]
        target_dir = directory / f"{obs_id}"
        target_dir.mkdir(parents=True, exist_ok=True)
        for path in source:
            name = re.sub(r"^\d+", f"{obs_id:06d}", path.name)
            (target_dir / name).write_bytes(_patch_obs_id(path.read_bytes(), obs_id))
    return time.perf_counter() - start


# ------------------------------------------------------------------- child
def child(spec: dict) -> dict:
    """Run one batch in this (fresh) process and report time and memory."""
    start = time.perf_counter()
    err, out = StringIO(), StringIO()
    if spec["kind"] == "baseline":
        from relphot_core.config import Config
        from relphot_core.pipeline import compute_catalogs
        from relphot_core.store import Store

        paths = sorted(Path(spec["dir"]).rglob("*.cat.fits"))
        results = compute_catalogs(paths, Config(), jobs=1)
        with Store.open(spec["db"]) as store:
            store.save_results(results)
        code = 0
    else:
        from relphot_core.cli import main

        with redirect_stderr(err), redirect_stdout(out):
            code = main(["compute", spec["dir"], "--db", spec["db"], "--no-samples", *spec["args"]])
    wall = time.perf_counter() - start
    scan = re.search(r"\(([\d,]+) files/s\)", err.getvalue())
    rate = re.search(r"computed \d+ set\(s\) in [\d.]+ s \(([\d.]+) sets/s\)", err.getvalue())
    return {
        "sets_per_s": float(rate.group(1)) if rate else None,
        "code": code,
        "wall": wall,
        "self_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "scan_rate": float(scan.group(1).replace(",", "")) if scan else None,
        "stderr": err.getvalue()[-2000:],
    }


def run_child(spec: dict) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"batch {spec} failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    if report["code"] != 0:
        raise SystemExit(f"batch {spec} exited {report['code']}:\n{report['stderr']}")
    return report


def worker_mb(report: dict, workers: int, kind: str) -> float:
    """Peak RSS of the largest process that computed sets."""
    if kind == "local" and workers == 1:
        return report["self_mb"]  # computed in the batch's own process
    return report["children_mb"]


# -------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=120, help="sets in the timed batches (default 120)")
    parser.add_argument("--small", type=int, default=30, help="the smaller batch of the memory test (30)")
    parser.add_argument("--big", type=int, default=300, help="the bigger batch of the memory test (300)")
    parser.add_argument("--density", type=float, default=3500.0, help="sources per detector (3500: full)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask engine")
    parser.add_argument("--quick", action="store_true", help="8 / 4 / 8 sets at density 300")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    if args.quick:
        args.sets, args.small, args.big, args.density = 8, 4, 8, 300.0
    try:
        import distributed  # noqa: F401
    except ImportError:
        args.no_dask = True

    root = Path(tempfile.mkdtemp(prefix="relphot-bench-survey-"))
    try:
        sizes = sorted({args.small, args.sets, args.big})
        made = {}
        for n in sizes:
            made[n] = make_survey(root / f"sets{n}", n, density=args.density)
        print(f"inputs: {', '.join(f'{n} sets in {made[n]:.0f} s' for n in sizes)} "
              f"(density {args.density:g} sources/detector)\n", flush=True)

        def batch(n: int, kind: str, workers: int, tag: str) -> dict:
            db = f"sqlite:///{root / f'{tag}.db'}"
            engine = ["-j", str(workers)] if kind == "local" else ["--scheduler", "local", "--workers", str(workers)]
            spec = {"kind": kind, "dir": str(root / f"sets{n}"), "db": db, "args": engine}
            return run_child(spec)

        rows = []
        timed = {}
        engines = [("local", 1), ("local", 2)] + ([] if args.no_dask else [("dask", 1), ("dask", 2)])
        for kind, workers in engines:
            report = batch(args.sets, kind, workers, f"t-{kind}{workers}")
            timed[(kind, workers)] = report
            rows.append((f"{kind}, {workers} worker{'s' if workers > 1 else ''}", args.sets, report["wall"],
                         args.sets / report["wall"], report["sets_per_s"], worker_mb(report, workers, kind)))
        memory = {}
        for n in sorted({args.small, args.big}):
            memory[n] = batch(n, "local", 2, f"m{n}")
        rerun = batch(args.big, "local", 2, f"m{args.big}")  # the same command again: everything unchanged
        baseline = run_child({"kind": "baseline", "dir": str(root / f"sets{args.small}"),
                              "db": f"sqlite:///{root / 'baseline.db'}", "args": []})
    finally:
        shutil.rmtree(root, ignore_errors=True)

    print(f"{'engine':22} {'sets':>5} {'wall s':>8} {'sets/s':>7} {'computing sets/s':>17} "
          f"{'peak RSS/worker MB':>19}")
    for name, n, wall, rate, computing, mb in rows:
        print(f"{name:22} {n:>5} {wall:8.1f} {rate:7.2f} {computing or float('nan'):17.2f} {mb:19.0f}")
    print("(wall: the whole process; computing: from the engine up to the last set stored, without the\n"
          " start-up, the header scan and a Dask cluster's start and stop)")
    one, two = timed[("local", 1)], timed[("local", 2)]
    print()
    print(f"scaling, local: 2 workers = {one['wall'] / two['wall']:.2f}x one worker, whole process; "
          f"{two['sets_per_s'] / one['sets_per_s']:.2f}x computing (target >= 1.8x)")
    if ("dask", 2) in timed:
        d1, d2 = timed[("dask", 1)], timed[("dask", 2)]
        print(f"scaling, Dask:  2 workers = {d1['wall'] / d2['wall']:.2f}x one worker, whole process; "
              f"{d2['sets_per_s'] / d1['sets_per_s']:.2f}x computing")
        print(f"Dask / local, 2 workers: {d2['wall'] / two['wall']:.2f}x the time, whole process; "
              f"{two['sets_per_s'] / d2['sets_per_s']:.2f}x computing (target within 1.10x)")
    print(f"header scan: {two['scan_rate']:,.0f} files/s")
    first = memory[args.big]
    print(f"rerun over unchanged inputs ({args.big} sets, 2 workers): {rerun['wall']:.2f} s = "
          f"{100 * rerun['wall'] / first['wall']:.1f} % of the first run's {first['wall']:.1f} s (target < 5 %)")
    print()
    print(f"{'peak RSS (MB)':34} {args.small:>8} sets {args.big:>8} sets")
    small, big = memory[args.small], memory[args.big]
    print(f"{'streamed, largest worker':34} {small['children_mb']:13.0f} {big['children_mb']:13.0f}   "
          f"ratio {big['children_mb'] / small['children_mb']:.2f} (target within 1.10, < 500 MB)")
    print(f"{'streamed, the batch process':34} {small['self_mb']:13.0f} {big['self_mb']:13.0f}")
    print(f"{'baseline: in memory (1 process)':34} {baseline['self_mb']:13.0f} {'':>13}   "
          f"= {baseline['self_mb'] / small['children_mb']:.1f}x a streamed worker; grows with the batch")
    print()
    per_set = one["wall"] / args.sets
    print(f"projected: {SURVEY_SETS:,} sets at {per_set:.2f} s/set = {SURVEY_SETS * per_set / 3600:.1f} h "
          f"per worker core; {SURVEY_SETS * two['wall'] / args.sets / 3600:.1f} h on this 2-core machine")


if __name__ == "__main__":
    main()
