"""QC validation: a simulated season with known faults, and one without,
through the whole chain; what was found against what was injected.

    python benchmarks/bench_qc.py                    # 2,500 observations (10,000 exposures per filter)
    python benchmarks/bench_qc.py --quick            # 400 observations: a smoke run

Two filters of the same observations (10 a day, 500 S/N >= 10 sources per
detector): NIR_J carries the faults, NIR_Y none. For every set the chain is
the product's: simulated catalogues -> `compute_observation` (matching,
clipping, factors, global solution, detector statuses) -> the store
(SQLite) -> the control charts of `Store.trend` -> the flags. Injected in
NIR_J:

- bad exposures of 1-5 % (either sign): each >= 1.5 % must be FAIL;
- bad detectors of 1-5 %: each >= 2 % must be flagged (detector flag);
- a step of 0.5 % in dither position 2 (from a quarter of the season, for
  an eighth of it): alarmed within 10 observations;
- a drift of 0.1 % a day in dither position 3 (from mid-season): alarmed
  before 1.5 %;
- missing dithers (3-exposure sets), some with a bad exposure: the good
  exposures' flags must read collateral.

On NIR_Y (fault-free): flags per exposure (any status but OK, any other
flag) and flagged detectors, against 1 per 10,000 each.

Then a season whose faults *end*, and overlap (`relphot_core.simulate.faults.
ending_faults_season`: 160 observations of NIR_H): a 3 % bad exposure,
detector 23 3 % faint over 30 observations, a 0.5 % step of a dither over 20,
a permanent 0.5 % step of another, a drift of 0.1 % a day of a third. Through
the same chain, then the problems (`relphot_core.qc.problems`): each fault
must be one problem of its kind, its span right within 10 observations (a
ramp's onset within 15), its size within 3 errors of the truth (of the
factors: the partners' leak of the median of pair medians included); at most
1 in 200 fault-free exposures (beyond that tolerance from a fault) is a
problem's own. ``--season`` runs this part alone (about a minute).
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PER_DAY = 10
"""Observations a day."""
MJD0 = 60700.0


@dataclass
class Plan:
    """The injected faults of the NIR_J season."""

    n: int
    bad_exposure: dict[int, tuple[int, float]] = field(default_factory=dict)      # obs -> (dither, flux fraction)
    bad_detector: dict[int, tuple[int, int, float]] = field(default_factory=dict)  # obs -> (dither, det, fraction)
    missing: dict[int, int] = field(default_factory=dict)                          # obs -> missing dither
    step_start: int = 0
    step_end: int = 0
    ramp_start: int = 0

    def exposure_fraction(self, obs: int, dither: int) -> float:
        """True relative flux (1 = nominal) of an exposure of NIR_J."""
        fraction = 1.0
        if obs in self.bad_exposure and self.bad_exposure[obs][0] == dither:
            fraction *= self.bad_exposure[obs][1]
        if dither == 2 and self.step_start <= obs < self.step_end:
            fraction *= 0.995
        if dither == 3 and obs >= self.ramp_start:
            fraction *= 1.0 - 0.001 * (obs - self.ramp_start) / PER_DAY
        return fraction


def make_plan(n: int, seed: int = 1) -> Plan:
    rng = np.random.default_rng(seed)
    plan = Plan(n=n, step_start=n // 4, step_end=n // 4 + max(50, n // 8), ramp_start=n // 2)
    quiet = [i for i in range(n) if not (plan.step_start - 20 <= i < plan.step_end + 30)
             and not (plan.ramp_start - 20 <= i)]  # faults away from the step and the ramp
    picks = rng.choice(quiet, size=min(len(quiet), max(12, n // 25)), replace=False)
    third = len(picks) // 3
    for obs in picks[:third]:
        plan.bad_exposure[int(obs)] = (int(rng.integers(1, 5)),
                                       1 + float(rng.uniform(0.01, 0.05)) * rng.choice([-1, 1]))
    for obs in picks[third:2 * third]:
        plan.bad_detector[int(obs)] = (int(rng.integers(1, 5)), int(rng.choice([11, 14, 22, 23, 32, 33, 41, 44])),
                                       1 + float(rng.uniform(0.01, 0.05)) * rng.choice([-1, 1]))
    for k, obs in enumerate(picks[2 * third:]):
        plan.missing[int(obs)] = int(rng.integers(1, 5))
        if k % 2 == 0:  # half of them with a bad exposure among the three left
            left = [d for d in (1, 2, 3, 4) if d != plan.missing[int(obs)]]
            plan.bad_exposure[int(obs)] = (int(rng.choice(left)), 1.03)
    return plan


def _mag(fraction: float) -> float:
    return -2.5 * math.log10(fraction)


def compute_chunk(args: tuple[Plan, list[int], str, float]):
    """Simulate and compute some sets in a worker; return the results (no
    samples) and the detector statuses of interest."""
    from relphot_core.factors import compute_observation
    from relphot_core.simulate import simulate_observation

    plan, observations, band, density = args
    results = []
    for obs in observations:
        kwargs: dict = {}
        if band == "NIR_J":
            kwargs["exposure_offsets"] = {d: _mag(plan.exposure_fraction(obs, d)) for d in (1, 2, 3, 4)
                                          if plan.exposure_fraction(obs, d) != 1.0}
            if obs in plan.bad_detector:
                d, det, fraction = plan.bad_detector[obs]
                kwargs["detector_offsets"] = {(d, det): _mag(fraction)}
            if obs in plan.missing:
                kwargs["missing"] = [plan.missing[obs]]
        sim = simulate_observation(10_000 + obs, band, sources_per_detector=density, seed=obs,
                                   ra=(obs * 7.3) % 360, dec=-30.0 + (obs % 50), mjd=MJD0 + obs / PER_DAY,
                                   **kwargs)
        results.append(compute_observation(sim.to_catalogs(), keep_samples=False))
    return results


def season_chunk(args: tuple[object, list[int]]):
    """Simulate and compute some observations of the ending-faults season."""
    from relphot_core.factors import compute_observation
    from relphot_core.simulate import simulate_observation

    season, observations = args
    return [compute_observation(simulate_observation(filter_name="NIR_H", **season.observation_kwargs(obs))
                                .to_catalogs(), keep_samples=False) for obs in observations]


def ending_season_rows(workers: int) -> list[tuple[str, str, str, bool]]:
    """The ending-faults season through the chain: one row per fault, and the clean-flag rate."""
    from relphot_core.simulate.faults import ending_faults_season
    from relphot_core.store import Store

    season = ending_faults_season(160)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relphot-bench-season-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'season.db'}")
        chunks = [(season, list(range(i, min(i + 20, season.n)))) for i in range(0, season.n, 20)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for results in pool.map(season_chunk, chunks):
                store.save_results(results)
        computed = time.perf_counter() - start
        t0 = time.perf_counter()
        store.update_problems(["NIR_H"])
        seconds = time.perf_counter() - t0
        problems = store.problems("NIR_H")
        members = {}
        for pid in problems["id"]:
            exp = store.problem_exposures(int(pid))
            members[int(pid)] = exp
        table = store.exposure_table()
        store.close()
    print(f"\nending-faults season: {season.n} observations of NIR_H through the chain in {computed:.0f} s; "
          f"problems computed in {seconds:.2f} s: {len(problems)} problems")
    first = season.first_obs_id
    truth = {  # kind, subject, first, last, size, unit
        "3 % bad exposure": ("exposure", f"obs {first + 20} dither 1", first + 20, first + 20, -0.03, "flux"),
        "detector 23, 3 %, 30 observations": ("detector", "detector 23", first + 30, first + 59,
                                               -2.5 * math.log10(0.97), "mag"),
        "0.5 % step of dither 2 over 20": ("drift", "dither 2", first + 60, first + 79, -0.005, "flux"),
        "permanent 0.5 % step of dither 3": ("drift", "dither 3", first + 80, first + 159, 0.005, "flux"),
        "0.1 %/day drift of dither 4": ("drift", "dither 4", first + 100, first + 159, -0.001 * 5.9, "flux"),
    }
    rows = []
    found = {(r.kind, r.subject): r for r in problems.itertuples(index=False)}
    for name, (kind, subject, lo, hi, size, unit) in truth.items():
        row = found.get((kind, subject))
        if row is None:
            rows.append((f"season: {name}", "not found", "one problem", False))
            continue
        tolerance = 15 if "drift of" in name else 10
        span_ok = abs(row.first_obs - lo) <= tolerance and abs(row.last_obs - hi) <= 10
        pull = abs(row.size - size) / row.size_error if row.size_error and row.size_error > 0 else float("inf")
        scale = 1000.0 if unit == "mag" else 100.0
        text = (f"obs {row.first_obs}-{row.last_obs} (truth {lo}-{hi}); {scale * row.size:+.2f} ± "
                f"{scale * row.size_error:.2f} {'mmag' if unit == 'mag' else '%'} ({pull:.1f} σ)")
        rows.append((f"season: {name}", text, "span ±10, ≤ 3 σ", span_ok and pull <= 3))
    extra = [r for r in problems.itertuples(index=False) if (r.kind, r.subject) not in
             {(k, s) for k, s, *_ in truth.values()}]
    rows.append(("season: problems beyond the faults", str(len(extra)), "0", not extra))
    faulty = set()
    for fault in season.faults:
        end = season.n if fault.end is None else fault.end + 10
        before = 15 if fault.kind == "ramp" else 10  # a slow ramp's onset: the span's own tolerance
        faulty |= {(first + i, fault.dither) for i in range(max(0, fault.start - before), min(season.n, end))}
    primary = {(int(o), int(d)) for exp in members.values()
               for o, d, role in zip(exp["obs_id"], exp["exposure"], exp["role"]) if role == "primary"}
    clean = [(o, d) for o, d in zip(table["obs_id"], table["exposure"]) if (o, d) not in faulty]
    flagged = [key for key in clean if key in primary]
    rows.append(("season: fault-free exposures in a problem", f"{len(flagged)} of {len(clean)}", "<= 1 / 200",
                 len(flagged) <= len(clean) / 200))
    for r in extra:
        print(f"  extra problem: {r.kind} {r.subject}: {r.reason}")
    return rows


def _print_rows(rows) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"{'check':{width}}  {'found':>28}  {'target':>14}  ok")
    for name, value, target, ok in rows:
        print(f"{name:{width}}  {value:>28}  {target:>14}  {'yes' if ok else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=int, default=2500)
    parser.add_argument("--density", type=float, default=500.0, help="sources per detector (500)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--quick", action="store_true", help="400 observations")
    parser.add_argument("--season", action="store_true", help="only the season whose faults end")
    args = parser.parse_args()
    if args.season:
        _print_rows(ending_season_rows(args.workers))
        return
    if args.quick:
        args.observations = 400
    from relphot_core.store import Store

    plan = make_plan(args.observations)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="relphot-bench-qc-") as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'qc.db'}")
        chunks = [(plan, list(range(i, min(i + 25, args.observations))), band, args.density)
                  for band in ("NIR_J", "NIR_Y") for i in range(0, args.observations, 25)]
        detectors: dict[str, list] = {"NIR_J": [], "NIR_Y": []}
        with ProcessPoolExecutor(max_workers=args.workers) as pool:
            for results in pool.map(compute_chunk, chunks):
                store.save_results(results)
                for result in results:
                    detectors[result.filter].extend(
                        (result.obs_id - 10_000, d.exposure, d.detector, d.status) for d in result.detectors)
        compute_seconds = time.perf_counter() - start
        trends = {band: store.trend(band) for band in ("NIR_J", "NIR_Y")}
        store.close()

    faulty, clean = trends["NIR_J"], trends["NIR_Y"]
    faulty = faulty.assign(obs=faulty["obs_id"] - 10_000)
    clean = clean.assign(obs=clean["obs_id"] - 10_000)
    print(f"{args.observations:,} observations x 2 filters ({len(faulty) + len(clean):,} exposures, "
          f"{sum(len(v) for v in detectors.values()):,} detector statistics) through the chain in "
          f"{compute_seconds:.0f} s with {args.workers} workers\n")
    rows = []

    # exposure faults
    by_key = faulty.set_index(["obs", "exposure"])
    big = [(o, d, f) for o, (d, f) in plan.bad_exposure.items() if abs(f - 1) >= 0.015]
    found = sum(by_key.loc[(o, d), "status"] == "FAIL" for o, d, f in big)
    rows.append(("bad exposures >= 1.5 % flagged FAIL", f"{found} of {len(big)}", "all", found == len(big)))
    small = [(o, d, f) for o, (d, f) in plan.bad_exposure.items() if abs(f - 1) < 0.015]
    seen = sum(by_key.loc[(o, d), "status"] in ("WARN", "FAIL") for o, d, f in small)
    rows.append(("bad exposures 1-1.5 % flagged WARN or FAIL", f"{seen} of {len(small)}", "", True))

    # detector faults
    statuses = {(o, d, det): s for o, d, det, s in detectors["NIR_J"]}
    big = [(o, d, det, f) for o, (d, det, f) in plan.bad_detector.items() if abs(f - 1) >= 0.02]
    found = sum(statuses.get((o, d, det)) in ("WARN", "FAIL") for o, d, det, f in big)
    rows.append(("bad detectors >= 2 % flagged", f"{found} of {len(big)}", "all", found == len(big)))
    small = [(o, d, det, f) for o, (d, det, f) in plan.bad_detector.items() if abs(f - 1) < 0.02]
    seen = sum(statuses.get((o, d, det)) in ("WARN", "FAIL") for o, d, det, f in small)
    rows.append(("bad detectors 1-2 % flagged", f"{seen} of {len(small)}", "", True))

    # step and ramp
    def first_alarm(dither: int, since: int) -> int | None:
        rows_ = faulty[(faulty["exposure"] == dither) & (faulty["obs"] >= since) & faulty["alarmed"]]
        return None if rows_.empty else int(rows_["obs"].min())

    step = first_alarm(2, plan.step_start)
    delay = None if step is None else step - plan.step_start
    rows.append(("0.5 % step in dither 2: observations to the alarm", "none" if delay is None else str(delay + 1),
                 "<= 10", delay is not None and delay + 1 <= 10))
    ramp = first_alarm(3, plan.ramp_start)
    reached = None if ramp is None else 100 * 0.001 * (ramp - plan.ramp_start) / PER_DAY
    rows.append(("0.1 %/day drift in dither 3: size at the alarm", "none" if reached is None else f"{reached:.2f} %",
                 "< 1.5 %", reached is not None and reached < 1.5))
    kinds = faulty[(faulty["obs"] >= plan.step_start) & faulty["alarmed"]].groupby("exposure")["alarm"].agg(
        lambda a: sorted(set(a)))
    names = faulty.loc[faulty["alarm"] == "drift", "alarm_reason"].drop_duplicates().head(3).tolist()

    # missing dithers with a bad exposure: the good ones' flags read collateral
    collateral = good_flagged = 0
    not_collateral: list[str] = []
    for obs, gone in plan.missing.items():
        if obs not in plan.bad_exposure:
            continue
        for d in (1, 2, 3, 4):
            if d in (gone, plan.bad_exposure[obs][0]):
                continue
            row = by_key.loc[(obs, d)]
            if row["status"] in ("WARN", "FAIL"):
                good_flagged += 1
                collateral += bool(row["collateral"])
                if not row["collateral"]:
                    not_collateral.append(f"obs {obs + 10_000} dither {d}: {row['status']} {row['value']:.4f} "
                                          f"(missing {gone}, bad {plan.bad_exposure[obs]})")
    rows.append(("3-exposure sets: good exposures flagged, of which collateral", f"{good_flagged}, {collateral}",
                 "all collateral", collateral == good_flagged))

    # the fault-free season
    flagged = (clean["status"] != "OK") | clean["alarmed"] | clean["detector_flag"].isin(["WARN", "FAIL"]) \
        | (clean["crosscheck"].fillna("") != "")
    kinds_clean = {"status": int((clean["status"] != "OK").sum()), "control alarm": int(clean["alarmed"].sum()),
                   "detector": int(clean["detector_flag"].isin(["WARN", "FAIL"]).sum()),
                   "cross-check": int((clean["crosscheck"].fillna("") != "").sum())}
    rate = flagged.sum() / len(clean)
    rows.append(("fault-free: flagged exposures", f"{int(flagged.sum())} of {len(clean):,} ({rate * 1e4:.2f} / 10^4)",
                 "<= 1 / 10^4", rate <= 1e-4))
    n_det = len(detectors["NIR_Y"])
    n_flag = sum(s in ("WARN", "FAIL") for *_, s in detectors["NIR_Y"])
    rows.append(("fault-free: flagged detectors", f"{n_flag} of {n_det:,} ({n_flag / n_det * 1e4:.2f} / 10^4)",
                 "<= 1 / 10^4", n_flag / n_det <= 1e-4))
    faulty_clean = faulty[(faulty["obs"] < plan.step_start - 20) & ~faulty["obs"].isin(
        list(plan.bad_exposure) + list(plan.bad_detector) + list(plan.missing))]
    alarms = int(faulty_clean["alarmed"].sum())
    rows.append(("NIR_J before the step, clean sets: control alarms", f"{alarms} of {len(faulty_clean):,}", "", True))

    rows.extend(ending_season_rows(args.workers))
    _print_rows(rows)
    print(f"\nfault-free flags by kind: {kinds_clean}")
    for row in clean[flagged].itertuples(index=False):
        print(f"  fault-free flag: obs {row.obs_id} dither {row.exposure} QPRELEX {row.value:.4f} ± {row.error:.4f}: "
              f"{row.alarm_reason or row.detector_reason or row.crosscheck or row.status}")
    for text in not_collateral:
        print(f"3-exposure set, flag not read as collateral: {text}")
    print(f"alarm kinds after the step, by dither: {kinds.to_dict()}")
    for text in names:
        print(f"  e.g. {text}")


if __name__ == "__main__":
    main()
