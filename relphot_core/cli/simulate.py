"""``relphot simulate``: write synthetic NISP catalogues with known truth."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import DETECTORS, FILTERS
from ..errors import ConfigError
from ..photometry import flux_ratio_to_mag

FORMATS: tuple[str, ...] = ("ldac", "plain", "plain-single")
"""`relphot_core.simulate.FORMATS`, repeated so that building the command
line's parser does not import the simulator (tested to stay equal)."""

_EPILOG = """\
faults (repeatable, applied to every observation):
  --offset 2:0.0331           dither 2 reads 0.0331 mag fainter (QPRELEX 0.97)
  --offset 2:x0.97            the same, given as a flux factor
  --detector-offset 3:23:0.05 detector 23 of dither 3 reads 0.05 mag fainter
  --missing 4                 dither 4 is simulated but not written
  --partial 3                 dither 3 shifted by half the focal plane (partial overlap)
  --partial 3:0.8             ... by 0.8 of the focal plane
  --partial 3:11,12,21        dither 3 has only detectors 11, 12 and 21

--season draws a survey season instead: pointings across the sky over four
weeks, a few bad exposures, one bad detector and a slow drift of NIR_H
dither 4; see truth.json in the output directory.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``simulate`` sub-command."""
    parser = subparsers.add_parser(
        "simulate",
        help="write realistic synthetic NISP source catalogues with injected offsets",
        description="Simulate dithered NISP exposures (4x4 detectors, stars and galaxies down to\n"
                    "24.5 AB, noise, flags, variables, spurious detections) and write one source\n"
                    "catalogue per exposure plus a truth file per observation and filter.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="output directory (created)")
    parser.add_argument("--observations", "-n", type=int, default=1, metavar="N",
                        help="number of observations (consecutive ids; default 1)")
    parser.add_argument("--obs-id", type=int, default=1000, metavar="ID", help="first observation id (default 1000)")
    parser.add_argument("--filters", default=",".join(FILTERS), metavar="LIST",
                        help=f"comma-separated filters (default {','.join(FILTERS)})")
    parser.add_argument("--exposures", "-k", type=int, default=4, metavar="K",
                        help="dithers per observation (default 4)")
    parser.add_argument("--sources-per-detector", type=float, default=None, metavar="N",
                        help="S/N >= 10 sources per detector and exposure (default 3500, full density; "
                             "500 with --season)")
    parser.add_argument("--format", dest="fmt", default="ldac", metavar="FMT",
                        help=f"catalogue format: {' | '.join(FORMATS)} (default ldac)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--ra", type=float, default=150.0, help="RA of the first pointing, deg (default 150)")
    parser.add_argument("--dec", type=float, default=2.0, help="Dec of the first pointing, deg (default 2)")
    parser.add_argument("--pa", type=float, default=0.0, help="position angle, deg (default 0)")
    parser.add_argument("--mjd", type=float, default=60700.0,
                        help="start of the first observation, MJD (default 60700)")
    parser.add_argument("--offset", action="append", default=[], metavar="DITHER:MAG", help="exposure offset")
    parser.add_argument("--detector-offset", action="append", default=[], metavar="DITHER:DET:MAG",
                        help="detector offset in one exposure")
    parser.add_argument("--missing", action="append", default=[], metavar="DITHER", help="exposure not written")
    parser.add_argument("--partial", action="append", default=[], metavar="DITHER[:SPEC]",
                        help="partial-overlap exposure")
    parser.add_argument("--variable-fraction", type=float, default=0.02, help="fraction of variable sources")
    parser.add_argument("--spurious-fraction", type=float, default=0.02, help="fraction of spurious detections")
    parser.add_argument("--season", action="store_true", help="simulate a survey season with random problems")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    parser.set_defaults(func=run)


def _int(text: str, option: str, value: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(option, f"{value!r}: {text!r} is not an integer") from None


def _float(text: str, option: str, value: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise ConfigError(option, f"{value!r}: {text!r} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ConfigError(option, f"{value!r}: {text!r} is not finite")
    return number


def parse_offset(value: str) -> tuple[int, float]:
    """``'2:0.0331'`` (mag) or ``'2:x0.97'`` (flux factor) -> (dither, mag)."""
    parts = value.split(":")
    if len(parts) != 2:
        raise ConfigError("--offset", f"{value!r}: expected DITHER:MAG or DITHER:xFACTOR")
    dither = _int(parts[0], "--offset", value)
    if parts[1][:1] in ("x", "X"):
        factor = _float(parts[1][1:], "--offset", value)
        if factor <= 0:
            raise ConfigError("--offset", f"{value!r}: a flux factor must be > 0")
        return dither, flux_ratio_to_mag(factor)
    return dither, _float(parts[1], "--offset", value)


def parse_detector_offset(value: str) -> tuple[tuple[int, int], float]:
    """``'3:23:0.05'`` -> ((dither, detector), mag)."""
    parts = value.split(":")
    if len(parts) != 3:
        raise ConfigError("--detector-offset", f"{value!r}: expected DITHER:DETECTOR:MAG")
    det = _int(parts[1], "--detector-offset", value)
    if det not in DETECTORS:
        raise ConfigError("--detector-offset", f"{value!r}: detector {det} does not exist (11..44)")
    return (_int(parts[0], "--detector-offset", value), det), _float(parts[2], "--detector-offset", value)


def parse_partial(value: str) -> tuple[int, float | list[int]]:
    """``'3'`` (half shift), ``'3:0.8'`` (shift fraction) or ``'3:11,12'`` (detectors)."""
    dither_text, _, spec = value.partition(":")
    dither = _int(dither_text, "--partial", value)
    if not spec:
        return dither, 0.5
    if "." in spec:
        return dither, _float(spec, "--partial", value)
    dets = [_int(item, "--partial", value) for item in spec.split(",")]
    bad = [d for d in dets if d not in DETECTORS]
    if bad:
        raise ConfigError("--partial", f"{value!r}: detector {bad[0]} does not exist (11..44)")
    return dither, dets


def run(args: argparse.Namespace) -> int:
    """Execute ``relphot simulate``."""
    from tqdm import tqdm

    from ..simulate import simulate_observation, simulate_season, write_observation

    filters = [f.strip() for f in args.filters.split(",") if f.strip()]
    unknown = [f for f in filters if f not in FILTERS]
    if not filters or unknown:
        raise ConfigError("--filters", f"unknown filter {unknown[0]!r}" if unknown else "no filter given")
    if args.fmt not in FORMATS:
        raise ConfigError("--format", f"unknown format {args.fmt!r} (expected one of {', '.join(FORMATS)})")
    if args.observations < 1:
        raise ConfigError("--observations", "must be >= 1")
    if args.obs_id < 0:
        raise ConfigError("--obs-id", "must be >= 0")
    if args.sources_per_detector is not None and not args.sources_per_detector > 0:
        raise ConfigError("--sources-per-detector", "must be > 0")
    offsets = dict(parse_offset(v) for v in args.offset)
    det_offsets = dict(parse_detector_offset(v) for v in args.detector_offset)
    partial = dict(parse_partial(v) for v in args.partial)
    missing = {_int(v, "--missing", v) for v in args.missing}
    if not 1 <= args.exposures <= 99:
        raise ConfigError("--exposures", "must be in 1..99")
    for option, dithers in (("--offset", offsets), ("--detector-offset", [d for d, _ in det_offsets]),
                            ("--missing", missing), ("--partial", partial)):
        for dither in dithers:
            if not 1 <= dither <= args.exposures:
                raise ConfigError(option, f"dither {dither} does not exist (exposures are 1..{args.exposures})")
    if len(missing) >= args.exposures:
        raise ConfigError("--missing", "cannot drop every exposure")
    if args.season and (offsets or det_offsets or partial or missing):
        raise ConfigError("--season", "draws its own faults; do not combine with "
                                      "--offset/--detector-offset/--missing/--partial")
    total = args.observations * len(filters)
    bar = tqdm(total=total, desc="simulating", unit="obs", disable=args.quiet or total < 2, file=sys.stderr)
    try:
        if args.season:
            paths, _ = simulate_season(
                args.out, args.observations, filters=filters, n_exposures=args.exposures, seed=args.seed,
                sources_per_detector=args.sources_per_detector or 500.0, first_obs_id=args.obs_id,
                mjd_start=args.mjd, fmt=args.fmt, progress=bar.update,
                variable_fraction=args.variable_fraction, spurious_fraction=args.spurious_fraction)
        else:
            paths = []
            for i in range(args.observations):
                for band in filters:
                    sim = simulate_observation(
                        args.obs_id + i, band, n_exposures=args.exposures,
                        sources_per_detector=args.sources_per_detector or 3500.0, seed=args.seed,
                        ra=(args.ra + 1.5 * i) % 360.0, dec=args.dec, pa=args.pa, mjd=args.mjd + 0.1 * i,
                        exposure_offsets=offsets, detector_offsets=det_offsets, missing=missing,
                        partial=partial, variable_fraction=args.variable_fraction,
                        spurious_fraction=args.spurious_fraction)
                    paths.extend(write_observation(sim, args.out, args.fmt))
                    bar.update(1)
    finally:
        bar.close()
    if not args.quiet:
        print(f"wrote {len(paths)} catalogues ({args.fmt}) and their truth files to {args.out}")
    return 0


__all__ = ["register", "run", "parse_offset", "parse_detector_offset", "parse_partial"]
