"""Simulation of one (observation, filter): K dithered exposures, each a
source catalogue per detector, with optional injected faults.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from ..config import DETECTORS, FILTERS
from ..errors import ConfigError
from . import geometry as geo
from .sky import NoiseModel, Population, SkyModel, draw_population

EXPTIME: float = 87.2
"""Exposure time of a NISP photometric exposure (s)."""
FILTER_SEQUENCE: tuple[str, ...] = ("NIR_J", "NIR_H", "NIR_Y")
"""Order of the filters within a dither."""
FILTER_STEP_S: float = 110.0
"""Start-to-start time between the filters of one dither (87.2 s + overheads)."""
DITHER_PERIOD_S: float = 330.0
"""Start-to-start time between dithers (the J, H, Y sequence: 5.5 min)."""
DETECTION_SNR: float = 5.0
"""A true source enters the catalogue when its measured S/N reaches this."""

CATALOG_DTYPE = np.dtype([
    ("NUMBER", ">i4"), ("ALPHA_J2000", ">f8"), ("DELTA_J2000", ">f8"),
    ("X_IMAGE", ">f4"), ("Y_IMAGE", ">f4"), ("FLUX_AUTO", ">f4"), ("FLUXERR_AUTO", ">f4"),
    ("MAG_AUTO", ">f4"), ("MAGERR_AUTO", ">f4"), ("FLAGS", ">i2"), ("CLASS_STAR", ">f4"),
])
"""Catalogue columns (SExtractor names and FITS types J, D, D, E, E, E, E, E, E, I, E)."""
TRUTH_DTYPE = np.dtype([
    ("SOURCE_ID", "i8"), ("TRUE_FLUX", "f8"), ("IS_STAR", "?"), ("IS_VARIABLE", "?"),
])
"""Hidden truth, row by row with the catalogue: SOURCE_ID = -1 for spurious
detections; TRUE_FLUX includes every injected factor and the variability."""

FLAG_BLENDED = 2
FLAG_SATURATED = 4
FLAG_TRUNCATED = 8


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
            for name in CATALOG_DTYPE.names:
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
    moment = datetime(1858, 11, 17) + timedelta(milliseconds=round(mjd * 86_400_000.0))
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
        out[a] = 10.0 ** (-0.4 * float(np.median(others))) if others else None
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
    _check(-90.0 <= dec <= 90.0 and math.isfinite(ra) and math.isfinite(pa), "pointing must be finite with -90 <= dec <= 90")
    for name, value in (("variable_fraction", variable_fraction), ("spurious_fraction", spurious_fraction),
                        ("blend_fraction", blend_fraction)):
        _check(0.0 <= value <= 1.0, f"{name} must be in [0, 1]")
    for d in list(exposure_offsets) + [k[0] for k in detector_offsets] + list(missing) + list(partial):
        _check(d in dithers, f"dither {d} does not exist (exposures are 1..{n_exposures})")
    for d, det in detector_offsets:
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
        spec = partial.get(d)
        present = tuple(spec) if spec is not None and not isinstance(spec, (int, float)) else DETECTORS
        det_mag = {det: m for (dd, det), m in detector_offsets.items() if dd == d}
        rng = _rng(seed, obs_id, 1 + filter_index, d)
        catalogs, truth = _measure(rng, population, true_mag, du, dv, ra, dec, pa,
                                   exposure_mag=exposure_offsets.get(d, 0.0), detector_mag=det_mag,
                                   present=present, spurious_fraction=spurious_fraction, noise=noise)
        ra_pnt, dec_pnt, pa_pnt = geo.exposure_pointing(du, dv, ra, dec, pa)
        t = exposure_mjd(mjd, d, filter_name)
        header = _primary_header(obs_id, filter_name, d, n_exposures, filter_index, t, ra_pnt, dec_pnt, pa_pnt)
        factor = 10.0 ** (-0.4 * exposure_offsets.get(d, 0.0))
        truth_exposures.append({
            "dither": d,
            "written": d not in missing,
            "qprelex": factor,
            "offset_mag": float(exposure_offsets.get(d, 0.0)),
            "expected_qprelex": None,
            "detector_offsets": {str(det): {"offset_mag": float(m), "factor": 10.0 ** (-0.4 * m)}
                                 for det, m in sorted(det_mag.items())},
            "partial": None if spec is None else (float(spec) if isinstance(spec, (int, float)) else sorted(present)),
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
    truth = {
        "obs_id": int(obs_id), "filter": filter_name, "seed": int(seed),
        "n_exposures": n_exposures, "sources_per_detector": float(sources_per_detector),
        "pointing": {"ra": float(ra), "dec": float(dec), "pa": float(pa)}, "mjd_start": float(mjd),
        "dropped": sorted(missing),
        "variable_fraction": variable_fraction, "spurious_fraction": spurious_fraction,
        "blend_fraction": blend_fraction, "n_true_sources": len(population),
        "exposures": truth_exposures,
    }
    return SimulatedObservation(int(obs_id), filter_name, exposures, population, truth)


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


def _measure(rng: np.random.Generator, pop: Population, true_mag: np.ndarray, du: float, dv: float,
             ra0: float, dec0: float, pa0: float, *, exposure_mag: float, detector_mag: Mapping[int, float],
             present: Sequence[int], spurious_fraction: float,
             noise: NoiseModel) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Observe the population in one exposure: detector catalogues and truth."""
    n_all = len(pop)
    # Random draws for every source, in a fixed order, so that results do not
    # depend on which sources happen to land on a detector.
    g_flux = rng.standard_normal(n_all)
    g_pos = rng.standard_normal((2, n_all))
    g_var = rng.normal(0.0, 0.25, n_all)
    g_blend = np.abs(rng.normal(0.0, 0.05, n_all))
    g_class = rng.normal(0.0, 0.03, n_all)

    u, v = pop.u - du, pop.v - dv
    det, _, _ = geo.locate(u, v)
    on = np.isin(det, present)
    idx = np.flatnonzero(on)
    det = det[idx]
    is_star = pop.is_star[idx]

    det_factor = np.ones(45)
    for d, m in detector_mag.items():
        det_factor[d] = 10.0 ** (-0.4 * m)
    flux_true = noise.flux(true_mag[idx]) * 10.0 ** (-0.4 * exposure_mag) * det_factor[det]
    flux_true = flux_true * np.where(pop.is_variable[idx], 10.0 ** (-0.4 * g_var[idx]), 1.0)
    flux_true = flux_true * np.where(pop.is_blended[idx], 1.0 + g_blend[idx], 1.0)
    f_sat = float(noise.flux(noise.saturation_mag))
    saturated = flux_true > f_sat
    flux_obs = np.where(saturated, f_sat * (1.0 + 0.25 * np.log(np.maximum(flux_true, f_sat) / f_sat)), flux_true)
    sigma = noise.sigma(flux_obs, is_star)
    flux = flux_obs + sigma * g_flux[idx]
    fluxerr = noise.sigma(flux, is_star, floor=False)
    snr = flux / fluxerr
    keep = (snr >= DETECTION_SNR) | saturated
    idx, det, is_star, flux, fluxerr, snr = idx[keep], det[keep], is_star[keep], flux[keep], fluxerr[keep], snr[keep]
    saturated, flux_true = saturated[keep], flux_true[keep]

    pos_sigma = np.clip(0.8 / np.maximum(snr, 1.0), 0.003, 0.3)
    um = u[idx] + pos_sigma * g_pos[0, idx]
    vm = v[idx] + pos_sigma * g_pos[1, idx]
    uc, vc = geo.detector_centre(det)
    x = np.clip((um - uc) / geo.PIXEL_SCALE + (geo.NPIX + 1) / 2.0, 0.5, geo.NPIX + 0.5)
    y = np.clip((vm - vc) / geo.PIXEL_SCALE + (geo.NPIX + 1) / 2.0, 0.5, geo.NPIX + 0.5)
    um, vm = geo.pixel_to_focal(det, x, y)  # a centroid cannot leave its detector
    flags = np.where(saturated, FLAG_SATURATED, 0) | np.where(pop.is_blended[idx], FLAG_BLENDED, 0)
    class_star = np.clip(0.5 + np.where(is_star, 0.47, -0.47) * np.tanh(snr / 30.0) + g_class[idx], 0.0, 1.0)
    source_id = idx.astype(np.int64)
    is_variable = pop.is_variable[idx]

    # Spurious detections (cosmic rays, persistence): in this exposure only.
    counts = np.bincount(det, minlength=45)[list(present)]
    n_spur = rng.poisson(spurious_fraction * counts)
    if n_spur.sum():
        s_det = np.repeat(np.asarray(present), n_spur)
        n = len(s_det)
        s_x = rng.uniform(0.5, geo.NPIX + 0.5, n)
        s_y = rng.uniform(0.5, geo.NPIX + 0.5, n)
        s_flux = noise.flux(rng.uniform(19.0, 25.0, n)) + noise.sky_sigma * rng.standard_normal(n)
        s_flux = np.where(rng.random(n) < 0.1, -0.3 * np.abs(s_flux), s_flux)
        s_err = noise.sigma(s_flux, np.ones(n, dtype=bool), floor=False)
        s_u, s_v = geo.pixel_to_focal(s_det, s_x, s_y)
        det = np.concatenate((det, s_det))
        um, vm = np.concatenate((um, s_u)), np.concatenate((vm, s_v))
        x, y = np.concatenate((x, s_x)), np.concatenate((y, s_y))
        flux, fluxerr = np.concatenate((flux, s_flux)), np.concatenate((fluxerr, s_err))
        flags = np.concatenate((flags, np.zeros(n, dtype=flags.dtype)))
        class_star = np.concatenate((class_star, rng.uniform(0.6, 1.0, n)))
        source_id = np.concatenate((source_id, np.full(n, -1, dtype=np.int64)))
        flux_true = np.concatenate((flux_true, np.zeros(n)))
        is_star = np.concatenate((is_star, np.zeros(n, dtype=bool)))
        is_variable = np.concatenate((is_variable, np.zeros(n, dtype=bool)))

    edge = 3.5
    flags = flags | np.where((x < edge) | (x > geo.NPIX + 1 - edge) | (y < edge) | (y > geo.NPIX + 1 - edge),
                             FLAG_TRUNCATED, 0)
    xi, eta = geo.focal_to_tangent(um + du, vm + dv, pa0)
    alpha, delta = geo.deproject(xi, eta, ra0, dec0)
    positive = flux > 0
    safe = np.where(positive, flux, 1.0)
    mag = np.where(positive, noise.zero_point - 2.5 * np.log10(safe), 99.0)
    magerr = np.where(positive, 2.5 / math.log(10.0) * fluxerr / safe, 99.0)

    order = np.lexsort((y, det))
    det = det[order]
    bounds = np.searchsorted(det, present, side="left"), np.searchsorted(det, present, side="right")
    columns = {"ALPHA_J2000": alpha, "DELTA_J2000": delta, "X_IMAGE": x, "Y_IMAGE": y, "FLUX_AUTO": flux,
               "FLUXERR_AUTO": fluxerr, "MAG_AUTO": mag, "MAGERR_AUTO": magerr, "FLAGS": flags,
               "CLASS_STAR": class_star}
    truth_columns = {"SOURCE_ID": source_id, "TRUE_FLUX": flux_true, "IS_STAR": is_star, "IS_VARIABLE": is_variable}
    catalogs: dict[int, np.ndarray] = {}
    truths: dict[int, np.ndarray] = {}
    for d, lo, hi in sorted(zip(present, *bounds)):
        rows = order[lo:hi]
        cat = np.empty(hi - lo, dtype=CATALOG_DTYPE)
        cat["NUMBER"] = np.arange(1, hi - lo + 1)
        for name, values in columns.items():
            cat[name] = values[rows]
        tru = np.empty(hi - lo, dtype=TRUTH_DTYPE)
        for name, values in truth_columns.items():
            tru[name] = values[rows]
        catalogs[int(d)] = cat
        truths[int(d)] = tru
    return catalogs, truths
