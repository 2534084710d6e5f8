"""Seasons with faults that start and end: what the QC must find, and where.

A `FaultSeason` is one filter's observations ``0 .. n - 1`` (observation ``i``
at ``mjd0 + i / per_day``) with a list of `Fault`, each active over
``[start, end)`` observations (``end = None``: to the end of the season):

- ``exposure``: one exposure (``dither``) off by ``size`` (a flux fraction:
  ``-0.03`` reads 3 % faint) for ``[start, end)`` (one observation for a
  bad exposure);
- ``detector``: detector ``detector`` of exposure ``dither`` off by ``size``;
- ``detector-step``: detector ``detector`` off by ``size`` in every exposure
  (``dither`` is not used): the same for all dithers, it leaves the
  relative factors as they are and shows only in the detector's series
  (`detector_table`);
- ``step``: dither position ``dither`` off by ``size`` (a zero-point step of
  that dither: every observation of the span);
- ``ramp``: dither position ``dither`` drifting by ``size`` per day from
  ``start``.

Pure (no I/O): `FaultSeason.observation_kwargs` gives the keyword arguments of
`relphot_core.simulate.simulate_observation` for one observation, and
`FaultSeason.truth` the true flux factor of each exposure; the benchmark
(``benchmarks/bench_qc.py``) and the tests run them through the chain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..photometry import flux_ratio_to_mag, mag_to_flux_ratio

if TYPE_CHECKING:
    import pandas as pd

FAULT_KINDS: tuple[str, ...] = ("exposure", "detector", "detector-step", "step", "ramp")
"""The kinds of `Fault`."""


@dataclass(frozen=True)
class Fault:
    """One fault of a season.

    Attributes
    ----------
    kind : str
        One of `FAULT_KINDS`.
    start : int
        First observation (index in the season) it affects.
    end : int or None
        First observation it no longer affects (None: to the end).
    dither : int
        The exposure / dither position it affects.
    size : float
        Flux fraction (``-0.005``: 0.5 % faint); per day for a ``ramp``.
    detector : int or None
        The detector, for a ``detector`` or ``detector-step`` fault.
    """

    kind: str
    start: int
    end: int | None
    dither: int
    size: float
    detector: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(FAULT_KINDS)}, not {self.kind!r}")
        if self.kind in ("detector", "detector-step") and self.detector is None:
            raise ValueError(f"a {self.kind} fault needs its detector")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"a fault must end after it starts ({self.start} .. {self.end})")

    def active(self, obs: int) -> bool:
        """Whether observation ``obs`` (index) is affected."""
        return self.start <= obs and (self.end is None or obs < self.end)


@dataclass(frozen=True)
class FaultSeason:
    """One filter's season of ``n`` observations with its `Fault` list.

    Attributes
    ----------
    n : int
        Observations.
    faults : tuple of Fault
    per_day : float
        Observations a day.
    mjd0 : float
        MJD of observation 0.
    first_obs_id : int
        Observation id of observation 0.
    n_exposures : int
        Dithers per observation.
    """

    n: int
    faults: tuple[Fault, ...] = field(default_factory=tuple)
    per_day: float = 10.0
    mjd0: float = 60700.0
    first_obs_id: int = 1000
    n_exposures: int = 4

    def mjd(self, obs: int) -> float:
        """Start of observation ``obs`` (index)."""
        return self.mjd0 + obs / self.per_day

    def exposure_fraction(self, obs: int, dither: int) -> float:
        """True relative flux of a whole exposure (1 = nominal), detector faults aside."""
        fraction = 1.0
        for fault in self.faults:
            if fault.dither != dither or not fault.active(obs):
                continue
            if fault.kind in ("exposure", "step"):
                fraction *= 1.0 + fault.size
            elif fault.kind == "ramp":
                fraction *= 1.0 + fault.size * (obs - fault.start) / self.per_day
        return fraction

    def observation_kwargs(self, obs: int, *, sources_per_detector: float = 500.0) -> dict[str, Any]:
        """Keyword arguments of `simulate_observation` for observation ``obs`` (index)."""
        offsets = {d: flux_ratio_to_mag(self.exposure_fraction(obs, d)) for d in range(1, self.n_exposures + 1)
                   if self.exposure_fraction(obs, d) != 1.0}
        detectors = {(f.dither, int(f.detector)): flux_ratio_to_mag(1.0 + f.size) for f in self.faults
                     if f.kind == "detector" and f.detector is not None and f.active(obs)}
        return {
            "obs_id": self.first_obs_id + obs, "n_exposures": self.n_exposures,
            "sources_per_detector": sources_per_detector, "seed": obs, "ra": (obs * 7.3) % 360,
            "dec": -30.0 + (obs % 50), "mjd": self.mjd(obs), "exposure_offsets": offsets or None,
            "detector_offsets": detectors or None,
        }

    def truth(self) -> np.ndarray:
        """True relative flux of every exposure, shape ``(n, n_exposures)`` (detector faults aside)."""
        return np.array([[self.exposure_fraction(i, d) for d in range(1, self.n_exposures + 1)]
                         for i in range(self.n)])


def ending_faults_season(n: int = 160) -> FaultSeason:
    """The season of the QC acceptance test: faults that start and end, and
    more than one at once.

    On ``n`` (>= 160) observations: a 3 % bad exposure (dither 1 at n/8),
    detector 23 of dither 1 3 % faint over 30 observations (from n/8 + 10),
    a 0.5 % faint step of dither 2 over 20 observations (from 3n/8), a
    permanent 0.5 % bright step of dither 3 (from n/2), and a slow drift of
    dither 4 (0.1 % a day from 5n/8).
    """
    if n < 160:
        raise ValueError("the ending-faults season needs at least 160 observations")
    e = n // 8
    return FaultSeason(n, (
        Fault("exposure", e, e + 1, 1, -0.03),
        Fault("detector", e + 10, e + 40, 1, -0.03, detector=23),
        Fault("step", 3 * e, 3 * e + 20, 2, -0.005),
        Fault("step", 4 * e, None, 3, +0.005),
        Fault("ramp", 5 * e, None, 4, -0.001),
    ))


def factor_table(season: FaultSeason, filter_name: str = "NIR_J", *, error: float = 0.002, seed: int = 0,
                 detector_error: float = 0.002) -> pd.DataFrame:
    """A filter's exposure table as the store's trend gives it, simulated at
    the level of the factors (fast: no catalogue), with the collateral
    effects of the method.

    Each pair of exposures gets a measured magnitude difference (the true
    one plus noise of ``error * sqrt(2)``); each exposure's offset is the
    median of its pair medians, as `relphot_core.factors` computes it, so a
    bad exposure leaks into its partners as it does in the chain (about half
    a sigma of the pair noise with four dithers). A detector fault shifts its
    exposure by its share (1/16 of its offset) and flags the detector
    (``detector_flag`` FAIL beyond 1.5 %, WARN beyond 0.5 %) with its offset
    measured to ``detector_error``.

    Parameters
    ----------
    season : FaultSeason
    filter_name : str
    error : float
        1-sigma error of a factor (QPRELEXE).
    seed : int
    detector_error : float
        1-sigma error of a detector offset (mag).

    Returns
    -------
    pandas.DataFrame
        obs_id, filter, exposure, mjd_obs, value, error, status, reason,
        detector_flag, detector_reason, detector_worst, detector_offset,
        crosscheck, collateral, reviewed; in time order.
    """
    import pandas as pd

    from ..config import Thresholds
    from ..status import exposure_statuses

    rng = np.random.default_rng(seed)
    k = season.n_exposures
    rows = []
    for obs in range(season.n):
        true = np.array([flux_ratio_to_mag(season.exposure_fraction(obs, d)) for d in range(1, k + 1)])
        detector = {f.dither: f for f in season.faults if f.kind == "detector" and f.active(obs)}
        for d, active in detector.items():
            true[d - 1] += flux_ratio_to_mag(1.0 + active.size) / 16.0
        diff = true[:, None] - true[None, :] + rng.normal(0.0, error * math.sqrt(2.0) / 1.0857, (k, k))
        diff = (diff - diff.T) / 2.0  # one measurement per pair, antisymmetric
        offset = np.array([np.median(np.delete(diff[i], i)) for i in range(k)])
        value = mag_to_flux_ratio(offset)
        status = exposure_statuses(value, np.full(k, error), Thresholds())
        for d in range(1, k + 1):
            fault = detector.get(d)
            det_offset = flux_ratio_to_mag(1.0 + fault.size) + rng.normal(0.0, detector_error) if fault else np.nan
            deviation = abs(mag_to_flux_ratio(det_offset) - 1.0) if fault else 0.0
            flag = "FAIL" if deviation > 0.015 else "WARN" if deviation > 0.005 else "OK"
            worst = fault.detector if fault is not None and flag != "OK" else None  # a flag: a detector's fault
            rows.append({
                "obs_id": season.first_obs_id + obs, "filter": filter_name, "exposure": d,
                "mjd_obs": season.mjd(obs) + (d - 1) * 0.004, "value": float(value[d - 1]), "error": error,
                "status": str(status[d - 1]), "reason": "", "detector_flag": flag,
                "detector_reason": f"detector {worst}: {1000 * det_offset:+.1f} mmag" if worst is not None else "",
                "detector_worst": float(worst) if worst is not None else np.nan,
                "detector_offset": float(det_offset) if flag != "OK" else np.nan, "crosscheck": "",
                "collateral": "", "reviewed": False})
    return pd.DataFrame(rows)


def detector_table(season: FaultSeason, *, error: float = 0.002, seed: int = 0,
                   detectors: tuple[int, ...] | None = None) -> pd.DataFrame:
    """The filter's detector offsets as the store's detector table gives
    them (`relphot_core.store.Store.detector_table`), simulated: each
    detector's offset in each exposure is 0 plus noise of ``error`` (mag),
    plus the ``detector`` faults of that exposure and the ``detector-step``
    faults of every exposure.

    Parameters
    ----------
    season : FaultSeason
    error : float
        1-sigma error of an offset (mag).
    seed : int
    detectors : tuple of int, optional
        Default: `relphot_core.config.DETECTORS`.

    Returns
    -------
    pandas.DataFrame
        obs_id, exposure, detector, mjd_obs, offset, error; by detector, then time.
    """
    import pandas as pd

    from ..config import DETECTORS

    detectors = DETECTORS if detectors is None else detectors
    rng = np.random.default_rng(seed)
    k = season.n_exposures
    obs = np.repeat(np.arange(season.n), k)
    dither = np.tile(np.arange(1, k + 1), season.n)
    mjd = np.array([season.mjd(int(o)) for o in obs]) + (dither - 1) * 0.004
    frames = []
    for detector in detectors:
        offset = rng.normal(0.0, error, obs.size)
        for fault in season.faults:
            if fault.detector != detector or fault.kind not in ("detector", "detector-step"):
                continue
            every = fault.kind == "detector-step"  # every dither; a "detector" fault: its own
            hit = np.array([fault.active(int(o)) for o in obs]) & ((dither == fault.dither) | every)
            offset[hit] += flux_ratio_to_mag(1.0 + fault.size)
        frames.append(pd.DataFrame({"obs_id": season.first_obs_id + obs, "exposure": dither, "detector": detector,
                                    "mjd_obs": mjd, "offset": offset, "error": error}))
    return pd.concat(frames, ignore_index=True)
