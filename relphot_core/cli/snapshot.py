"""``relphot snapshot``: build the dashboard's shared tables before it starts.

The dashboard's workers answer from per-filter tables they share as
snapshots (`relphot_core.shared_tables`); a worker that finds none for the
store's data version builds it, which at survey size keeps the first
workers busy for tens of seconds. ``relphot compute --db`` builds them at
the end of each batch; this command builds or refreshes them on demand
(cron, systemd ``ExecStartPre``, after a pin or a revocation made on the
command line) and prints what it wrote and how long it took.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .common import SERVE_SECTIONS, add_config_options, config_from_args

from .db import add_db_option


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``relphot snapshot``."""
    parser = subparsers.add_parser(
        "snapshot", help="build the dashboard's shared tables (snapshots) for the store's data now",
        description="Build the snapshots of the tables the dashboard's workers share (per filter: the trend "
                    "with its control chart, the detector rows, the context of the factors) for the store's "
                    "data version now, so that workers starting later map them at once. Snapshots already "
                    "there are kept; after reviews only they are derived from the last ones (seconds). "
                    "Prints what it wrote and how long it took.")
    add_db_option(parser)
    parser.add_argument("--snapshot-dir", metavar="DIR",
                        help="where the snapshots live (default: $RELPHOT_SNAPSHOT_DIR, else beside a SQLite "
                             "store, DB.snapshots/, else ~/.cache/relphot/snapshots/<digest of the URL>/)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    add_config_options(parser, SERVE_SECTIONS,
                       config_help="configuration file: the control-chart rules ([control]) and the running "
                                   "median's band ([thresholds]) the dashboard is served with (the snapshots "
                                   "of other rules are other files, never mapped by that dashboard)")
    parser.set_defaults(func=run)


def build(store: Any, config: Any, directory: str | None = None) -> tuple[str | None, list[Any], float]:
    """Build the snapshots of ``store`` for the rules of ``config`` in
    ``directory`` (None: `relphot_core.snapshot.snapshot_dir`): the
    directory (None when snapshots are off there), what was made sure of
    (`relphot_core.shared_tables.Written`) and the seconds it took."""
    from ..shared_tables import build_snapshots
    from ..snapshot import SnapshotStore, snapshot_dir

    start = time.monotonic()
    root = snapshot_dir(store.url, directory)
    if root is None:
        return None, [], 0.0
    done = build_snapshots(store, SnapshotStore(root), control=config.control, thresholds=config.thresholds)
    return str(root), done, time.monotonic() - start


def summary(root: str, done: list[Any], seconds: float) -> str:
    """One line: how many snapshots, of which version, written or found, where, how long."""
    from ..wording import plural

    written = sum(1 for w in done if w.new)
    versions = sorted({w.version for w in done})
    return (f"{plural(len(done), 'snapshot')} of data version {', '.join(versions)} in {root}: {written} written, "
            f"{len(done) - written} already there [{seconds:.1f} s]")


def run(args: argparse.Namespace) -> int:
    """Execute ``relphot snapshot``."""
    from ..errors import ConfigError
    from ..store import Store

    config = config_from_args(args)
    with Store.open(args.db, create=False) as store:
        if store.is_empty():
            if not args.quiet:
                print(f"relphot snapshot: {store.url} is empty: nothing to build", file=sys.stderr)
            return 0
        root, done, seconds = build(store, config, args.snapshot_dir)
        if root is None:
            raise ConfigError(args.snapshot_dir or "RELPHOT_SNAPSHOT_DIR",
                              "snapshots are off here (or the store is in memory): nothing to build")
    if not args.quiet:
        for w in done:
            print(f"{w.kind:28s} {w.rows:>10,} rows  {'written' if w.new else 'already there':14s} "
                  f"{w.seconds:6.1f} s  {w.path}")
        print(summary(root, done, seconds))
    return 0
