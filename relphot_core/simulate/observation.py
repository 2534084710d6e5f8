"""Simulation of one (observation, filter): K dithered exposures, each a
source catalogue per detector, with optional injected faults.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from ..config import DETECTORS, FILTERS
from ..errors import ConfigError
from ..mjd import MJD_EPOCH
from ..photometry import mag_to_flux_ratio
from . import geometry as geo
from .measure import CATALOG_DTYPE, measure_exposure
from .sky import NoiseModel, Population, SkyModel, draw_population

EXPTIME: float = 87.2
"""Exposure time of a NISP photometric exposure (s)."""
FILTER_SEQUENCE: tuple[str, ...] = ("NIR_J", "NIR_H", "NIR_Y")
"""Order of the filters within a dither."""
FILTER_STEP_S: float = 110.0
"""Start-to-start time between the filters of one dither (87.2 s + overheads)."""
DITHER_PERIOD_S: float = 330.0
"""Start-to-start time between dithers (the J, H, Y sequence: 5.5 min)."""

@dataclass
class SimulatedExposure:
    """One simulated exposure (one dither in one filter)."""

    dither: int
    header: dict[str, tuple[Any, str]]
    """Primary-header keywords: name -> (value, comment), in order."""
    detector_headers: dict[int, dict[str, tuple[Any, str]]]
    """Per-detector image header (EXTNAME, DETECTOR, WCS, ...)."""
    catalogs: dict[int, np.ndarray]
    """Per-detector catalogue, structured arrays of `CATALOG_DTYPE`."""
    truth: dict[int, np.ndarray]
    """Per-detector hidden truth, structured arrays of `TRUTH_DTYPE`."""

    @property
    def n_sources(self) -> int:
        return sum(len(c) for c in self.catalogs.values())

    def table(self) -> np.ndarray:
        """All detectors in one structured array with a ``DETECTOR`` column (int16)."""
        dtype = np.dtype(CATALOG_DTYPE.descr + [("DETECTOR", ">i2")])
        parts = []
        for det, cat in self.catalogs.items():
            part = np.empty(len(cat), dtype=dtype)
            for name in CATALOG_DTYPE.names or ():  # a structured dtype: names never None
                part[name] = cat[name]
            part["DETECTOR"] = det
            parts.append(part)
        return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


@dataclass
class SimulatedObservation:
    """K dithered exposures of one field in one filter, with the truth."""

    obs_id: int
    filter: str
    exposures: dict[int, SimulatedExposure]
    """Present exposures by dither number (missing ones are absent)."""
    population: Population
    truth: dict[str, Any] = field(default_factory=dict)
    """JSON-ready truth (see `relphot_core.simulate` for the fields)."""

    def to_catalogs(self) -> list[Any]:
        """The present exposures as `relphot_core.catalogs.ExposureCatalog`
        objects (what `relphot_core.factors.compute_observation` takes), by
        dither, without going through files."""
        from ..catalogs import ExposureCatalog

        out = []
        for dither, exposure in sorted(self.exposures.items()):
            table = exposure.table()
            head = {key: value for key, (value, _) in exposure.header.items()}
            out.append(ExposureCatalog(
                obs_id=self.obs_id, filter=self.filter, dither=dither,
                ra=table["ALPHA_J2000"].astype(float), dec=table["DELTA_J2000"].astype(float),
                flux=table["FLUX_AUTO"].astype(float), flux_err=table["FLUXERR_AUTO"].astype(float),
                flags=table["FLAGS"].astype(np.int64), detector=table["DETECTOR"].astype(np.int16),
                mjd_obs=head["MJD-OBS"], date_obs=head["DATE-OBS"], exptime=head["EXPTIME"],
                ra_pointing=head["RA_PNT"], dec_pointing=head["DEC_PNT"], pa_pointing=head["PA_PNT"],
                file=f"simulated:{self.obs_id:06d}_{self.filter}_D{dither}",
            ))
        return out


def mjd_to_iso(mjd: float) -> str:
    """``DATE-OBS`` string 'YYYY-MM-DDThh:mm:ss.sss' of an MJD (UTC)."""
    moment = MJD_EPOCH.replace(tzinfo=None) + timedelta(milliseconds=round(mjd * 86_400_000.0))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def exposure_mjd(mjd_start: float, dither: int, filter_name: str) -> float:
    """Start time of (dither, filter) in a sequence starting at ``mjd_start``."""
    seconds = (dither - 1) * DITHER_PERIOD_S + FILTER_SEQUENCE.index(filter_name) * FILTER_STEP_S
    return mjd_start + seconds / 86400.0


def expected_factors(offsets_mag: Mapping[int, float]) -> dict[int, float | None]:
    """QPRELEX a perfect median-of-pair-medians gives for exposure offsets (mag).

    ``mu_a = median_{b != a} (o_a - o_b)``, factor ``10**(-0.4 mu_a)``; None
    when there is no other exposure. Detector offsets are ignored.
    """
    out: dict[int, float | None] = {}
    for a, oa in offsets_mag.items():
        others = [oa - ob for b, ob in offsets_mag.items() if b != a]
        out[a] = mag_to_flux_ratio(float(np.median(others))) if others else None
    return out


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError("simulate", message)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), *map(int, keys)])


def simulate_observation(
    obs_id: int,
    filter_name: str = "NIR_H",
    *,
    n_exposures: int = 4,
    sources_per_detector: float = 3500.0,
    seed: int = 0,
    ra: float = 150.0,
    dec: float = 2.0,
    pa: float = 0.0,
    mjd: float = 60700.0,
    exposure_offsets: Mapping[int, float] | None = None,
    detector_offsets: Mapping[tuple[int, int], float] | None = None,
    missing: Iterable[int] = (),
    partial: Mapping[int, float | Sequence[int]] | None = None,
    variable_fraction: float = 0.02,
    spurious_fraction: float = 0.02,
    blend_fraction: float = 0.05,
    sky: SkyModel = SkyModel(),
    noise: NoiseModel = NoiseModel(),
) -> SimulatedObservation:
    """Simulate the K dithered exposures of one observation in one filter.

    Parameters
    ----------
    obs_id : int
        Observation id (>= 0); with ``seed`` it fixes the field's sources,
        so the filters of one observation see the same sky.
    filter_name : {'NIR_Y', 'NIR_J', 'NIR_H'}
    n_exposures : int
        K, the number of dithers (>= 1).
    sources_per_detector : float
        Expected number of catalogue sources of S/N >= 10 per detector and
        exposure (3500 is full density, about 5500 detections in all).
    seed : int
        Seed of every random draw: same arguments give identical catalogues.
    ra, dec, pa : float
        Pointing of dither 1 (deg): centre and position angle.
    mjd : float
        Start of the dither sequence (MJD, UTC).
    exposure_offsets : mapping dither -> mag, optional
        Positive = fainter: every flux of that exposure is multiplied by
        ``10**(-0.4 mag)``, whose value is the exposure's true QPRELEX.
    detector_offsets : mapping (dither, detector) -> mag, optional
        The same for the sources on one detector of one exposure.
    missing : iterable of int
        Dithers that are simulated but dropped (not in ``exposures``).
    partial : mapping dither -> float or sequence of int, optional
        A float ``f`` shifts that exposure by ``f`` times the focal-plane
        width along the detector X axis (partial overlap); a sequence keeps
        only those detectors.
    variable_fraction, spurious_fraction, blend_fraction : float
        Fraction of variable sources (true flux differs per exposure by
        0.25 mag rms), of spurious one-exposure detections per detector,
        and of blended sources (FLAGS 2, flux contaminated by a few %).

    Returns
    -------
    SimulatedObservation

    Raises
    ------
    ConfigError
        On an unknown filter, a fault naming a dither or detector that does
        not exist, or a parameter out of range.
    """
    exposure_offsets = dict(exposure_offsets or {})
    detector_offsets = dict(detector_offsets or {})
    partial = dict(partial or {})
    missing = set(int(d) for d in missing)
    dithers = range(1, n_exposures + 1) if isinstance(n_exposures, int) else range(0)
    _check(filter_name in FILTERS, f"unknown filter {filter_name!r} (expected one of {', '.join(FILTERS)})")
    _check(isinstance(n_exposures, int) and 1 <= n_exposures <= 99, "n_exposures must be an integer in 1..99")
    _check(isinstance(obs_id, (int, np.integer)) and obs_id >= 0, "obs_id must be a non-negative integer")
    _check(isinstance(seed, (int, np.integer)) and seed >= 0, "seed must be a non-negative integer")
    _check(sources_per_detector > 0, "sources_per_detector must be > 0")
    _check(-90.0 <= dec <= 90.0 and math.isfinite(ra) and math.isfinite(pa),
           "pointing must be finite with -90 <= dec <= 90")
    for name, value in (("variable_fraction", variable_fraction), ("spurious_fraction", spurious_fraction),
                        ("blend_fraction", blend_fraction)):
        _check(0.0 <= value <= 1.0, f"{name} must be in [0, 1]")
    for d in list(exposure_offsets) + [k[0] for k in detector_offsets] + list(missing) + list(partial):
        _check(d in dithers, f"dither {d} does not exist (exposures are 1..{n_exposures})")
    for _d, det in detector_offsets:
        _check(det in DETECTORS, f"detector {det} does not exist (11..44)")
    for d, spec in partial.items():
        if not isinstance(spec, (int, float)):
            _check(all(det in DETECTORS for det in spec) and len(spec) > 0,
                   f"partial exposure {d}: detectors must be a non-empty subset of 11..44")
    _check(len(missing) < n_exposures, "cannot drop every exposure")

    offsets = geo.dither_offsets(n_exposures)
    for d, spec in partial.items():
        if isinstance(spec, (int, float)):
            offsets[d - 1, 0] += float(spec) * geo.FOCAL_PLANE_U
    margin = 20.0
    box = (offsets[:, 0].min() - geo.FOCAL_PLANE_U / 2 - margin, offsets[:, 0].max() + geo.FOCAL_PLANE_U / 2 + margin,
           offsets[:, 1].min() - geo.FOCAL_PLANE_V / 2 - margin, offsets[:, 1].max() + geo.FOCAL_PLANE_V / 2 + margin)
    population = draw_population(_rng(seed, obs_id, 0), box, sources_per_detector,
                                 variable_fraction=variable_fraction, blend_fraction=blend_fraction,
                                 sky=sky, noise=noise)
    true_mag = population.mag(filter_name)
    filter_index = FILTERS.index(filter_name)

    exposures: dict[int, SimulatedExposure] = {}
    truth_exposures = []
    for d in dithers:
        du, dv = offsets[d - 1]
        part = partial.get(d)
        present = tuple(part) if part is not None and not isinstance(part, (int, float)) else DETECTORS
        det_mag = {det: m for (dd, det), m in detector_offsets.items() if dd == d}
        rng = _rng(seed, obs_id, 1 + filter_index, d)
        catalogs, truth = measure_exposure(rng, population, true_mag, du, dv, ra, dec, pa,
                                   exposure_mag=exposure_offsets.get(d, 0.0), detector_mag=det_mag,
                                   present=present, spurious_fraction=spurious_fraction, noise=noise)
        ra_pnt, dec_pnt, pa_pnt = geo.exposure_pointing(du, dv, ra, dec, pa)
        t = exposure_mjd(mjd, d, filter_name)
        header = _primary_header(obs_id, filter_name, d, n_exposures, filter_index, t, ra_pnt, dec_pnt, pa_pnt)
        factor = mag_to_flux_ratio(exposure_offsets.get(d, 0.0))
        truth_exposures.append({
            "dither": d,
            "written": d not in missing,
            "qprelex": factor,
            "offset_mag": float(exposure_offsets.get(d, 0.0)),
            "expected_qprelex": None,
            "detector_offsets": {str(det): {"offset_mag": float(m), "factor": mag_to_flux_ratio(m)}
                                 for det, m in sorted(det_mag.items())},
            "partial": None if part is None else (float(part) if isinstance(part, (int, float)) else sorted(present)),
            "detectors": sorted(catalogs),
            "n_sources": int(sum(len(c) for c in catalogs.values())),
            "mjd_obs": t,
            "date_obs": header["DATE-OBS"][0],
            "ra_pnt": ra_pnt, "dec_pnt": dec_pnt, "pa_pnt": pa_pnt,
            "dither_offset_arcsec": [float(du), float(dv)],
        })
        if d in missing:
            continue
        det_headers = {det: _detector_header(header, det, du, dv, ra, dec, pa) for det in catalogs}
        exposures[d] = SimulatedExposure(d, header, det_headers, catalogs, truth)

    expected = expected_factors({e["dither"]: e["offset_mag"] for e in truth_exposures if e["written"]})
    for entry in truth_exposures:
        entry["expected_qprelex"] = expected.get(entry["dither"])
    summary = {
        "obs_id": int(obs_id), "filter": filter_name, "seed": int(seed),
        "n_exposures": n_exposures, "sources_per_detector": float(sources_per_detector),
        "pointing": {"ra": float(ra), "dec": float(dec), "pa": float(pa)}, "mjd_start": float(mjd),
        "dropped": sorted(missing),
        "variable_fraction": variable_fraction, "spurious_fraction": spurious_fraction,
        "blend_fraction": blend_fraction, "n_true_sources": len(population),
        "exposures": truth_exposures,
    }
    return SimulatedObservation(int(obs_id), filter_name, exposures, population, summary)


def _primary_header(obs_id: int, filter_name: str, dither: int, total: int, filter_index: int,
                    mjd: float, ra: float, dec: float, pa: float) -> dict[str, tuple[Any, str]]:
    return {
        "TELESCOP": ("EUCLID", "telescope"),
        "INSTRUME": ("NISP", "instrument"),
        "OBS_ID": (int(obs_id), "observation id"),
        "PTGID": (int(obs_id) * 100 + dither, "pointing id"),
        "EXPNUM": ((dither - 1) * len(FILTERS) + FILTER_SEQUENCE.index(filter_name) + 1,
                   "exposure number in the observation"),
        "DITHOBS": (dither, "dither number in the observation"),
        "TOTEXP": (total, "number of dithers of the observation"),
        "FILTER": (filter_name, "NISP filter"),
        "DATE-OBS": (mjd_to_iso(mjd), "start of exposure (UTC)"),
        "MJD-OBS": (round(mjd, 8), "start of exposure (MJD, UTC)"),
        "EXPTIME": (EXPTIME, "[s] exposure time"),
        "RA_PNT": (round(ra, 9), "[deg] pointing right ascension"),
        "DEC_PNT": (round(dec, 9), "[deg] pointing declination"),
        "PA_PNT": (round(pa, 9), "[deg] pointing position angle"),
    }


def _detector_header(primary: dict[str, tuple[Any, str]], det: int, du: float, dv: float,
                     ra: float, dec: float, pa: float) -> dict[str, tuple[Any, str]]:
    header: dict[str, tuple[Any, str]] = {
        "EXTNAME": (f"DET{det}.SCI", "extension name"),
        "DETECTOR": (det, "detector id (row, column)"),
    }
    header.update(primary)
    for key, value in geo.detector_wcs(det, du, dv, ra, dec, pa).items():
        header[key] = (value, "")
    return header
