"""Writing simulated observations: FITS catalogues (FITS_LDAC, plain per
detector, plain single table) and the truth file, each atomically
(temporary file in the same directory, then ``os.replace``).
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import fitsio
import numpy as np
from astropy.io import fits

from ..errors import ConfigError, RelphotError
from .observation import SimulatedExposure, SimulatedObservation

FORMATS: tuple[str, ...] = ("ldac", "plain", "plain-single")


def catalog_name(obs_id: int, filter_name: str, dither: int, fmt: str) -> str:
    """File name of an exposure's catalogue: ``{obs_id:06d}_{filter}_D{dither}.cat.fits`` (ldac) or ``.fits``."""
    suffix = ".cat.fits" if fmt == "ldac" else ".fits"
    return f"{obs_id:06d}_{filter_name}_D{dither}{suffix}"


def truth_name(obs_id: int, filter_name: str) -> str:
    """File name of an observation's truth: ``{obs_id:06d}_{filter}_truth.json``."""
    return f"{obs_id:06d}_{filter_name}_truth.json"


def _cards(header: dict[str, tuple[Any, str]]) -> list[dict[str, Any]]:
    return [{"name": key, "value": value, "comment": comment} for key, (value, comment) in header.items()]


_IMAGE_CARDS = (("XTENSION", "IMAGE", "image extension"), ("BITPIX", -32, "IEEE single precision"),
                ("NAXIS", 2, ""), ("NAXIS1", 2040, ""), ("NAXIS2", 2040, ""), ("PCOUNT", 0, ""), ("GCOUNT", 1, ""))


@functools.lru_cache(maxsize=8192)
def _card(key: str, value: Any, comment: str, kind: type) -> str:
    """One 80-character header card, formatted by astropy (cached: most cards
    repeat over the 16 detectors of an exposure)."""
    return fits.Card(key, value, comment).image


def _imhead(header: dict[str, tuple[Any, str]]) -> np.ndarray:
    """The LDAC_IMHEAD row: the detector's image header as 80-char cards, END included."""
    cards = [_card(k, v, c, type(v)) for k, v, c in _IMAGE_CARDS]
    cards += [_card(k, v, c, type(v)) for k, (v, c) in header.items()]
    text = "".join(cards) + "END".ljust(80)
    row = np.zeros(1, dtype=[("Field Header Card", f"S{len(text)}")])
    row["Field Header Card"][0] = text.encode("ascii")
    return row


def _write_exposure(path: Path, exposure: SimulatedExposure, fmt: str) -> None:
    with fitsio.FITS(str(path), "rw", clobber=True) as out:
        out.write(None, header=_cards(exposure.header))
        if fmt == "plain-single":
            out.write(exposure.table(), extname="SOURCES")
            return
        for det, cat in exposure.catalogs.items():
            if fmt == "ldac":
                out.write(_imhead(exposure.detector_headers[det]), extname="LDAC_IMHEAD")
                out.write(cat, extname="LDAC_OBJECTS")
            else:
                out.write(cat, extname=f"DET{det}",
                          header=[{"name": "DETECTOR", "value": det, "comment": "detector id (row, column)"}])


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise RelphotError(path, f"cannot write ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def write_truth(truth: dict[str, Any], path: Path) -> Path:
    """Write a JSON truth document atomically (sorted layout, reproducible bytes)."""
    text = json.dumps(truth, indent=1) + "\n"
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return path


def write_observation(sim: SimulatedObservation, directory: str | Path, fmt: str = "ldac",
                      *, truth: bool = True) -> list[Path]:
    """Write the present exposures of a simulated observation, and its truth.

    Parameters
    ----------
    sim : SimulatedObservation
    directory : str or Path
        Created if needed.
    fmt : {'ldac', 'plain', 'plain-single'}
    truth : bool
        Also write ``{obs_id:06d}_{filter}_truth.json`` (with the file names).

    Returns
    -------
    list of Path
        The catalogue files, by dither (the truth file is not in the list).
    """
    if fmt not in FORMATS:
        raise ConfigError("simulate", f"unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RelphotError(directory, f"cannot create directory ({exc.strerror})") from None
    paths = []
    files: dict[int, str] = {}
    for dither, exposure in sorted(sim.exposures.items()):
        path = directory / catalog_name(sim.obs_id, sim.filter, dither, fmt)
        _atomic(path, lambda tmp, e=exposure: _write_exposure(tmp, e, fmt))
        paths.append(path)
        files[dither] = path.name
    if truth:
        document = dict(sim.truth)
        document["format"] = fmt
        document["exposures"] = [dict(e, file=files.get(e["dither"])) for e in sim.truth["exposures"]]
        write_truth(document, directory / truth_name(sim.obs_id, sim.filter))
    return paths
