"""Geometry of the simulated NISP focal plane: the 4x4 detector mosaic, the
dither pattern and the gnomonic (tangent-plane) projection.

Frames
------
* **Tangent plane** ``(xi, eta)`` in arcsec around the observation's base
  pointing (``ra``, ``dec``): ``xi`` towards east, ``eta`` towards north.
* **Focal plane** ``(u, v)`` in arcsec, the instrument frame: ``u`` along the
  detectors' X pixel axis, ``v`` along Y. With position angle ``PA`` (the
  sky direction of +v, from north through east) and standard parity::

      xi  = -u cos PA + v sin PA        u = -xi cos PA + eta sin PA
      eta =  u sin PA + v cos PA        v =  xi sin PA + eta cos PA

  (the matrix is its own inverse).
* An exposure of dither ``d`` is the focal plane translated by the dither
  offset ``(du_d, dv_d)`` in the instrument frame: a source at base focal
  plane position ``(u, v)`` lands at ``(u - du_d, v - dv_d)``. The geometry is
  therefore exact by construction in every exposure (no approximation near
  the poles: only the gnomonic projection touches the sphere, and it is
  written in the numerically stable ``arctan2`` form).

Detector ``10 * row + col`` (row, col = 1..4) is centred at
``u = (col - 2.5) * (2040 * 0.3" + GAP_U)``,
``v = (row - 2.5) * (2040 * 0.3" + GAP_V)``, with gaps of 50" along u and
100" along v. Pixel centres run 1..2040 (FITS convention), the detector centre
is pixel 1020.5.

Dither pattern (Euclid wide-survey "J" style, instrument frame, arcsec):
steps (+50, +100), (0, +100), (+50, +100) from dither 1, i.e. offsets
(0, 0), (50, 100), (50, 200), (100, 300); K > 4 repeats the steps.
"""
from __future__ import annotations

import math

import numpy as np

PIXEL_SCALE: float = 0.3
"""arcsec per pixel."""
NPIX: int = 2040
"""Active pixels per detector side."""
DET_SIZE: float = NPIX * PIXEL_SCALE
"""Detector side, arcsec (612")."""
GAP_U: float = 50.0
"""Gap between detector columns (along u, the X pixel axis), arcsec."""
GAP_V: float = 100.0
"""Gap between detector rows (along v, the Y pixel axis), arcsec."""
PITCH_U: float = DET_SIZE + GAP_U
PITCH_V: float = DET_SIZE + GAP_V
FOCAL_PLANE_U: float = 4 * DET_SIZE + 3 * GAP_U
"""Full width of the mosaic along u, arcsec."""
FOCAL_PLANE_V: float = 4 * DET_SIZE + 3 * GAP_V
DITHER_STEPS: tuple[tuple[float, float], ...] = ((50.0, 100.0), (0.0, 100.0), (50.0, 100.0))
"""Steps between consecutive dithers (du, dv), arcsec, cycled for K > 4."""

ARCSEC_PER_RAD: float = 180.0 * 3600.0 / math.pi


def detector_centre(detector: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Focal-plane centre ``(u, v)`` in arcsec of detector(s) ``10*row + col``."""
    det = np.asarray(detector)
    row, col = det // 10, det % 10
    return (col - 2.5) * PITCH_U, (row - 2.5) * PITCH_V


def dither_offsets(n_exposures: int) -> np.ndarray:
    """Instrument-frame offsets ``(du, dv)`` in arcsec of dithers 1..K, shape (K, 2)."""
    offsets = np.zeros((n_exposures, 2))
    for k in range(1, n_exposures):
        offsets[k] = offsets[k - 1] + DITHER_STEPS[(k - 1) % len(DITHER_STEPS)]
    return offsets


def focal_to_tangent(u: np.ndarray, v: np.ndarray, pa_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Instrument frame ``(u, v)`` to tangent plane ``(xi, eta)`` (same units)."""
    c, s = math.cos(math.radians(pa_deg)), math.sin(math.radians(pa_deg))
    return -u * c + v * s, u * s + v * c


tangent_to_focal = focal_to_tangent
"""The rotation-with-flip matrix is an involution: the inverse is the same map."""


def locate(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detector and pixel position of focal-plane points.

    Parameters
    ----------
    u, v : numpy.ndarray
        Focal-plane coordinates of the exposure (arcsec).

    Returns
    -------
    detector : numpy.ndarray of int
        ``10*row + col``, or 0 where the point falls in a gap or outside.
    x, y : numpy.ndarray
        1-based pixel coordinates (FITS convention, centres 1..2040); only
        meaningful where ``detector > 0``.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    col = np.floor(u / PITCH_U + 3.0).astype(np.int64)  # nearest column centre
    row = np.floor(v / PITCH_V + 3.0).astype(np.int64)
    col = np.clip(col, 1, 4)
    row = np.clip(row, 1, 4)
    uc, vc = (col - 2.5) * PITCH_U, (row - 2.5) * PITCH_V
    x = (u - uc) / PIXEL_SCALE + (NPIX + 1) / 2.0
    y = (v - vc) / PIXEL_SCALE + (NPIX + 1) / 2.0
    inside = (x >= 0.5) & (x < NPIX + 0.5) & (y >= 0.5) & (y < NPIX + 0.5)
    detector = np.where(inside, 10 * row + col, 0)
    return detector, x, y


def pixel_to_focal(detector: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `locate`: 1-based pixel position on a detector to ``(u, v)``."""
    uc, vc = detector_centre(detector)
    return uc + (x - (NPIX + 1) / 2.0) * PIXEL_SCALE, vc + (y - (NPIX + 1) / 2.0) * PIXEL_SCALE


def deproject(xi: np.ndarray, eta: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Gnomonic tangent plane (arcsec) to sky (deg), around ``(ra0, dec0)``.

    Stable at the poles and returns RA in [0, 360).

    Examples
    --------
    >>> ra, dec = deproject(np.array([0.0]), np.array([3600.0]), 359.9, 89.5)
    >>> bool(dec[0] > 89.5)
    True
    """
    x = np.asarray(xi, dtype=float) / ARCSEC_PER_RAD
    y = np.asarray(eta, dtype=float) / ARCSEC_PER_RAD
    d0 = math.radians(dec0)
    sd, cd = math.sin(d0), math.cos(d0)
    denom = cd - y * sd
    ra = np.degrees(math.radians(ra0) + np.arctan2(x, denom)) % 360.0
    dec = np.degrees(np.arctan2(sd + y * cd, np.hypot(x, denom)))
    ra = np.where(ra >= 360.0, 0.0, ra)  # float rounding of tiny negatives
    return ra, dec


def project(ra: np.ndarray, dec: np.ndarray, ra0: float, dec0: float) -> tuple[np.ndarray, np.ndarray]:
    """Sky (deg) to gnomonic tangent plane (arcsec) around ``(ra0, dec0)``.

    Points more than 90 deg from the tangent point give NaN.
    """
    a = np.radians(np.asarray(ra, dtype=float) - ra0)
    d = np.radians(np.asarray(dec, dtype=float))
    d0 = math.radians(dec0)
    cos_c = math.sin(d0) * np.sin(d) + math.cos(d0) * np.cos(d) * np.cos(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        xi = np.cos(d) * np.sin(a) / cos_c
        eta = (math.cos(d0) * np.sin(d) - math.sin(d0) * np.cos(d) * np.cos(a)) / cos_c
    bad = cos_c <= 0
    return np.where(bad, np.nan, xi * ARCSEC_PER_RAD), np.where(bad, np.nan, eta * ARCSEC_PER_RAD)


def position_angle(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    """Position angle (deg, north through east, in [0, 360)) of point 2 seen from point 1."""
    a1, d1, a2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    da = a2 - a1
    pa = math.atan2(math.sin(da) * math.cos(d2),
                    math.cos(d1) * math.sin(d2) - math.sin(d1) * math.cos(d2) * math.cos(da))
    return math.degrees(pa) % 360.0


def exposure_pointing(du: float, dv: float, ra0: float, dec0: float, pa0: float) -> tuple[float, float, float]:
    """Pointing ``(RA_PNT, DEC_PNT, PA_PNT)`` of an exposure offset by ``(du, dv)``.

    The position angle is that of the instrument's +v axis at the exposure's
    own pointing (it differs from ``pa0`` near the poles).
    """
    xi, eta = focal_to_tangent(np.array([du, du]), np.array([dv, dv + 10.0]), pa0)
    ra, dec = deproject(xi, eta, ra0, dec0)
    return float(ra[0]), float(dec[0]), position_angle(ra[0], dec[0], ra[1], dec[1])


def detector_wcs(detector: int, du: float, dv: float, ra0: float, dec0: float, pa0: float) -> dict[str, object]:
    """FITS TAN WCS keywords of one detector of an exposure offset by ``(du, dv)``.

    The WCS is exact for this simulation: its tangent point is the base
    pointing and the pixel-to-tangent-plane map is linear.
    """
    uc, vc = detector_centre(detector)
    c, s = math.cos(math.radians(pa0)), math.sin(math.radians(pa0))
    scale = PIXEL_SCALE / 3600.0
    # Pixel of the tangent point (u, v) = (0, 0) in the base frame.
    crpix1 = (-du - uc) / PIXEL_SCALE + (NPIX + 1) / 2.0
    crpix2 = (-dv - vc) / PIXEL_SCALE + (NPIX + 1) / 2.0
    return {
        "CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN",
        "CRVAL1": float(ra0), "CRVAL2": float(dec0),
        "CRPIX1": float(crpix1), "CRPIX2": float(crpix2),
        "CD1_1": -scale * c, "CD1_2": scale * s,
        "CD2_1": scale * s, "CD2_2": scale * c,
        "CUNIT1": "deg", "CUNIT2": "deg",
    }
