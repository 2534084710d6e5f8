"""The simulated sky (stars and galaxies with realistic number counts) and
the NISP flux-noise model.

Number counts: differential counts ``dN/dm`` proportional to
``10**(slope * m)``: galaxies ``slope = 0.35`` dex/mag, stars ``0.12``
(a high-latitude field), with stars half as numerous as galaxies per
magnitude at m = 20 (so about a third of the sources at 20, a few per cent
at 24). Magnitudes from 14 to 25.5 AB in the reference band (NIR_H); each
source has a colour ``c`` and ``m_f = m_H + k_f c`` with ``k_f`` of 0, 0.5
and 1.0 for H, J and Y.

Noise: flux ``f`` (ADU-like, zero point 30) has variance
``sky**2 + f / gain + (floor * f)**2``. The sky term makes a point source
S/N = 5 at 24.5 AB; galaxies (larger apertures) have a sky term 1.3 times
larger; the Poisson term (gain 10) matters from about mag 20; the floor
(0.4 %) caps the bright end at S/N ~ 250. ``FLUXERR_AUTO`` reports, like
SExtractor, only the sky and Poisson terms of the measured flux.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ..photometry import flux_to_mag, mag_to_flux
from . import geometry as geo

FILTER_COLOUR_TERM: dict[str, float] = {"NIR_H": 0.0, "NIR_J": 0.5, "NIR_Y": 1.0}


@dataclass(frozen=True)
class NoiseModel:
    """Flux noise of NISP photometry in one 87.2 s exposure."""

    zero_point: float = 30.0
    mag_snr5: float = 24.5
    """Point-source magnitude at which S/N = 5."""
    gain: float = 10.0
    """Poisson variance is ``flux / gain``."""
    floor: float = 0.004
    """Fractional error floor (flat field, aperture), not in FLUXERR_AUTO."""
    galaxy_sky_factor: float = 1.3
    saturation_mag: float = 16.0
    """True magnitude brighter than this: saturated (FLAGS bit 4)."""

    def flux(self, mag: ArrayLike) -> np.ndarray:
        """Flux of a magnitude with this zero point."""
        return mag_to_flux(mag, self.zero_point)

    @property
    def sky_sigma(self) -> float:
        """Sky noise of a point source (flux units), solved for S/N = 5 at ``mag_snr5``."""
        f = float(self.flux(self.mag_snr5))
        return math.sqrt((f / 5.0) ** 2 - f / self.gain - (self.floor * f) ** 2)

    def sigma(self, flux: np.ndarray, is_star: np.ndarray, floor: bool = True) -> np.ndarray:
        """1-sigma flux noise of sources of (non-negative) flux ``flux``."""
        sky = np.where(is_star, self.sky_sigma, self.sky_sigma * self.galaxy_sky_factor)
        f = np.maximum(flux, 0.0)
        var = sky**2 + f / self.gain
        if floor:
            var = var + (self.floor * f) ** 2
        return np.sqrt(var)

    def mag_at_snr(self, snr: float, star: bool) -> float:
        """True magnitude at which the expected S/N equals ``snr``."""
        sky = self.sky_sigma * (1.0 if star else self.galaxy_sky_factor)
        a = 1.0 / snr**2 - self.floor**2
        f = (1.0 / self.gain + math.sqrt(1.0 / self.gain**2 + 4.0 * a * sky**2)) / (2.0 * a)
        return flux_to_mag(f, self.zero_point)


@dataclass(frozen=True)
class SkyModel:
    """Differential number counts of stars and galaxies (reference band H)."""

    mag_bright: float = 14.0
    mag_faint: float = 25.5
    galaxy_slope: float = 0.35
    star_slope: float = 0.12
    star_to_galaxy_at_20: float = 0.5

    def _integral(self, slope: float, m1: float, m2: float) -> float:
        return (10.0 ** (slope * (m2 - 20.0)) - 10.0 ** (slope * (m1 - 20.0))) / (slope * math.log(10.0))

    def densities(self, sources_per_detector: float, noise: NoiseModel) -> tuple[float, float]:
        """Densities (per arcsec2, over the full magnitude range) of galaxies
        and stars that give ``sources_per_detector`` sources of expected
        S/N >= 10 per detector."""
        ratio = self.star_to_galaxy_at_20
        per_unit = (self._integral(self.galaxy_slope, self.mag_bright, noise.mag_at_snr(10.0, star=False))
                    + ratio * self._integral(self.star_slope, self.mag_bright, noise.mag_at_snr(10.0, star=True)))
        amplitude = sources_per_detector / (per_unit * geo.DET_SIZE**2)
        galaxies = amplitude * self._integral(self.galaxy_slope, self.mag_bright, self.mag_faint)
        stars = amplitude * ratio * self._integral(self.star_slope, self.mag_bright, self.mag_faint)
        return galaxies, stars

    def draw_mags(self, rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
        """``n`` magnitudes from counts ``10**(slope m)`` on [bright, faint] (inverse CDF)."""
        lo = 10.0 ** (slope * (self.mag_bright - 20.0))
        hi = 10.0 ** (slope * (self.mag_faint - 20.0))
        return 20.0 + np.log10(lo + rng.random(n) * (hi - lo)) / slope


@dataclass
class Population:
    """The true sources of one observation's field, in the base tangent plane."""

    u: np.ndarray
    v: np.ndarray
    """Position in the instrument frame of dither 1 (arcsec, see `geometry`)."""
    mag_h: np.ndarray
    colour: np.ndarray
    is_star: np.ndarray
    is_variable: np.ndarray
    is_blended: np.ndarray

    def __len__(self) -> int:
        return len(self.u)

    def mag(self, filter_name: str) -> np.ndarray:
        """True magnitude in a NISP filter."""
        return self.mag_h + FILTER_COLOUR_TERM[filter_name] * self.colour


def draw_population(
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    sources_per_detector: float,
    *,
    variable_fraction: float,
    blend_fraction: float,
    sky: SkyModel,
    noise: NoiseModel,
) -> Population:
    """Draw the true sources uniformly over ``box = (u_min, u_max, v_min, v_max)`` (arcsec)."""
    area = (box[1] - box[0]) * (box[3] - box[2])
    dens_gal, dens_star = sky.densities(sources_per_detector, noise)
    n_gal = int(rng.poisson(dens_gal * area))
    n_star = int(rng.poisson(dens_star * area))
    n = n_gal + n_star
    mag = np.concatenate((sky.draw_mags(rng, n_gal, sky.galaxy_slope), sky.draw_mags(rng, n_star, sky.star_slope)))
    is_star = np.zeros(n, dtype=bool)
    is_star[n_gal:] = True
    colour = np.where(is_star, rng.normal(0.15, 0.2, n), rng.normal(0.35, 0.3, n))
    return Population(
        u=rng.uniform(box[0], box[1], n),
        v=rng.uniform(box[2], box[3], n),
        mag_h=mag,
        colour=colour,
        is_star=is_star,
        is_variable=rng.random(n) < variable_fraction,
        is_blended=rng.random(n) < blend_fraction,
    )
