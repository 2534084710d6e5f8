"""Tiny in-memory exposure sets for fast unit and property tests.

The simulator (`relphot_core.simulate`) makes realistic catalogues on disk;
this makes just enough for the method: the same stars seen by K exposures
with independent Gaussian flux noise and optional offsets.
"""
from __future__ import annotations

import numpy as np

from relphot_core.catalogs import ExposureCatalog


def make_exposures(
    n_sources: int = 400,
    n_exposures: int = 4,
    *,
    seed: int = 0,
    offsets_mag: dict[int, float] | None = None,
    ra0: float = 150.0,
    dec0: float = 2.0,
    obs_id: int = 1,
    band: str = "NIR_J",
    snr_range: tuple[float, float] = (15.0, 300.0),
) -> list[ExposureCatalog]:
    """K exposures of the same field; ``offsets_mag[d]`` makes dither d fainter."""
    rng = np.random.default_rng(seed)
    offsets_mag = offsets_mag or {}
    half = 0.3  # deg
    ra = ra0 + rng.uniform(-half, half, n_sources) / max(np.cos(np.radians(dec0)), 1e-3)
    dec = np.clip(dec0 + rng.uniform(-half, half, n_sources), -90, 90)
    flux_true = 10 ** rng.uniform(2.5, 5.0, n_sources)
    snr = rng.uniform(*snr_range, n_sources)
    catalogs = []
    for dither in range(1, n_exposures + 1):
        scale = 10 ** (-0.4 * offsets_mag.get(dither, 0.0))
        err = flux_true / snr
        flux = flux_true * scale + rng.normal(0.0, err * scale)
        jitter = rng.normal(0.0, 0.05 / 3600, (2, n_sources))
        catalogs.append(ExposureCatalog(
            obs_id=obs_id, filter=band, dither=dither,
            ra=(ra + jitter[0]) % 360.0, dec=np.clip(dec + jitter[1], -90, 90),
            flux=flux, flux_err=err * scale, flags=np.zeros(n_sources, dtype=np.int64),
            detector=rng.integers(1, 5, n_sources) * 10 + rng.integers(1, 5, n_sources),
            mjd_obs=60000.0 + dither * 0.004, exptime=87.2, file=f"mem://{obs_id}/{band}/{dither}",
        ))
    return catalogs
