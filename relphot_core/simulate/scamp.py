"""SCAMP as a peer of relphot on simulated FITS_LDAC catalogues.

SCAMP (Bertin 2006) solves the relative photometry of overlapping exposures
too: its ``FLXSCALE`` of an exposure is the factor that brings its fluxes to
the common scale, so ``1 / FLXSCALE`` (both normalised to a mean of 1) is
relphot's ``QPRELEX``. Used by ``benchmarks/bench_compute.py`` and the
tests; nothing of relphot's own computation depends on it.

Recipe (SCAMP 2.10): no astrometric solution (``SOLVE_ASTROM N``, ``MATCH
N``), one photometric instrument per filter, exposures left as they are
(``MOSAIC_TYPE UNCHANGED``). ``ASTREF_CATALOG NONE`` crashes 2.10, so an
astrometric reference catalogue is built from the data (`write_reference`):
it only has to exist and overlap, the positions are not refitted.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import fitsio
import numpy as np

from .geometry import PIXEL_SCALE

SCAMP_OPTIONS: dict[str, str] = {
    "ASTREF_CATALOG": "FILE",
    "ASTREFCENT_KEYS": "ALPHA_J2000,DELTA_J2000",
    "ASTREFERR_KEYS": "ERRA_WORLD,ERRB_WORLD,ERRTHETA_WORLD",
    "ASTREFMAG_KEY": "MAG_AUTO",
    "ASTREFMAGERR_KEY": "MAGERR_AUTO",
    "SOLVE_ASTROM": "N",
    "MATCH": "N",
    "SOLVE_PHOTOM": "Y",
    "MOSAIC_TYPE": "UNCHANGED",
    "CENTROID_KEYS": "XWIN_IMAGE,YWIN_IMAGE",
    "CENTROIDERR_KEYS": "ERRAWIN_IMAGE,ERRBWIN_IMAGE,ERRTHETAWIN_IMAGE",
    "PHOTINSTRU_KEY": "FILTER",
    "PHOTFLUX_KEY": "FLUX_AUTO",
    "PHOTFLUXERR_KEY": "FLUXERR_AUTO",
    "SN_THRESHOLDS": "10.0,100.0",
    "FLAGS_MASK": "0x00ff",
    "CROSSID_RADIUS": "0.5",
    "CHECKPLOT_TYPE": "NONE",
    "WRITE_XML": "N",
    "VERBOSE_TYPE": "QUIET",
}
"""Command-line configuration of SCAMP (``-KEY value``), probed on 2.10."""

_READ_COLUMNS = ["ALPHA_J2000", "DELTA_J2000", "ERRAWIN_IMAGE", "ERRBWIN_IMAGE", "ERRTHETAWIN_IMAGE", "MAG_AUTO",
                 "MAGERR_AUTO", "FLUX_AUTO", "FLUXERR_AUTO", "FLAGS"]
_FLXSCALE = re.compile(r"^FLXSCALE=\s*([-+0-9.EeDd]+)", re.MULTILINE)


def scamp_executable() -> str | None:
    """Path of ``scamp`` on PATH, or None."""
    return shutil.which("scamp")


def write_reference(catalog: str | Path, path: str | Path, *, min_snr: float = 10.0) -> Path:
    """An astrometric reference catalogue (FITS_LDAC) from one exposure's clean sources.

    Parameters
    ----------
    catalog : str or Path
        A FITS_LDAC catalogue written by `relphot_core.simulate.write_observation`.
    path : str or Path
        Output file (overwritten).
    min_snr : float, optional
        Sources with ``FLAGS == 0`` and ``FLUX_AUTO / FLUXERR_AUTO`` at
        least this are kept.

    Returns
    -------
    Path
    """
    parts = []
    with fitsio.FITS(str(catalog)) as f:
        for hdu in f[1:]:
            if hdu.get_extname() == "LDAC_OBJECTS":
                data = hdu.read(columns=_READ_COLUMNS)
                keep = (data["FLAGS"] == 0) & (data["FLUX_AUTO"] > 0) & (
                    data["FLUX_AUTO"] >= min_snr * data["FLUXERR_AUTO"])
                parts.append(data[keep])
    sources = np.concatenate(parts)
    out = np.empty(sources.size, dtype=[("ALPHA_J2000", ">f8"), ("DELTA_J2000", ">f8"), ("ERRA_WORLD", ">f4"),
                                        ("ERRB_WORLD", ">f4"), ("ERRTHETA_WORLD", ">f4"), ("MAG_AUTO", ">f4"),
                                        ("MAGERR_AUTO", ">f4")])
    for name in ("ALPHA_J2000", "DELTA_J2000", "MAG_AUTO", "MAGERR_AUTO"):
        out[name] = sources[name]
    # The simulated detectors' pixels are square and unrotated against the
    # focal plane: the error ellipse on the sky is the pixel one, scaled.
    out["ERRA_WORLD"] = sources["ERRAWIN_IMAGE"] * PIXEL_SCALE / 3600.0
    out["ERRB_WORLD"] = sources["ERRBWIN_IMAGE"] * PIXEL_SCALE / 3600.0
    out["ERRTHETA_WORLD"] = sources["ERRTHETAWIN_IMAGE"]
    text = "".join(card.ljust(80) for card in ("SIMPLE  =                    T", "NAXIS   =                    0",
                                               "END"))
    imhead = np.zeros(1, dtype=[("Field Header Card", f"S{len(text)}")])
    imhead["Field Header Card"][0] = text.encode("ascii")
    path = Path(path)
    with fitsio.FITS(str(path), "rw", clobber=True) as f:
        f.write(None)
        f.write(imhead, extname="LDAC_IMHEAD")
        f.write(out, extname="LDAC_OBJECTS")
    return path


def scamp_command(catalogs: Sequence[str | Path], reference: str | Path,
                  options: dict[str, str] | None = None) -> list[str]:
    """The ``scamp`` command line for `SCAMP_OPTIONS` (``-c /dev/null``: built-in defaults)."""
    settings = dict(SCAMP_OPTIONS, ASTREFCAT_NAME=str(reference), **(options or {}))
    command = [scamp_executable() or "scamp", *map(str, catalogs), "-c", "/dev/null"]
    for key, value in settings.items():
        command += [f"-{key}", value]
    return command


def run_scamp(catalogs: Sequence[str | Path], reference: str | Path, *, cwd: str | Path | None = None,
              options: dict[str, str] | None = None) -> None:
    """Run SCAMP; raises `subprocess.CalledProcessError` (with its output) on failure."""
    subprocess.run(scamp_command(catalogs, reference, options), cwd=cwd, check=True,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def read_flxscale(catalog: str | Path) -> np.ndarray:
    """The ``FLXSCALE`` values of the ``.head`` file SCAMP wrote next to a catalogue
    (its name with the last suffix replaced: ``x.cat.fits`` -> ``x.cat.head``).

    Returns
    -------
    numpy.ndarray
        One value per extension (detector) of the catalogue.
    """
    text = Path(catalog).with_suffix(".head").read_text(encoding="ascii", errors="replace")
    return np.array([float(v.replace("D", "E")) for v in _FLXSCALE.findall(text)])


def relative_factors(flxscale: Sequence[float]) -> np.ndarray:
    """``1 / FLXSCALE`` per exposure, normalised to a mean of 1 (comparable to QPRELEX)."""
    inverse = 1.0 / np.asarray(flxscale, dtype=float)
    return inverse / inverse.mean()
