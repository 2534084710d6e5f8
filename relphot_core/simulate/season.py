"""A simulated survey "season": many observations over some weeks, with a few
known problems to find.

* Observation ids ``first_obs_id, first_obs_id + 1, ...`` increase with time:
  observation ``i`` starts at ``mjd_start + i * days / n`` (plus up to an
  hour of jitter), each one a dither sequence in every requested filter.
* Pointings spread across the sky: uniform on the sphere with
  ``|dec| >= 15`` deg (a wide-survey-like footprint), random position angle.
* ``bad_exposures`` randomly chosen (observation, filter, dither) get an
  exposure offset of 0.02-0.05 mag, either sign.
* ``bad_detector = (detector, mag)``: that detector reads ``mag`` fainter in
  one random exposure of one random observation and filter.
* ``nodata_exposures`` random exposures are shifted off the field (no
  overlap with the others: NODATA); ``three_dither_sets`` random
  (observation, filter) lose one dither and have one of the three left
  2.5 % bright (with K = 3 the median of pair medians leaks half of it into
  the good ones: their flags are collateral).
* ``drift_per_day`` (mag/day): dither ``drift_dither`` of filter
  ``drift_filter`` drifts fainter linearly with time from ``mjd_start``
  (a slow zero-point drift that the control chart should catch). It adds to
  a bad-exposure offset on the same exposure.

Everything is recorded in ``truth.json`` in the directory (season
parameters plus every observation's truth); each observation also has its
own ``{obs_id:06d}_{filter}_truth.json``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DETECTORS, FILTERS
from ..errors import ConfigError
from .observation import simulate_observation
from .writers import write_observation, write_truth


def season_plan(n_observations: int, *, filters: Sequence[str] = FILTERS, n_exposures: int = 4, seed: int = 0,
                first_obs_id: int = 1000, mjd_start: float = 60700.0, days: float = 28.0,
                bad_exposures: int = 3, bad_detector: tuple[int, float] | None = (23, 0.05),
                drift_per_day: float = 0.0005, drift_filter: str = "NIR_H",
                drift_dither: int = 4, nodata_exposures: int = 1,
                three_dither_sets: int = 1) -> list[dict[str, Any]]:
    """The keyword arguments of `simulate_observation` for every observation
    and filter of a season (pure: no simulation, no I/O)."""
    if n_observations < 1:
        raise ConfigError("simulate", "a season needs at least one observation")
    if not filters or any(f not in FILTERS for f in filters):
        raise ConfigError("simulate", f"filters must be among {', '.join(FILTERS)}")
    if bad_detector is not None and bad_detector[0] not in DETECTORS:
        raise ConfigError("simulate", f"detector {bad_detector[0]} does not exist (11..44)")
    if not 1 <= drift_dither <= n_exposures:
        raise ConfigError("simulate", f"drift dither {drift_dither} does not exist (exposures are 1..{n_exposures})")
    rng = np.random.default_rng([int(seed), 7])
    n = n_observations
    mjd = mjd_start + np.arange(n) * days / n + rng.uniform(0.0, 1.0 / 24.0, n)
    ra = rng.uniform(0.0, 360.0, n)
    sin_min = math.sin(math.radians(15.0))
    dec = np.degrees(np.arcsin(rng.uniform(sin_min, 1.0, n) * rng.choice([-1.0, 1.0], n)))
    pa = rng.uniform(0.0, 360.0, n)
    keys = [(i, f, d) for i in range(n) for f in filters for d in range(1, n_exposures + 1)]
    picks = rng.choice(len(keys), size=min(bad_exposures, len(keys)), replace=False)
    bad = {keys[k]: float(rng.uniform(0.02, 0.05) * rng.choice([-1.0, 1.0])) for k in picks}
    bad_det_key = keys[int(rng.integers(len(keys)))] if bad_detector is not None else None
    # drawn after the others: the faults above stay where they were
    nodata = {keys[int(rng.integers(len(keys)))] for _ in range(nodata_exposures)}
    sets = sorted({(i, f) for i, f, _ in keys})
    three: dict[tuple[int, str], tuple[int, int]] = {}
    if n_exposures >= 4:
        for _ in range(three_dither_sets):
            i, f = sets[int(rng.integers(len(sets)))]
            gone, off = (int(d) for d in rng.choice(np.arange(1, n_exposures + 1), 2, replace=False))
            three[(i, f)] = (gone, off)
    plan = []
    for i in range(n):
        for f in filters:
            offsets = {d: m for (j, ff, d), m in bad.items() if j == i and ff == f}
            if f == drift_filter and drift_per_day:
                offsets[drift_dither] = offsets.get(drift_dither, 0.0) + drift_per_day * float(mjd[i] - mjd_start)
            det_offsets = {}
            if bad_detector is not None and bad_det_key is not None and bad_det_key[:2] == (i, f):
                det_offsets[(bad_det_key[2], bad_detector[0])] = float(bad_detector[1])
            extra: dict[str, Any] = {}
            # an exposure that overlaps no other one: NODATA
            shifted = {d: 1.5 for (j, ff, d) in nodata if (j, ff) == (i, f)}
            if shifted:
                extra["partial"] = shifted
            if (i, f) in three:  # a dither missing, and one of the three left 2.5 % bright
                gone, off = three[(i, f)]
                extra["missing"] = [gone]
                offsets[off] = offsets.get(off, 0.0) - 2.5 * math.log10(1.025)
                if gone in shifted:
                    del extra["partial"]
            plan.append({
                "obs_id": first_obs_id + i, "filter_name": f, "n_exposures": n_exposures, "seed": int(seed),
                "ra": float(ra[i]), "dec": float(dec[i]), "pa": float(pa[i]), "mjd": float(mjd[i]),
                "exposure_offsets": offsets, "detector_offsets": det_offsets, **extra,
            })
    return plan


def simulate_season(directory: str | Path, n_observations: int = 12, *, filters: Sequence[str] = FILTERS,
                    n_exposures: int = 4, seed: int = 0, sources_per_detector: float = 500.0,
                    first_obs_id: int = 1000, mjd_start: float = 60700.0, days: float = 28.0,
                    bad_exposures: int = 3, bad_detector: tuple[int, float] | None = (23, 0.05),
                    drift_per_day: float = 0.0005, drift_filter: str = "NIR_H", drift_dither: int = 4,
                    nodata_exposures: int = 1, three_dither_sets: int = 1, fmt: str = "ldac",
                    progress: Callable[[int], object] | None = None,
                    **options: Any) -> tuple[list[Path], dict[str, Any]]:
    """Simulate and write a season of observations.

    Parameters
    ----------
    directory : str or Path
        Output directory (created).
    n_observations : int
        Number of observations (each in every filter of ``filters``).
    sources_per_detector : float
        Density (S/N >= 10 sources per detector); 500 keeps a season fast.
    bad_exposures, bad_detector, drift_per_day, drift_filter, drift_dither, nodata_exposures, three_dither_sets
        The injected problems (module docstring).
    fmt : {'ldac', 'plain', 'plain-single'}
    progress : callable, optional
        Called with 1 after each (observation, filter) is written.
    **options
        Passed to `simulate_observation` (e.g. ``variable_fraction``).

    Returns
    -------
    paths : list of Path
        Every catalogue written.
    truth : dict
        The season's truth, also written to ``directory / "truth.json"``.
    """
    plan = season_plan(n_observations, filters=filters, n_exposures=n_exposures, seed=seed,
                       first_obs_id=first_obs_id, mjd_start=mjd_start, days=days, bad_exposures=bad_exposures,
                       bad_detector=bad_detector, drift_per_day=drift_per_day, drift_filter=drift_filter,
                       drift_dither=drift_dither, nodata_exposures=nodata_exposures,
                       three_dither_sets=three_dither_sets)
    paths: list[Path] = []
    observations = []
    for kwargs in plan:
        sim = simulate_observation(sources_per_detector=sources_per_detector, **kwargs, **options)
        paths.extend(write_observation(sim, directory, fmt))
        observations.append(sim.truth)
        if progress is not None:
            progress(1)
    truth = {
        "season": {
            "n_observations": n_observations, "filters": list(filters), "n_exposures": n_exposures,
            "seed": int(seed), "sources_per_detector": float(sources_per_detector), "first_obs_id": first_obs_id,
            "mjd_start": mjd_start, "days": days, "bad_exposures": bad_exposures,
            "bad_detector": None if bad_detector is None else list(bad_detector),
            "drift_per_day": drift_per_day, "drift_filter": drift_filter, "drift_dither": drift_dither,
            "nodata_exposures": nodata_exposures, "three_dither_sets": three_dither_sets, "format": fmt,
        },
        "observations": observations,
    }
    write_truth(truth, Path(directory) / "truth.json")
    return paths, truth
