"""Observing the simulated sky in one exposure: which sources land on which
detector, their noisy fluxes and positions, flags, and spurious detections.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..photometry import flux_to_mag, mag_to_flux_ratio
from . import geometry as geo
from .sky import NoiseModel, Population

DETECTION_SNR: float = 5.0
"""A true source enters the catalogue when its measured S/N reaches this."""

CATALOG_DTYPE = np.dtype([
    ("NUMBER", ">i4"), ("ALPHA_J2000", ">f8"), ("DELTA_J2000", ">f8"),
    ("X_IMAGE", ">f4"), ("Y_IMAGE", ">f4"), ("FLUX_AUTO", ">f4"), ("FLUXERR_AUTO", ">f4"),
    ("MAG_AUTO", ">f4"), ("MAGERR_AUTO", ">f4"), ("FLAGS", ">i2"), ("CLASS_STAR", ">f4"),
    ("XWIN_IMAGE", ">f8"), ("YWIN_IMAGE", ">f8"),
    ("ERRAWIN_IMAGE", ">f4"), ("ERRBWIN_IMAGE", ">f4"), ("ERRTHETAWIN_IMAGE", ">f4"),
])
"""Catalogue columns (SExtractor names and FITS types J, D, D, E, E, E, E, E, E, I, E, then
D, D, E, E, E): the windowed centroid and its error ellipse (pixels; circular, angle 0)
are what SCAMP reads besides the fluxes and the WCS of each LDAC_IMHEAD."""
TRUTH_DTYPE = np.dtype([
    ("SOURCE_ID", "i8"), ("TRUE_FLUX", "f8"), ("IS_STAR", "?"), ("IS_VARIABLE", "?"),
])
"""Hidden truth, row by row with the catalogue: SOURCE_ID = -1 for spurious
detections; TRUE_FLUX includes every injected factor and the variability."""

FLAG_BLENDED = 2
FLAG_SATURATED = 4
FLAG_TRUNCATED = 8


def measure_exposure(
    rng: np.random.Generator, pop: Population, true_mag: np.ndarray, du: float, dv: float,
    ra0: float, dec0: float, pa0: float, *, exposure_mag: float, detector_mag: Mapping[int, float],
    present: Sequence[int], spurious_fraction: float, noise: NoiseModel,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """Observe the population in one exposure.

    Parameters
    ----------
    rng : numpy.random.Generator
        This exposure's own stream (all per-source draws are made for the
        whole population, in a fixed order).
    pop, true_mag : Population, numpy.ndarray
        The sources and their true magnitudes in this filter.
    du, dv : float
        Dither offset of the exposure (instrument frame, arcsec).
    ra0, dec0, pa0 : float
        Base pointing of the observation (deg).
    exposure_mag, detector_mag : float, mapping detector -> float
        Injected offsets (mag, positive = fainter).
    present : sequence of int
        Detectors read out.
    spurious_fraction : float
    noise : NoiseModel

    Returns
    -------
    catalogs, truth : dict detector -> structured array
        `CATALOG_DTYPE` and `TRUTH_DTYPE` rows, sorted by Y_IMAGE.
    """
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
        det_factor[d] = mag_to_flux_ratio(m)
    flux_true = noise.flux(true_mag[idx]) * mag_to_flux_ratio(exposure_mag) * det_factor[det]
    flux_true = flux_true * np.where(pop.is_variable[idx], mag_to_flux_ratio(g_var[idx]), 1.0)
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
        s_pos = np.clip(0.8 / np.maximum(np.abs(s_flux / s_err), 1.0), 0.003, 0.3)
        s_u, s_v = geo.pixel_to_focal(s_det, s_x, s_y)
        det = np.concatenate((det, s_det))
        um, vm = np.concatenate((um, s_u)), np.concatenate((vm, s_v))
        x, y = np.concatenate((x, s_x)), np.concatenate((y, s_y))
        pos_sigma = np.concatenate((pos_sigma, s_pos))
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
    mag = np.where(positive, flux_to_mag(safe, noise.zero_point), 99.0)
    magerr = np.where(positive, 2.5 / math.log(10.0) * fluxerr / safe, 99.0)

    pos_err_pix = pos_sigma / geo.PIXEL_SCALE
    zero = np.zeros(x.size)

    order = np.lexsort((y, det))
    det = det[order]
    bounds = np.searchsorted(det, present, side="left"), np.searchsorted(det, present, side="right")
    columns = {"ALPHA_J2000": alpha, "DELTA_J2000": delta, "X_IMAGE": x, "Y_IMAGE": y, "FLUX_AUTO": flux,
               "FLUXERR_AUTO": fluxerr, "MAG_AUTO": mag, "MAGERR_AUTO": magerr, "FLAGS": flags,
               "CLASS_STAR": class_star, "XWIN_IMAGE": x, "YWIN_IMAGE": y,
               "ERRAWIN_IMAGE": pos_err_pix, "ERRBWIN_IMAGE": pos_err_pix, "ERRTHETAWIN_IMAGE": zero}
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
