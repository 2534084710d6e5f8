"""Benchmark: reading catalogues and computing the factors of one observation.

Builds a realistic observation with the simulator (4 exposures x 16
detectors x about 3500 S/N >= 10 sources; FITS_LDAC), then measures in the
same run:

- the reader candidates on the 16-detector catalogues (fitsio, as relphot
  reads what is not plain FITS_LDAC; astropy.io.fits; astropy
  ``Table.read`` per HDU), checking that they return the same sources;
- relphot: ``read_catalog`` x 4 and ``compute_observation``;
- the former floor: fitsio's read of only the needed columns, plus one
  scipy KD-tree build and query per pair (relphot now reads FITS_LDAC
  directly and matches on a sorted grid: it beats that floor);
- the straightforward baseline: astropy ``Table.read`` per HDU,
  ``SkyCoord.match_to_catalog_sky`` per pair, ``sigma_clipped_stats`` per
  pair;
- when ``scamp`` is on PATH, the peer: the whole process of
  ``relphot compute FILES --json out.json -q`` and of SCAMP solving the
  photometry of the same catalogues (`relphot_core.simulate.scamp`), each
  as a subprocess, ``--peer-runs`` runs each interleaved, medians; and the
  agreement of QPRELEX with 1 / FLXSCALE (each normalised to a mean of 1).

Run: ``python benchmarks/bench_compute.py [--repeat 3] [--sources 3500]
[--peer-runs 5] [--peer-only]``. Prints tables; in-process steps report the
best of ``--repeat`` runs.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import combinations
from pathlib import Path

import astropy.units as u
import fitsio
import numpy as np
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.stats import sigma_clipped_stats
from astropy.table import Table
from scipy.spatial import cKDTree

from relphot_core.catalogs import read_catalog
from relphot_core.config import Config
from relphot_core.factors import compute_observation
from relphot_core.matching import chord_length, unit_vectors
from relphot_core.simulate import simulate_observation, write_observation
from relphot_core.simulate.scamp import (read_flxscale, relative_factors, scamp_command, scamp_executable,
                                         write_reference)

COLUMNS = ["ALPHA_J2000", "DELTA_J2000", "FLUX_AUTO", "FLUXERR_AUTO", "FLAGS"]


def best_of(repeat: int, function):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def read_fitsio_columns(paths):
    out = []
    for path in paths:
        with fitsio.FITS(str(path)) as f:
            parts = [hdu.read(columns=COLUMNS) for hdu in f[1:] if hdu.get_extname() == "LDAC_OBJECTS"]
        out.append(np.concatenate(parts))
    return out


def read_astropy(paths):
    out = []
    for path in paths:
        with fits.open(path, memmap=False) as hdul:
            parts = [np.asarray(hdu.data)[COLUMNS] for hdu in hdul[1:] if hdu.name == "LDAC_OBJECTS"]
            out.append(np.concatenate([np.array(p) for p in parts]))
    return out


def read_table_per_hdu(paths):
    out = []
    for path in paths:
        with fits.open(path) as hdul:
            indices = [i for i, hdu in enumerate(hdul) if hdu.name == "LDAC_OBJECTS"]
        tables = [Table.read(path, hdu=i) for i in indices]
        out.append(np.concatenate([np.asarray(t[COLUMNS].as_array()) for t in tables]))
    return out


def floor(paths, config: Config):
    """The former floor: needed columns by fitsio, one cKDTree per exposure, one query per pair."""
    data = read_fitsio_columns(paths)
    chord = chord_length(config.matching.radius_arcsec)
    trees = [cKDTree(unit_vectors(d["ALPHA_J2000"], d["DELTA_J2000"])) for d in data]
    for a, b in combinations(range(len(data)), 2):
        trees[b].query(trees[a].data, k=1, distance_upper_bound=chord)


def relphot_read(paths):
    return [read_catalog(p) for p in paths]


def baseline(paths, config: Config):
    """Straightforward astropy: Table.read per HDU, SkyCoord matching, sigma_clipped_stats."""
    data = read_table_per_hdu(paths)
    selected = []
    for d in data:
        keep = (d["FLUX_AUTO"] > 0) & (d["FLUX_AUTO"] / d["FLUXERR_AUTO"] >= 10) & (d["FLAGS"] == 0)
        selected.append(d[keep])
    coords = [SkyCoord(d["ALPHA_J2000"] * u.deg, d["DELTA_J2000"] * u.deg) for d in selected]
    medians = {}
    for a, b in combinations(range(len(selected)), 2):
        index, separation, _ = coords[a].match_to_catalog_sky(coords[b])
        ok = separation < config.matching.radius_arcsec * u.arcsec
        dm = -2.5 * np.log10(selected[a]["FLUX_AUTO"][ok] / selected[b]["FLUX_AUTO"][index[ok]])
        medians[(a, b)] = sigma_clipped_stats(dm, sigma=3, maxiters=20, cenfunc="median", stdfunc="mad_std")[1]
    return medians


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def peer(paths: list[Path], tmp: Path, runs: int) -> None:
    """Whole-process wall time of ``relphot compute`` and of SCAMP, interleaved; agreement of the factors."""
    scamp = scamp_executable()
    if scamp is None:
        print("SCAMP peer: skipped (no `scamp` on PATH; Debian package `scamp`)")
        return
    version = subprocess.run([scamp, "-v"], capture_output=True, text=True).stdout.strip()
    relphot = shutil.which("relphot", path=str(Path(sys.executable).parent)) or "relphot"
    out = tmp / "factors.json"
    reference = write_reference(paths[0], tmp / "reference.cat")  # setup, not timed
    commands = {
        "relphot compute (whole process)": [relphot, "compute", *map(str, paths), "--json", str(out), "-q"],
        f"scamp {version.split()[2] if len(version.split()) > 2 else ''} photometry (whole process)":
            scamp_command(paths, reference),
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for command in commands.values():  # warm-up: page cache, .pyc files
        _timed(command, tmp)
    for _ in range(runs):
        for name, command in commands.items():
            times[name].append(_timed(command, tmp))
    (_ours, t_ours), (_theirs, t_theirs) = times.items()
    rows = json.loads(out.read_text())
    qprelex = np.array([r["value"] for r in sorted(rows, key=lambda r: r["exposure"])])
    qprelex = qprelex / qprelex.mean()
    scale = relative_factors([read_flxscale(p).mean() for p in paths])
    delta_mmag = 2500.0 * np.abs(np.log10(qprelex / scale))
    print(f"\nWhole process, same {len(paths)} catalogues, median (min..max) of {runs} interleaved runs "
          f"after one warm-up ({version}):")
    print(f"  {'':44s} {'median':>8s} {'min':>7s} {'max':>7s}")
    for name, values in times.items():
        print(f"  {name:44s} {statistics.median(values):7.3f}s {min(values):6.3f}s {max(values):6.3f}s")
    ratio = statistics.median(t_theirs) / statistics.median(t_ours)
    print(f"  {'scamp / relphot':44s} {ratio:7.2f}x")
    print("  (SCAMP's astrometric reference catalogue, built from D1's clean sources, is setup: not timed)")
    print(f"  QPRELEX (mean 1):      {' '.join(f'{v:.5f}' for v in qprelex)}")
    print(f"  1/FLXSCALE (mean 1):   {' '.join(f'{v:.5f}' for v in scale)}")
    print(f"  largest difference:    {delta_mmag.max():.2f} mmag")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sources", type=float, default=3500.0, help="S/N>=10 sources per detector")
    parser.add_argument("--peer-runs", type=int, default=5, help="runs of each whole process (SCAMP peer)")
    parser.add_argument("--peer-only", action="store_true", help="only the whole-process comparison with SCAMP")
    args = parser.parse_args()
    config = Config()
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate_observation(1, "NIR_J", sources_per_detector=args.sources, seed=1,
                                   exposure_offsets={2: 0.033})
        paths = write_observation(sim, Path(tmp), fmt="ldac")
        n_rows = sum(fitsio.FITS(str(p))[2].get_nrows() * 16 for p in paths)
        if args.peer_only:
            print(f"Observation: 4 exposures x 16 detectors, {n_rows:,} catalogue rows")
            peer(paths, Path(tmp), args.peer_runs)
            return

        # Reader candidates: same sources from each.
        t_fitsio, a = best_of(args.repeat, lambda: read_fitsio_columns(paths))
        t_astropy, b = best_of(args.repeat, lambda: read_astropy(paths))
        t_table, c = best_of(args.repeat, lambda: read_table_per_hdu(paths))
        for x, y, z in zip(a, b, c):
            for name in COLUMNS:
                assert np.array_equal(x[name], y[name]) and np.array_equal(x[name], z[name]), name

        t_read, catalogs = best_of(args.repeat, lambda: relphot_read(paths))
        t_compute, result = best_of(args.repeat, lambda: compute_observation(catalogs, config))
        t_floor, _ = best_of(args.repeat, lambda: floor(paths, config))
        t_base, base = best_of(max(1, args.repeat - 1), lambda: baseline(paths, config))

    ours = t_read + t_compute
    print(f"Observation: 4 exposures x 16 detectors, {n_rows:,} catalogue rows "
          f"(~{args.sources:.0f} S/N>=10 sources per detector), best of {args.repeat}\n")
    print("Reader candidates (4 catalogues, 5 columns, identical output checked):")
    print(f"  {'fitsio (relphot off the direct path)':38s} {t_fitsio:8.3f} s")
    print(f"  {'astropy.io.fits':38s} {t_astropy:8.3f} s   {t_astropy / t_fitsio:5.1f}x fitsio")
    print(f"  {'astropy Table.read per HDU':38s} {t_table:8.3f} s   {t_table / t_fitsio:5.1f}x fitsio\n")
    print(f"{'step':44s} {'time':>9s} {'ratio':>8s}")
    print(f"{'relphot read (read_catalog x4)':44s} {t_read:8.3f}s")
    print(f"{'relphot compute (6 pairs, detectors, flags)':44s} {t_compute:8.3f}s")
    print(f"{'relphot read + compute':44s} {ours:8.3f}s {'1.00':>8s}")
    print(f"{'former floor (fitsio columns + cKDTree)':44s} {t_floor:8.3f}s {ours / t_floor:7.2f}x  "
          f"(relphot / former floor)")
    print(f"{'baseline (Table.read, SkyCoord, astropy clip)':44s} {t_base:8.3f}s {t_base / ours:7.2f}x  "
          f"(baseline / relphot)")
    check = {(p.exposure_a - 1, p.exposure_b - 1): p.median for p in result.pairs}
    worst = max(abs(check[k] - v) for k, v in base.items())
    print(f"\nQPRELEX of the 3%-faint exposure: {result.exposure(2).value:.5f}; "
          f"largest pair-median difference relphot vs baseline: {worst:.2e} mag")
    with tempfile.TemporaryDirectory() as tmp:
        peer(write_observation(sim, Path(tmp), fmt="ldac"), Path(tmp), args.peer_runs)


if __name__ == "__main__":
    main()
