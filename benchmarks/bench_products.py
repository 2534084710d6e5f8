"""Benchmark of the XML products and of ``relphot apply``.

1. Export rate: validated products per second (build the lxml tree, validate
   against the XSD, serialise; then also the atomic write with fsync), against
   the straightforward baseline of serialising the same tree unvalidated and
   writing it with a plain ``open().write()``. And, when the store is there,
   ``relphot export`` from an SQLite store end to end.
2. Apply on an 800 MB exposure (16 detectors x SCI/RMS/DQ, 2040x2040,
   float32 SCI/RMS, int32 DQ), generated in /tmp at run time and deleted
   afterwards, against the time to copy that file: the streamed rewrite (the
   primary header is full and must grow) and the in-place header rewrite (the
   header has room). Peak memory of a separate ``relphot apply`` process is
   reported to show that the data are never loaded.

Usage::

    python benchmarks/bench_products.py [--products 500] [--detector-size 2040] [--skip-apply]

All timings are warm page cache (the file was just written), on the machine
the script runs on.
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from astropy.io import fits
from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relphot_core import products
from relphot_core.apply import apply_product
from relphot_core.config import Config
from relphot_core.results import ExposureFactor, ObservationResult

DETECTORS = [10 * row + col for row in range(1, 5) for col in range(1, 5)]


def make_results(n: int, seed: int = 1) -> list[ObservationResult]:
    rng = np.random.default_rng(seed)
    parameters = Config().parameters()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    results = []
    for k in range(n):
        exposures = []
        for dither in range(1, 5):
            value = float(1 + rng.normal(0, 0.004))
            exposures.append(ExposureFactor(dither, value, float(abs(rng.normal(0.001, 0.0002))),
                                            -2.5 * math.log10(value), "OK"))
        results.append(ObservationResult(
            obs_id=10000 + k, filter=("NIR_Y", "NIR_J", "NIR_H")[k % 3], method="median",
            exposures=exposures, parameters=parameters, software_version="0.1.0",
            created=start + timedelta(minutes=k), mjd_start=61000 + k * 0.1, mjd_end=61000.02 + k * 0.1,
            input_digest=f"bench-{k}"))
    return results


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:10.0f}/s"


def bench_export(n: int, workdir: Path) -> list[tuple[str, float, float]]:
    results = make_results(n)
    rows = []
    products._schema()  # load the XSD once, outside the timings

    def unvalidated(result: ObservationResult) -> bytes:
        root = products.product_tree(result, thresholds=Config().thresholds)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    unvalidated(results[0])  # warm-up
    t0 = time.perf_counter()
    for result in results:
        unvalidated(result)
    baseline = time.perf_counter() - t0
    rows.append(("baseline A: build + serialise, unvalidated, no file", baseline, 1.0))

    t0 = time.perf_counter()
    for result in results:
        products.product_bytes(result)
    elapsed = time.perf_counter() - t0
    rows.append(("product_bytes (build + XSD validation + serialise) vs A", elapsed, baseline / elapsed))

    plain = workdir / "plain"
    plain.mkdir()
    t0 = time.perf_counter()
    for result in results:
        (plain / products.product_filename(result)).write_bytes(unvalidated(result))
    baseline = time.perf_counter() - t0
    rows.append(("baseline B: unvalidated + plain write (no fsync)", baseline, 1.0))

    out = workdir / "validated"
    out.mkdir()
    t0 = time.perf_counter()
    for result in results:
        products.write_product(result, out)
    elapsed = time.perf_counter() - t0
    rows.append(("write_product (validated, temp + fsync + rename) vs B", elapsed, baseline / elapsed))

    t0 = time.perf_counter()
    for path in sorted(out.iterdir()):
        products.read_product(path)
    elapsed = time.perf_counter() - t0
    rows.append(("read_product (hardened parse + XSD validation) vs B", elapsed, baseline / elapsed))

    try:
        from relphot_core.store import Store
    except ImportError:
        return rows
    url = f"sqlite:///{workdir / 'bench.db'}"
    with Store.open(url) as store:
        store.save_results(results)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    cmd = [sys.executable, "-m", "relphot_core.cli", "export", "--db", url, "--out", str(workdir / "cli")]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - t0
    exported = len(list((workdir / "cli").iterdir()))
    if exported != n:
        raise SystemExit(f"relphot export wrote {exported} products, expected {n}")
    rows.append(("relphot export from SQLite (whole process, incl. start-up) vs B", elapsed, baseline / elapsed))
    return rows


def write_exposure(path: Path, size: int, full_primary: bool) -> int:
    """Stream an exposure to disk without holding more than one image; returns its size."""
    rng = np.random.default_rng(0)
    sci = rng.normal(100, 10, (size, size)).astype(">f4").tobytes()
    rms = rng.random((size, size)).astype(">f4").tobytes()
    dq = rng.integers(0, 256, (size, size)).astype(">i4").tobytes()
    primary = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
    for key, value in [("OBS_ID", 1234), ("FILTER", "NIR_J"), ("DITHOBS", 1), ("EXPNUM", 1),
                       ("MJD-OBS", 61000.1), ("DATE-OBS", "2026-01-01T02:24:00.000"), ("EXPTIME", 87.2),
                       ("RA_PNT", 150.0), ("DEC_PNT", 2.0), ("PA_PNT", 10.0)]:
        primary[key] = value
    if full_primary:
        for index in range(35 - len(primary)):
            primary[f"PAD{index:05d}"] = index
    with open(path, "wb") as stream:
        stream.write(primary.tostring().encode("ascii"))
        for det in DETECTORS:
            for name, data, bitpix in (("SCI", sci, -32), ("RMS", rms, -32), ("DQ", dq, 32)):
                header = fits.Header([("XTENSION", "IMAGE"), ("BITPIX", bitpix), ("NAXIS", 2),
                                      ("NAXIS1", size), ("NAXIS2", size), ("PCOUNT", 0), ("GCOUNT", 1),
                                      ("EXTNAME", f"DET{det}.{name}")])
                stream.write(header.tostring().encode("ascii"))
                stream.write(data)
                pad = -len(data) % 2880
                stream.write(b"\0" * pad)
    return path.stat().st_size


def bench_apply(size: int, workdir: Path, repeats: int = 3) -> list[tuple[str, float, float]]:
    source = workdir / "exposure_a.fits"
    t0 = time.perf_counter()
    nbytes = write_exposure(source, size, full_primary=True)
    print(f"generated a {nbytes / 1e6:.0f} MB exposure in {time.perf_counter() - t0:.1f} s ({source}); "
          f"timings: best of {repeats}")
    product_path = products.write_product(make_results(1)[0].__class__(
        obs_id=1234, filter="NIR_J", method="median",
        exposures=[ExposureFactor(1, 0.9876, 0.0011, -2.5 * math.log10(0.9876), "OK")],
        software_version="0.1.0", mjd_start=61000.1, mjd_end=61000.11), workdir)
    product = products.read_product(product_path)
    with open(source, "rb+") as stream:  # nothing of the generation left to write back
        os.fsync(stream.fileno())
    copy = workdir / "exposure_b.fits"
    times: dict[str, list[float]] = {"copy": [], "copy+fsync": [], "grow": [], "in place": []}
    for _ in range(repeats):
        copy.unlink(missing_ok=True)
        t0 = time.perf_counter()
        shutil.copyfile(source, copy)
        times["copy"].append(time.perf_counter() - t0)
        with open(copy, "rb+") as stream:
            os.fsync(stream.fileno())
        times["copy+fsync"].append(time.perf_counter() - t0)

        t0 = time.perf_counter()
        plan = apply_product(product, copy, product_name=product_path.name)
        times["grow"].append(time.perf_counter() - t0)
        assert not plan.in_place

        t0 = time.perf_counter()
        plan = apply_product(product, copy, product_name=product_path.name)
        times["in place"].append(time.perf_counter() - t0)
        assert plan.in_place
    best = {key: min(values) for key, values in times.items()}
    baseline = best["copy"]
    rows = [
        (f"baseline: shutil.copyfile of the {nbytes / 1e6:.0f} MB file", baseline, 1.0),
        ("baseline: copy + fsync", best["copy+fsync"], baseline / best["copy+fsync"]),
        ("apply, header must grow (streamed rewrite + fsync + rename)", best["grow"], baseline / best["grow"]),
        ("apply, header has room (journalled in-place header write)", best["in place"],
         baseline / best["in place"]),
    ]

    # the data region is byte-identical (chunked comparison, never the whole file in memory)
    with open(source, "rb") as a, open(copy, "rb") as b:
        a.seek(2880)
        b.seek(plan.old_header_size)
        while True:
            x, y = a.read(1 << 24), b.read(1 << 24)
            if x != y:
                raise SystemExit("data region differs after apply!")
            if not x:
                break

    # peak memory of a separate process doing the streamed rewrite, vs one that only imports
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    report = "import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    idle = "import relphot_core.apply, relphot_core.products;" + report
    script = ("import sys; from pathlib import Path; from relphot_core.apply import apply_product;"
              "from relphot_core.products import read_product;"
              "p = Path(sys.argv[1]); apply_product(read_product(p), sys.argv[2], product_name=p.name);" + report)
    idle_kb = int(subprocess.run([sys.executable, "-c", idle], check=True, env=env, capture_output=True,
                                 text=True).stdout)
    peak_kb = int(subprocess.run([sys.executable, "-c", script, str(product_path), str(source)], check=True,
                                 env=env, capture_output=True, text=True).stdout)
    print(f"peak RSS of a process applying to the {nbytes / 1e6:.0f} MB file (streamed rewrite): "
          f"{peak_kb / 1024:.0f} MB; of one that only imports relphot: {idle_kb / 1024:.0f} MB")
    return rows


def table(title: str, rows: list[tuple[str, float, float]], n: int | None = None) -> None:
    print(f"\n{title}")
    width = max(len(r[0]) for r in rows)
    head = f"{'what':<{width}}  {'seconds':>9}  " + (f"{'rate':>12}  " if n else "") + "speed vs baseline"
    print(head)
    print("-" * len(head))
    for name, seconds, ratio in rows:
        extra = f"{rate(n, seconds):>12}  " if n else ""
        print(f"{name:<{width}}  {seconds:9.4f}  {extra}{ratio:10.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--detector-size", type=int, default=2040, help="pixels per side (2040 -> 800 MB)")
    parser.add_argument("--skip-apply", action="store_true")
    parser.add_argument("--skip-export", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="relphot-bench-", dir="/tmp"))
    try:
        if not args.skip_export:
            table(f"Export: {args.products} products of 4 exposures each", bench_export(args.products, workdir),
                  args.products)
        if not args.skip_apply:
            table("Apply on one exposure file", bench_apply(args.detector_size, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
