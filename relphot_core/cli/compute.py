"""``relphot compute``: catalogues -> QPRELEX factors, into the store and/or JSON.

Survey-scale: inputs are files, directories and list files; the sets are
formed from the headers, computed one at a time per worker (local
processes or a Dask cluster) and stored as they complete; unchanged sets
are skipped; a set that cannot be computed is reported and recorded, and
the others go on (`relphot_core.pipeline`).

Only the parser is built at import: the store, scipy and Dask are imported
when a computation runs.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import IO, Any

from ..atomic import AtomicFile
from ..config import FILTERS
from ..errors import RelphotError
from ..status import STATUS_ORDER, Status
from .common import add_config_options, config_from_args

SUMMARY_ROWS = 200
"""Beyond this many exposures the summary gives counts, not every row."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compute`` sub-command."""
    parser = subparsers.add_parser(
        "compute",
        help="compute QPRELEX/QPRELEXE of the exposures of source catalogues",
        description="Read source catalogues (FITS_LDAC or plain FITS tables), group them into "
                    "(observation, filter) sets of dithered exposures from their headers, and compute "
                    "each exposure's relative flux factor QPRELEX with its error QPRELEXE and a QC status. "
                    "Each set is computed and stored as it completes; with --db, sets whose files and "
                    "parameters are unchanged are skipped. A set that cannot be computed is reported "
                    "(and recorded in the store) and the others go on: exit status 1 if some failed, "
                    "2 for usage errors.",
    )
    parser.add_argument("catalogs", nargs="*", metavar="PATH", type=Path,
                        help="source catalogue FITS files, or directories searched recursively for them")
    parser.add_argument("--from-file", metavar="LIST", action="append", default=[],
                        help="read more paths from LIST, one a line ('-' for standard input); repeatable")
    parser.add_argument("--pattern", metavar="GLOB", action="append", default=None,
                        help="file names taken as catalogues in directories (repeatable; default "
                             "*.cat.fits *.ldac.fits *_cat.fits *.cat *.ldac)")
    parser.add_argument("--json", metavar="PATH", help="write the factors of the computed sets as JSON to PATH "
                                                       "('-' for stdout)")
    parser.add_argument("--db", metavar="URL", help="store the runs in this database (SQLAlchemy URL or SQLite path)")
    parser.add_argument("--force", action="store_true",
                        help="recompute sets whose files and parameters are unchanged (default: skip them)")
    parser.add_argument("--strict", action="store_true",
                        help="all or nothing: any bad catalogue or set stops the batch and nothing is stored "
                             "(exit 2)")
    parser.add_argument("--obs-id", type=int, help="override the observation id of every catalogue")
    parser.add_argument("--band", choices=FILTERS, help="override the filter of every catalogue")
    parser.add_argument("--dither", type=int, help="override the dither number (one catalogue only)")
    engine = parser.add_argument_group("engine (default: local worker processes)")
    engine.add_argument("--jobs", "-j", type=int, default=None,
                        help="local worker processes (default: the cores when there are several sets)")
    engine.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the sets on Dask: 'local' for a LocalCluster started here, or a scheduler "
                             "address such as tcp://host:8786 (needs pip install 'relphot[dask]')")
    engine.add_argument("--workers", type=int, default=None,
                        help="worker processes of --scheduler local (default: the cores)")
    engine.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                        help="give up when the Dask scheduler does not answer within this time (default 10)")
    parser.add_argument("--no-samples", action="store_true",
                        help="do not keep matched-source subsamples for the dashboard plots")
    parser.add_argument("--no-snapshots", action="store_true",
                        help="with --db, do not build the dashboard's shared tables for the new data at the end "
                             "(default: build them, see relphot snapshot)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary table")
    add_config_options(parser)
    parser.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"relphot compute: {message}", file=sys.stderr)


class _JsonRows:
    """A JSON array written row by row to a temporary file, renamed at the
    end: memory stays flat and a killed batch leaves no partial file."""

    def __init__(self, target: str | None) -> None:
        self.target = target
        self.count = 0
        self._file: AtomicFile | None = None
        self._stream: IO[str] | None = None
        self._rows: list[dict[str, Any]] = []
        if target and target != "-":
            self._file = AtomicFile(target, text=True)
            self._stream = self._file.stream
            self._stream.write("[")

    def add(self, rows: list[dict[str, Any]]) -> None:
        if not self.target:
            return
        if self._stream is None:
            self._rows.extend(rows)
            return
        for row in rows:
            self._stream.write(("\n" if self.count == 0 else ",\n") + json.dumps(row))
            self.count += 1

    def finish(self) -> None:
        if not self.target:
            return
        if self._stream is None:
            self._rows.sort(key=lambda r: (r["obs_id"], r["filter"], r["exposure"]))
            json.dump(self._rows, sys.stdout, indent=1)
            sys.stdout.write("\n")
            return
        self._stream.write("\n]\n")
        assert self._file is not None  # the stream is the file's
        self._file.commit()

    def abandon(self) -> None:
        if self._file is not None:
            self._file.abandon()


def _summary(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'OBS_ID':>8} {'FILTER':6} {'DITH':>4} {'QPRELEX':>9} {'QPRELEXE':>9} {'STATUS':6} "
             f"{'PAIRS':>5} {'MATCHED':>8}  NOTE"]
    for e in sorted(rows, key=lambda r: (r["obs_id"], r["filter"], r["exposure"])):
        value = f"{e['value']:9.5f}" if e["value"] is not None else f"{'-':>9}"
        error = f"{e['error']:9.5f}" if e["error"] is not None else f"{'-':>9}"
        lines.append(f"{e['obs_id']:>8} {e['filter']:6} {e['exposure']:>4} {value} {error} {e['status']:6} "
                     f"{e['n_pairs']:>5} {e['n_matched']:>8}  {e['reason']}")
    return "\n".join(lines)


class _NoBar:
    """What `_progress` gives when no bar is shown (tqdm not even imported)."""

    def update(self, n: int = 1) -> None:
        pass

    def write(self, text: str) -> None:
        print(text, file=sys.stderr)

    def close(self) -> None:
        pass


def _progress(total: int, *, show: bool) -> Any:
    """A tqdm progress bar of the sets on stderr, or `_NoBar`."""
    if not show:
        return _NoBar()
    from tqdm import tqdm

    bar = tqdm(total=total, desc="sets", unit="set", file=sys.stderr)
    def write(s: str, file: Any = None, end: str = "\n", nolock: bool = False) -> None:
        tqdm.write(s, file=sys.stderr, end=end, nolock=nolock)

    bar.write = write  # type: ignore[method-assign]
    return bar


def _engine(args: argparse.Namespace, n_sets: int) -> Any:
    from ..pipeline import DaskEngine, LocalEngine

    if args.scheduler:
        engine = DaskEngine(args.scheduler, workers=args.workers, connect_timeout=args.connect_timeout)
        for warning in engine.warnings:
            _err(f"warning: {warning}")
        if not args.quiet:
            _err(f"Dask dashboard: {engine.dashboard_link}")
        return engine
    cores = os.cpu_count() or 1
    jobs = args.jobs if args.jobs is not None else (cores if n_sets > 2 else 1)
    return LocalEngine(workers=max(1, min(jobs, max(n_sets, 1))))


def run(args: argparse.Namespace) -> int:
    """Execute ``relphot compute``."""
    from functools import partial

    from ..inputs import CATALOG_PATTERNS
    from ..pipeline import plan_batch, process_set, record_plan

    config = config_from_args(args)
    if not args.catalogs and not args.from_file:
        raise RelphotError(None, "no catalogue given: name files, directories or --from-file LIST")
    if args.workers is not None and args.scheduler != "local":
        raise RelphotError(None, "--workers sets the size of --scheduler local; use --jobs for local processes")
    overrides = {"obs_id": args.obs_id, "filter": args.band, "dither": args.dither}
    patterns = tuple(args.pattern) if args.pattern else CATALOG_PATTERNS

    store = None
    params = ""
    if args.db:
        from ..store import Store
        from ..store.writes import params_digest

        store = Store.open(args.db)
        params = params_digest(config.parameters())
    alert_targets = store is not None and bool(config.alerts.targets)
    if store is not None and alert_targets:  # a bad target is refused before anything runs
        from ..alerts import targets

        try:
            targets(config.alerts.targets, getattr(args, "config", None) or "command line")
        except BaseException:
            store.close()
            raise
    try:
        recorded = store.recorded_inputs(params) if store is not None and not args.force else {}
        plan = plan_batch(args.catalogs, config, list_files=args.from_file, patterns=patterns,
                          overrides=overrides, recorded=recorded)
        if not args.quiet:
            _err(f"{plan.n_files} catalogue(s) scanned in {plan.scan_seconds:.2f} s ({plan.scan_rate:,.0f} files/s): "
                 f"{len(plan.to_compute) + len(plan.unchanged)} set(s), {len(plan.to_compute)} to compute, "
                 f"{len(plan.unchanged)} unchanged (skipped)")
        log = _BatchLog(store, plan, params)
        if args.strict and plan.failures:
            for failure in plan.failures:
                _err(f"error: {failure.message()}")
            _err("--strict: nothing computed, nothing stored")
            return log.finish(2, failures=len(plan.failures))
        if store is not None:
            record_plan(store, plan, params)
        for failure in plan.failures:
            _err(f"error: {failure.message()}")
        status = _execute(args, plan, store, params, partial(process_set, config=config,
                          overrides={k: v for k, v in overrides.items() if v is not None},
                          keep_samples=not args.no_samples, fingerprint_files=store is not None), log)
        if alert_targets:
            _send_alerts(store, config.alerts, quiet=args.quiet)
        if store is not None and not args.no_snapshots:
            _build_snapshots(store, config, quiet=args.quiet)
        return status
    finally:
        if store is not None:
            store.close()


class _BatchLog:
    """The batch's row in the store's log (`relphot_core.store.Store.start_batch`),
    started when the plan is known and finished with the exit status; nothing without a store."""

    def __init__(self, store: Any, plan: Any, params: str) -> None:
        import socket

        from .. import __version__

        self.store = store
        self.id = None if store is None else store.start_batch(
            command="compute", host=socket.gethostname(), software_version=__version__, params_digest=params,
            sets_planned=len(plan.to_compute) + len(plan.unchanged), sets_computed=len(plan.to_compute))

    def finish(self, exit_status: int, **counts: Any) -> int:
        """Record the end of the batch; returns ``exit_status``."""
        if self.id is not None:
            self.store.finish_batch(self.id, exit_status=exit_status, **counts)
        return exit_status


def _send_alerts(store: Any, settings: Any, *, quiet: bool) -> None:
    """Send the alerts of this batch (`relphot_core.alerts.alert_batches`)
    after it is recorded: a failure is a warning line, never the batch's
    exit status (the next run, or ``relphot alerts check``, retries)."""
    from ..alerts import alert_batches

    try:
        report = alert_batches(store, settings)
    except Exception as exc:  # noqa: BLE001 - the batch is done and recorded whatever happens here
        _err(f"warning: alerts not sent ({exc}); relphot alerts check retries")
        return
    for label, outcome, error in report.failed:
        _err(f"warning: alert to {label} not delivered ({error})"
             + ("; given up" if outcome == "given_up" else "; relphot alerts check retries"))
    if not quiet and (report.events or report.sent):
        _err(f"alerts: {report.summary()}")


def _build_snapshots(store: Any, config: Any, *, quiet: bool) -> None:
    """Build the dashboard's shared tables for the store's data now
    (`relphot_core.cli.snapshot.build`), after the batch is recorded: a
    failure is a warning line, never the batch's exit status (a dashboard
    worker builds what is missing; ``relphot snapshot`` retries)."""
    from .snapshot import build, summary

    try:
        root, done, seconds = build(store, config)
    except Exception as exc:  # noqa: BLE001 - the batch is done and recorded whatever happens here
        _err(f"warning: dashboard snapshots not built ({type(exc).__name__}: {exc}); relphot snapshot retries")
        return
    if root is not None and done and not quiet:
        _err(f"dashboard {summary(root, done, seconds)}")


def _execute(args: argparse.Namespace, plan: Any, store: Any, params: str, work: Any,
             log: _BatchLog) -> int:
    from ..pipeline import run_batch

    counts: Counter[str] = Counter()
    problems: Counter[str] = Counter()
    rows_shown: list[dict[str, Any]] = []
    output = _JsonRows(args.json)
    engine = _engine(args, len(plan.to_compute)) if plan.to_compute else None
    bar = _progress(len(plan.to_compute), show=not args.quiet and sys.stderr.isatty() and len(plan.to_compute) >= 2)

    def show(result: Any) -> None:
        rows = result.to_rows()
        counts.update(row["status"] for row in rows)
        output.add(rows)
        if len(rows_shown) < SUMMARY_ROWS:
            rows_shown.extend(rows)

    try:
        done = run_batch(plan, work, engine, store=store, params=params, strict=args.strict, on_result=show,
                         on_failure=lambda failure: bar.write(f"relphot compute: error: {failure.message()}"),
                         on_set=lambda: bar.update(1))
        bar.close()
        if done.refused:
            for failure in done.failures:
                _err(f"error: {failure.message()}")
            _err("--strict: nothing stored")
            output.abandon()
            return log.finish(2, failures=len(done.failures))
        output.finish()
    except BaseException:
        output.abandon()
        raise
    finally:
        bar.close()
        if engine is not None and hasattr(engine, "close"):
            engine.close()

    if engine is not None and not args.quiet:
        _err(f"computed {len(plan.to_compute)} set(s) in {done.seconds:.1f} s "
             f"({len(plan.to_compute) / max(done.seconds, 1e-9):.2f} sets/s) on {done.engine}")
    if store is not None:
        _err(f"stored {done.new_runs} new run(s), {done.same_runs} identical run(s) already in the store, "
             f"{len(plan.unchanged)} unchanged set(s) skipped")
        if done.new_runs or done.failures or plan.failures:
            problems = _update_problems(store, plan, args)
    if not args.quiet:
        target = sys.stderr if args.json == "-" else sys.stdout
        if sum(counts.values()) <= SUMMARY_ROWS:
            if rows_shown:
                print(_summary(rows_shown), file=target)
        else:
            print("exposures: " + ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER),
                  file=target)
    for row in rows_shown:
        if row["status"] == Status.NODATA:
            _err(f"warning: {row['file']}: NODATA: {row['reason']}")
    if done.failures:
        kinds = Counter(f.kind for f in done.failures)
        _err(f"{len(done.failures)} failure(s): " + ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
             + (" (recorded in the store)" if store is not None else ""))
    return log.finish(1 if done.failures else 0, new_runs=done.new_runs, same_runs=done.same_runs,
                      failures=len(done.failures), statuses=dict(counts), problems=dict(problems))


def _update_problems(store: Any, plan: Any, args: argparse.Namespace) -> Counter[str]:
    """Compute and keep the problems of the filters this batch touched
    (`relphot_core.store.Store.update_problems`), say what changed and
    return the counts (opened, grew, regressed, gone, ...)."""
    import time

    start = time.perf_counter()
    filters = sorted({s.filter for s in plan.to_compute}) or None
    counts = store.update_problems(filters, control=config_from_args(args).control)
    total: Counter[str] = Counter()
    for per_filter in counts.values():
        total.update(per_filter)
    if not args.quiet:
        open_now = len(store.problems(awaiting=True))
        _err(f"problems: {total['opened']} new, {total['grew']} grown, {total['regressed']} regressed, "
             f"{total['gone']} gone; {open_now} await review (relphot problems) "
             f"[{time.perf_counter() - start:.1f} s]")
    return total
