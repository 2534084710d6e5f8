"""Flux and magnitude: the conversions and the constants, in one place.

Magnitudes are relative (positive = fainter): an exposure whose magnitude
offset is ``m`` has the flux factor ``QPRELEX = 10**(-0.4 m)``, and a
magnitude error ``e`` is a factor error ``0.4 ln(10) QPRELEX e``.

Each function takes a Python number (and returns a Python float, through
`math`) or an array (and returns an array, through numpy). Pure functions,
no I/O.

Examples
--------
>>> round(mag_to_flux_ratio(0.0330), 4)
0.9701
>>> round(flux_ratio_to_mag(0.97), 4)
0.0331
>>> flux_to_mag(1000.0, zero_point=30.0)
22.5
"""
from __future__ import annotations

import math
import numpy as np

LN10_04 = 0.4 * math.log(10.0)
"""d(ln flux)/d(mag) in absolute value: a magnitude error ``e`` is a relative
flux error ``LN10_04 * e`` (about 0.921)."""

MEDIAN_EFFICIENCY = 1.2533
"""sqrt(pi / 2) to four digits: the error of the median of n normal values is
``MEDIAN_EFFICIENCY * sigma / sqrt(n)`` for large n (used by
`relphot_core.stats.median_error`)."""

MMAG_PER_MAG = 1000.0
"""Millimagnitudes in a magnitude."""


def mag_to_flux_ratio(mag):
    """Flux ratio of a magnitude difference: ``10**(-0.4 mag)``.

    Examples
    --------
    >>> mag_to_flux_ratio(-2.5)
    10.0
    """
    return 10.0 ** (-0.4 * mag)


def flux_ratio_to_mag(ratio):
    """Magnitude difference of a flux ratio: ``-2.5 log10(ratio)``.

    Parameters
    ----------
    ratio : float or array_like
        Positive for a finite result (an array gives -inf or NaN, with
        numpy's warning, where it is not; a number raises ValueError).

    Examples
    --------
    >>> flux_ratio_to_mag(10.0)
    -2.5
    >>> flux_ratio_to_mag(np.array([10.0, 100.0]))
    array([-2.5, -5. ])
    """
    if isinstance(ratio, (int, float)):
        return -2.5 * math.log10(ratio)
    return -2.5 * np.log10(ratio)


def flux_to_mag(flux, zero_point: float):
    """Magnitude of a flux: ``zero_point - 2.5 log10(flux)``.

    Examples
    --------
    >>> flux_to_mag(np.array([1.0, 10.0]), zero_point=30.0)
    array([30. , 27.5])
    """
    if isinstance(flux, (int, float)):
        return zero_point - 2.5 * math.log10(flux)
    return zero_point - 2.5 * np.log10(flux)


def mag_to_flux(mag, zero_point: float):
    """Flux of a magnitude: ``10**(-0.4 (mag - zero_point))``.

    Examples
    --------
    >>> float(mag_to_flux(27.5, zero_point=30.0))
    10.0
    """
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - zero_point))


def mag_error_to_ratio_error(ratio, mag_error):
    """Error of a flux ratio from the error of its magnitude: ``LN10_04 * ratio * mag_error``.

    Examples
    --------
    >>> round(mag_error_to_ratio_error(1.0, 0.001), 6)
    0.000921
    """
    return LN10_04 * ratio * mag_error


def ratio_error_to_mag_error(ratio, ratio_error):
    """Error of a magnitude from the error of its flux ratio (inverse of
    `mag_error_to_ratio_error`).

    Examples
    --------
    >>> round(ratio_error_to_mag_error(1.0, 0.000921), 6)
    0.001
    """
    return ratio_error / (LN10_04 * ratio)
