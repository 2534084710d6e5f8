"""Synthetic NISP source catalogues with known truth, for tests, demos and
benchmarks.

Seeded and reproducible (a numpy ``Generator`` per field and per exposure:
the same arguments give byte-identical files), vectorised over sources. A
full-density observation (4 exposures x 16 detectors x about 6000
detections, 3500 of them at S/N >= 10) simulates in about 0.35 s and writes
in about 0.3 s.

What is simulated
-----------------
* The focal plane (`relphot_core.simulate.geometry`): 4x4 detectors 11..44
  (``10*row + col``) of 2040x2040 px at 0.3"/px; gaps of 50" between columns
  (along the X pixel axis) and 100" between rows (along Y); gnomonic
  projection around the pointing, exact at the poles and across RA = 0/360.
* The dithers: J-style steps (+50", +100"), (0, +100"), (+50", +100") in the
  instrument frame, so a source changes detector or falls into a gap
  between exposures. Each exposure's ``RA_PNT``/``DEC_PNT``/``PA_PNT`` is its
  own pointing; every ``LDAC_IMHEAD`` carries an exact TAN WCS.
* Timing: dither ``d`` of a sequence starting at ``mjd`` begins at
  ``mjd + (d - 1) * 330 s``; within it J, H, Y start 0, 110, 220 s later;
  ``EXPTIME`` 87.2 s. ``EXPNUM`` counts the exposures of the observation
  (3 filters per dither), ``PTGID = 100 * OBS_ID + DITHOBS``.
* The sky (`relphot_core.simulate.sky`): galaxies (counts slope 0.35
  dex/mag) and stars (0.12) from 14 to 25.5 AB; noise with a sky term (S/N 5
  at 24.5 for point sources), a Poisson term and a 0.4 % floor; detections
  at measured S/N >= 5; zero point 30 (``MAG_AUTO = 30 - 2.5 log10 FLUX_AUTO``,
  99 for non-positive flux).
* Imperfections: saturation below 16 AB (FLAGS 4, flux underestimated),
  blends (5 %, FLAGS 2, flux contaminated by a few % differently in each
  exposure), truncation within 3 px of a detector edge (FLAGS 8), variable
  sources (2 %, 0.25 mag rms per exposure), spurious one-exposure detections
  (2 % per detector; some with negative flux), centroid noise of
  0.8"/(S/N) per axis (0.08" at S/N 10).

Faults (all optional, combinable): ``exposure_offsets={dither: mag}``,
``detector_offsets={(dither, detector): mag}`` (positive = fainter; the
exposure's true QPRELEX is ``10**(-0.4 mag)``), ``missing={dither}`` (not
written), ``partial={dither: 0.5}`` (shifted by half the focal plane along
X) or ``partial={dither: [11, 12, 21]}`` (only those detectors).

Files (`write_observation`)
---------------------------
``{obs_id:06d}_{filter}_D{dither}.cat.fits`` for ``fmt="ldac"`` (SExtractor
FITS_LDAC: primary header, then per detector ``LDAC_IMHEAD`` +
``LDAC_OBJECTS``), ``.fits`` for ``"plain"`` (one table ``DET11`` ... with
keyword ``DETECTOR``) and ``"plain-single"`` (one table ``SOURCES`` with a
``DETECTOR`` column). The primary header has ``TELESCOP INSTRUME OBS_ID
PTGID EXPNUM DITHOBS TOTEXP FILTER DATE-OBS MJD-OBS EXPTIME RA_PNT DEC_PNT
PA_PNT``. The truth goes to one file per observation and filter,
``{obs_id:06d}_{filter}_truth.json``::

    {"obs_id", "filter", "seed", "n_exposures", "sources_per_detector",
     "pointing": {"ra", "dec", "pa"}, "mjd_start", "dropped": [dithers],
     "format", "exposures": [{"dither", "written", "file", "qprelex",
       "offset_mag", "expected_qprelex", "detector_offsets": {"23":
       {"offset_mag", "factor"}}, "partial", "detectors", "n_sources",
       "mjd_obs", "date_obs", "ra_pnt", "dec_pnt", "pa_pnt",
       "dither_offset_arcsec"}, ...]}

``qprelex`` is the injected flux multiplier; ``expected_qprelex`` what a
perfect median of pair medians over the written exposures gives (they
differ only when several exposures are offset). `simulate_season` adds a
``truth.json`` for the whole season.

Example
-------
>>> import tempfile
>>> from relphot_core.simulate import simulate_observation, write_observation
>>> sim = simulate_observation(1234, "NIR_J", n_exposures=4, sources_per_detector=30,
...                            seed=7, exposure_offsets={2: 0.0331})
>>> sorted(sim.exposures)
[1, 2, 3, 4]
>>> round(sim.truth["exposures"][1]["qprelex"], 3)
0.97
>>> with tempfile.TemporaryDirectory() as tmp:
...     paths = write_observation(sim, tmp, fmt="ldac")
...     [p.name for p in paths][:2]
['001234_NIR_J_D1.cat.fits', '001234_NIR_J_D2.cat.fits']
>>> catalogs = sim.to_catalogs()  # in memory, for relphot_core.factors.compute_observation
"""
from __future__ import annotations

from .geometry import deproject, dither_offsets, locate, project
from .measure import CATALOG_DTYPE, TRUTH_DTYPE
from .observation import (
    EXPTIME,
    SimulatedExposure,
    SimulatedObservation,
    expected_factors,
    exposure_mjd,
    simulate_observation,
)
from .season import season_plan, simulate_season
from .sky import NoiseModel, SkyModel
from .writers import FORMATS, catalog_name, truth_name, write_observation, write_truth

__all__ = [
    "CATALOG_DTYPE",
    "EXPTIME",
    "FORMATS",
    "TRUTH_DTYPE",
    "NoiseModel",
    "SimulatedExposure",
    "SimulatedObservation",
    "SkyModel",
    "catalog_name",
    "deproject",
    "dither_offsets",
    "expected_factors",
    "exposure_mjd",
    "locate",
    "project",
    "season_plan",
    "simulate_observation",
    "simulate_season",
    "truth_name",
    "write_observation",
    "write_truth",
]
