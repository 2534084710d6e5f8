"""``relphot compute``: catalogues -> QPRELEX factors, into JSON and/or the store."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..catalogs import ExposureCatalog, group_exposures, read_catalog
from ..config import FILTERS, Config
from ..errors import CatalogError, GroupingError, RelphotError
from ..results import ObservationResult
from .common import add_config_options, atomic_write_text, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compute`` sub-command."""
    parser = subparsers.add_parser(
        "compute",
        help="compute QPRELEX/QPRELEXE of the exposures of source catalogues",
        description="Read source catalogues (FITS_LDAC or plain FITS tables), group them into "
                    "(observation, filter) sets of dithered exposures, and compute each exposure's "
                    "relative flux factor QPRELEX with its error QPRELEXE and a QC status.",
    )
    parser.add_argument("catalogs", nargs="+", metavar="CATALOGUE", type=Path, help="source catalogue FITS files")
    parser.add_argument("--json", metavar="PATH", help="write the factors as JSON to PATH ('-' for stdout)")
    parser.add_argument("--db", metavar="URL", help="store the runs in this database (SQLAlchemy URL or SQLite path)")
    parser.add_argument("--obs-id", type=int, help="override the observation id of every catalogue")
    parser.add_argument("--band", choices=FILTERS, help="override the filter of every catalogue")
    parser.add_argument("--dither", type=int, help="override the dither number (one catalogue only)")
    parser.add_argument("--jobs", "-j", type=int, default=None,
                        help="worker processes (default: number of cores when there are several observations)")
    parser.add_argument("--no-samples", action="store_true",
                        help="do not keep matched-source subsamples for the dashboard plots")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary table")
    add_config_options(parser)
    parser.set_defaults(func=run)


def _read(path: Path, config: Config, overrides: dict[str, Any]) -> ExposureCatalog | CatalogError:
    try:
        return read_catalog(path, columns=config.columns, keywords=config.keywords, overrides=overrides)
    except CatalogError as exc:
        return exc


def _compute(catalogs: list[ExposureCatalog], config: Config, keep_samples: bool) -> ObservationResult:
    from ..factors import compute_observation  # scipy: imported by `compute` only, not by every command

    return compute_observation(catalogs, config, keep_samples=keep_samples)


def _map(function: Any, items: Sequence[Any], jobs: int, label: str, quiet: bool) -> list[Any]:
    bar = dict(total=len(items), desc=label, unit="", disable=quiet or len(items) < 2, file=sys.stderr)
    if jobs <= 1 or len(items) < 2:
        return [function(item) for item in tqdm(items, **bar)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(function, items, chunksize=max(1, len(items) // (8 * jobs))), **bar))


def compute_catalogs(
    paths: Sequence[Path],
    config: Config,
    *,
    overrides: dict[str, Any] | None = None,
    jobs: int = 1,
    keep_samples: bool = True,
    quiet: bool = True,
) -> list[ObservationResult]:
    """Read, group and compute; all catalogues are checked before any result.

    Raises
    ------
    RelphotError
        `CatalogError` listing every unreadable catalogue (one per line), or
        `GroupingError` for duplicated dithers and lone exposures.
    """
    overrides = overrides or {}
    read = _map(partial(_read, config=config, overrides=overrides), list(paths), jobs, "reading", quiet)
    errors = [item for item in read if isinstance(item, CatalogError)]
    if errors:
        raise _MultipleErrors(errors)
    groups = group_exposures(read)  # type: ignore[arg-type]
    for (obs_id, band), members in groups.items():
        if len(members) < 2:
            raise GroupingError(members[0].file, f"is the only exposure of observation {obs_id} {band} given; "
                                                 "were catalogues of different observations or filters mixed? "
                                                 "at least 2 exposures are needed")
    work = partial(_compute, config=config, keep_samples=keep_samples)
    return _map(work, list(groups.values()), jobs, "computing", quiet)


class _MultipleErrors(RelphotError):
    def __init__(self, errors: list[RelphotError]) -> None:
        self.errors = errors
        super().__init__(None, "\n".join(str(e) for e in errors))


def _summary(results: Iterable[ObservationResult]) -> str:
    lines = [f"{'OBS_ID':>8} {'FILTER':6} {'DITH':>4} {'QPRELEX':>9} {'QPRELEXE':>9} {'STATUS':6} "
             f"{'PAIRS':>5} {'MATCHED':>8}  NOTE"]
    for result in results:
        for e in result.exposures:
            value = f"{e.value:9.5f}" if e.value is not None else f"{'-':>9}"
            error = f"{e.error:9.5f}" if e.error is not None else f"{'-':>9}"
            lines.append(f"{result.obs_id:>8} {result.filter:6} {e.exposure:>4} {value} {error} {e.status:6} "
                         f"{e.n_pairs:>5} {e.n_matched:>8}  {e.reason}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Execute ``relphot compute``."""
    config = config_from_args(args)
    if args.dither is not None and len(args.catalogs) != 1:
        raise RelphotError(None, "--dither overrides one catalogue's dither number; give exactly one catalogue")
    overrides = {"obs_id": args.obs_id, "filter": args.band, "dither": args.dither}
    n_cores = os.cpu_count() or 1
    jobs = args.jobs if args.jobs is not None else (n_cores if len(args.catalogs) > 8 else 1)
    try:
        results = compute_catalogs(args.catalogs, config, overrides=overrides, jobs=max(jobs, 1),
                                   keep_samples=not args.no_samples, quiet=args.quiet or not sys.stderr.isatty())
    except _MultipleErrors as exc:
        for error in exc.errors:
            print(f"relphot compute: error: {error}", file=sys.stderr)
        return 2

    rows = [row for result in results for row in result.to_rows()]
    if args.db:
        from ..store import Store  # imported here: the store is optional for compute

        store = Store.open(args.db)
        stored = store.save_results(results)  # each result all-or-nothing
        new = sum(run_id is not None for run_id in stored)
        print(f"relphot compute: stored {new} new run(s), {len(stored) - new} identical run(s) already "
              f"in the store", file=sys.stderr)
    if args.json == "-":
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    elif args.json:
        atomic_write_text(Path(args.json), json.dumps(rows, indent=1) + "\n")
    if not args.quiet:
        print(_summary(results), file=sys.stderr if args.json == "-" else sys.stdout)
    for result in results:
        for e in result.exposures:
            if e.status == "NODATA":
                print(f"relphot compute: warning: {e.file}: NODATA: {e.reason}", file=sys.stderr)
    return 0
