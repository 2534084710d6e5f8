"""Survey-scale batches: plan, run on an engine, store as results arrive.

A batch goes through three steps:

1. **Plan** (`plan_batch`): find the catalogues, read their identities from
   the headers alone (`relphot_core.inputs`), form the (observation,
   filter) sets, and leave out the sets whose files and parameters are
   unchanged since the store last computed them (size and modification
   time equal, or the SHA-256 equal when only the time moved).
2. **Run** (`LocalEngine`, `DaskEngine`): each set is read, computed and
   returned by one worker (`process_set`), a bounded number in flight, so
   that memory does not grow with the number of sets. A set that cannot be
   computed comes back as a `SetFailure` with its file and reason; it never
   stops the others.
3. **Store** (`run_batch`): the one writer (the process that runs the
   batch) stores each set, with the fingerprints of its files, in one
   transaction as it completes. A batch killed at any moment leaves only complete sets; the
   same command run again skips them and finishes the rest.

`compute_catalogs` is the in-memory path for a few catalogues (every file
read and checked before anything is computed).
"""
from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from .catalogs import ExposureCatalog, read_catalog
from .config import Config
from .errors import CatalogError, GroupingError, MixedKeywordsError, RelphotError
from .inputs import (
    CATALOG_PATTERNS,
    CatalogFile,
    ExposureSet,
    SetFailure,
    discover,
    file_sha256,
    fingerprint,
    form_sets,
    scan_catalog,
)
from .results import ObservationResult

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------- worker
@dataclass
class SetOutcome:
    """What a worker returns for one set."""

    obs_id: int
    filter: str
    result: ObservationResult | None
    """None when the set could not be computed."""
    files: tuple[CatalogFile, ...]
    """The set's files, fingerprinted (SHA-256) when they were read."""
    failures: list[SetFailure] = field(default_factory=list)
    seconds: float = 0.0


def _failure(kind: str, path: str, reason: str, exposure_set: ExposureSet) -> SetFailure:
    return SetFailure(kind=kind, path=str(path), reason=reason, obs_id=exposure_set.obs_id,
                      filter=exposure_set.filter, files=tuple(exposure_set.paths))


def process_set(
    exposure_set: ExposureSet,
    config: Config = Config(),
    overrides: Mapping[str, Any] | None = None,
    keep_samples: bool = True,
    fingerprint_files: bool = True,
) -> SetOutcome:
    """Read and compute one (observation, filter) set; never raises for bad
    input.

    Each file is fingerprinted (size, modification time, SHA-256) just
    before it is read, so that what the store records is what was computed
    (``fingerprint_files=False``: not, when nothing is recorded).

    Returns
    -------
    SetOutcome
        With the result, or with a failure naming the file and the reason:
        ``unreadable catalogue``, ``mixed keywords`` (the tables' headers
        disagree with the identity the set was formed with), ``computation
        error``. A lone exposure is computed (it gets NODATA with its
        reason) and reported as a ``lone exposure`` failure too.
    """
    from .factors import compute_observation  # scipy: in the worker, not at import

    start = time.perf_counter()
    overrides = dict(overrides or {})
    files: list[CatalogFile] = []
    catalogs: list[ExposureCatalog] = []
    for file in exposure_set.files:
        try:
            if fingerprint_files:
                file = fingerprint(file)
            catalog = read_catalog(file.path, columns=config.columns, keywords=config.keywords,
                                   overrides=overrides)
        except MixedKeywordsError as exc:
            return SetOutcome(*exposure_set.key, None, exposure_set.files,
                              [_failure("mixed keywords", file.path, exc.reason, exposure_set)])
        except CatalogError as exc:
            return SetOutcome(*exposure_set.key, None, exposure_set.files,
                              [_failure("unreadable catalogue", file.path, exc.reason, exposure_set)])
        identity = (catalog.obs_id, catalog.filter, catalog.dither)
        if identity != (file.obs_id, file.filter, file.dither):
            reason = (f"mixed keywords: its tables' headers say observation {catalog.obs_id} {catalog.filter} "
                      f"dither {catalog.dither}, its primary header observation {file.obs_id} {file.filter} "
                      f"dither {file.dither}")
            return SetOutcome(*exposure_set.key, None, exposure_set.files,
                              [_failure("mixed keywords", file.path, reason, exposure_set)])
        files.append(file)
        catalogs.append(catalog)
    try:
        result = compute_observation(catalogs, config, keep_samples=keep_samples)
    except GroupingError as exc:
        return SetOutcome(*exposure_set.key, None, tuple(files),
                          [_failure("duplicated dither", exc.source or files[0].path, exc.reason, exposure_set)])
    except Exception as exc:  # a bug or an input we did not foresee: the set fails, the batch goes on
        logger.error("%s: computation error, the set is not computed (%s: %s)", exposure_set.label(),
                     type(exc).__name__, exc, exc_info=True)
        return SetOutcome(*exposure_set.key, None, tuple(files),
                          [_failure("computation error", files[0].path, f"{type(exc).__name__}: {exc}",
                                    exposure_set)])
    failures = []
    if len(catalogs) == 1:
        failures.append(_failure(
            "lone exposure", files[0].path,
            f"is the only exposure of observation {exposure_set.obs_id} {exposure_set.filter} given: "
            "stored as NODATA (were the other dithers' catalogues left out?)", exposure_set))
    return SetOutcome(*exposure_set.key, result, tuple(files), failures, time.perf_counter() - start)


def lost_outcome(exposure_set: ExposureSet, reason: str) -> SetOutcome:
    """The outcome of a set whose worker died (and whose retries did)."""
    return SetOutcome(*exposure_set.key, None, exposure_set.files,
                      [_failure("worker lost", exposure_set.files[0].path, reason, exposure_set)])


# ------------------------------------------------------------------ engines
Work = Callable[[ExposureSet], SetOutcome]


class LocalEngine:
    """Worker processes on this machine (``workers=1``: in this process).

    At most ``in_flight`` sets are submitted at a time (default 2 per
    worker): memory stays that of a few sets whatever the batch size. A
    worker process that dies (out of memory, killed) breaks the pool: the
    pool is restarted and the sets it held are tried once more; a set lost
    twice comes back as a ``worker lost`` failure.
    """

    name = "local"

    def __init__(self, workers: int = 1, in_flight: int | None = None) -> None:
        self.workers = max(1, int(workers))
        self.in_flight = max(self.workers, int(in_flight or 2 * self.workers))

    def describe(self) -> str:
        return f"{self.workers} local worker process{'es' if self.workers > 1 else ''}" \
            if self.workers > 1 else "this process"

    def run(self, work: Work, sets: Iterable[ExposureSet]) -> Iterator[SetOutcome]:
        """Outcomes in completion order."""
        if self.workers == 1:
            for exposure_set in sets:
                yield work(exposure_set)
            return
        from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        pending = iter(sets)
        retries: list[ExposureSet] = []
        lost_once: set[tuple[int, str]] = set()
        while True:
            pool = ProcessPoolExecutor(max_workers=self.workers)
            running: dict[Future, ExposureSet] = {}
            broken = False
            try:
                while True:
                    while len(running) < self.in_flight:
                        item = retries.pop() if retries else next(pending, None)
                        if item is None:
                            break
                        running[pool.submit(work, item)] = item
                    if not running:
                        return
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = running.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool:
                            broken = True
                            if item.key in lost_once:
                                yield lost_outcome(item, "its worker process died twice (out of memory?)")
                            else:
                                lost_once.add(item.key)
                                retries.append(item)
                    if broken:
                        for item in running.values():
                            if item.key in lost_once:
                                yield lost_outcome(item, "its worker process died twice (out of memory?)")
                            else:
                                lost_once.add(item.key)
                                retries.append(item)
                        running.clear()
                        break
            finally:
                pool.shutdown(wait=not broken, cancel_futures=True)


def _malloc_trim_threshold() -> str | None:
    """On a Dask worker: its MALLOC_TRIM_THRESHOLD_ (None: unset)."""
    return os.environ.get("MALLOC_TRIM_THRESHOLD_")


def _missing_paths(paths: Sequence[str]) -> list[str]:
    """On a Dask worker: which of these paths it cannot read."""
    return [p for p in paths if not os.access(p, os.R_OK)]


class DaskEngine:
    """Sets as tasks of a Dask distributed cluster.

    Parameters
    ----------
    scheduler : str
        ``local`` for a `distributed.LocalCluster` of ``workers`` processes
        started here, or a scheduler address such as ``tcp://host:8786``.
    workers : int, optional
        Worker processes of a local cluster (default: the cores).
    in_flight : int, optional
        Tasks submitted at a time (default 4 per worker thread).
    connect_timeout : float
        Seconds to wait for a scheduler to answer.

    Raises
    ------
    RelphotError
        When ``distributed`` is not installed or the scheduler does not
        answer within the timeout.

    Notes
    -----
    A worker that dies mid-task has its task rerun elsewhere by the
    scheduler (up to ``distributed.scheduler.allowed-failures`` times);
    results are stored only by this process, as futures complete, so a set
    is never lost nor stored twice.
    """

    name = "dask"

    def __init__(self, scheduler: str, workers: int | None = None, in_flight: int | None = None,
                 connect_timeout: float = 10.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise RelphotError(None, "--scheduler needs Dask distributed: pip install 'relphot[dask]'") from None
        self.cluster = None
        if scheduler == "local":
            import dask

            # Dask sets MALLOC_TRIM_THRESHOLD_ in its workers; setting it at all turns off glibc's dynamic
            # mmap threshold, so every array of more than 128 kB is a fresh mmap: the sets computed 2.1x
            # slower (measured). Left unset here (and for good: a restarted worker is spawned later).
            dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
            n = max(1, int(workers or os.cpu_count() or 1))
            self.cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                        dashboard_address=":0", silence_logs=40)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout=f"{connect_timeout}s")
            except (OSError, TimeoutError) as exc:
                raise RelphotError(scheduler, f"no Dask scheduler answers within {connect_timeout:g} s "
                                              f"({type(exc).__name__}); is `dask scheduler` running there?") from None
        threads = sum(self.client.nthreads().values()) or 1
        self.in_flight = max(1, int(in_flight or 4 * threads))
        trimmed = sorted(w for w, value in self.client.run(_malloc_trim_threshold).items() if value is not None)
        self.warnings = [f"Dask worker(s) {', '.join(trimmed[:3])}{' ...' if len(trimmed) > 3 else ''} run with "
                         "MALLOC_TRIM_THRESHOLD_ set, which makes relphot about 2x slower: start them with "
                         "DASK_DISTRIBUTED__NANNY__PRE_SPAWN_ENVIRON__MALLOC_TRIM_THRESHOLD_=None"] if trimmed else []

    @property
    def dashboard_link(self) -> str:
        return str(self.client.dashboard_link)

    def describe(self) -> str:
        workers = self.client.nthreads()
        return (f"Dask, {len(workers)} worker{'s' if len(workers) != 1 else ''} "
                f"({sum(workers.values())} threads) at {self.client.scheduler.address}")

    def check_paths(self, paths: Sequence[str]) -> None:
        """Ask every worker whether it can read these paths.

        Raises
        ------
        RelphotError
            Naming the first path a worker cannot read and the worker.
        """
        if not paths:
            return
        answers = self.client.run(_missing_paths, list(paths))
        for worker, missing in sorted(answers.items()):
            if missing:
                raise RelphotError(missing[0], f"Dask worker {worker} cannot read this catalogue: the workers "
                                               "must see the inputs at the same paths (a shared filesystem)")

    def run(self, work: Work, sets: Iterable[ExposureSet]) -> Iterator[SetOutcome]:
        """Outcomes in completion order."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        pending = iter(sets)
        owner: dict[Hashable, ExposureSet] = {}  # by the Dask future's key

        def submit() -> Any:
            item = next(pending, None)
            if item is None:
                return None
            future = self.client.submit(work, item, pure=False)
            owner[future.key] = item
            return future

        first = [f for f in (submit() for _ in range(self.in_flight)) if f is not None]
        if not first:
            return
        queue = as_completed(first)
        for future in queue:
            item = owner.pop(future.key)
            try:
                outcome = future.result()
            except KilledWorker:
                outcome = lost_outcome(item, "its Dask workers died while computing it "
                                             "(allowed-failures reached)")
            except Exception as exc:  # a task error is the set's failure
                logger.error("%s: Dask task failed (%s: %s)", item.label(), type(exc).__name__, exc, exc_info=True)
                outcome = lost_outcome(item, f"Dask task failed ({type(exc).__name__}: {exc})")
            future.release()
            nxt = submit()
            if nxt is not None:
                queue.add(nxt)
            yield outcome

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


# --------------------------------------------------------------------- plan
@dataclass
class BatchPlan:
    """What a batch will do, found from headers and fingerprints alone."""

    to_compute: list[ExposureSet]
    unchanged: list[ExposureSet]
    failures: list[SetFailure]
    """Catalogues that could not be scanned and sets that cannot be formed."""
    n_files: int
    scan_seconds: float
    touched: list[tuple[str, int, int]] = field(default_factory=list)
    """Files whose time changed but whose content hash did not: (path, size, mtime_ns)."""

    @property
    def scan_rate(self) -> float:
        """Files scanned per second."""
        return self.n_files / self.scan_seconds if self.scan_seconds > 0 else float("inf")


def plan_batch(
    paths: Iterable[str | Path],
    config: Config = Config(),
    *,
    list_files: Iterable[str] = (),
    patterns: tuple[str, ...] = CATALOG_PATTERNS,
    overrides: Mapping[str, Any] | None = None,
    recorded: Mapping[str, Any] | None = None,
) -> BatchPlan:
    """Find the catalogues, form the sets and leave out the unchanged ones.

    Parameters
    ----------
    paths : iterable of str or Path
        Catalogues and directories (searched recursively for ``patterns``).
    list_files : iterable of str
        Files listing one path a line (``-``: standard input).
    overrides : mapping, optional
        ``obs_id``, ``filter``, ``dither`` replacing every header's.
    recorded : mapping, optional
        The store's recorded inputs for these parameters
        (`relphot_core.store.Store.recorded_inputs`); None or empty:
        everything is computed (``--force``, or no store).

    Raises
    ------
    RelphotError
        For usage errors: a directory with no catalogue, an unreadable list
        file, no catalogue at all.
    """
    start = time.perf_counter()
    recorded = recorded or {}
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    files: list[CatalogFile] = []
    failures: list[SetFailure] = []
    known: set[str] = set()  # paths whose identity and content are as recorded
    touched: list[tuple[str, int, int]] = []
    n_files = 0
    for path in discover(paths, list_files=list_files, patterns=patterns):
        n_files += 1
        absolute = os.path.abspath(path)
        record = recorded.get(absolute) if not overrides else None
        if record is not None:
            try:
                info = os.stat(absolute)
            except OSError:
                info = None
            if info is not None and info.st_size == record.size:
                same = info.st_mtime_ns == record.mtime_ns
                if not same and file_sha256(absolute) == record.sha256:
                    same = True
                    touched.append((absolute, int(info.st_size), int(info.st_mtime_ns)))
                if same:
                    files.append(CatalogFile(absolute, int(info.st_size), int(info.st_mtime_ns), record.obs_id,
                                             record.filter, record.dither, record.sha256))
                    known.add(absolute)
                    continue
        try:
            files.append(scan_catalog(path, keywords=config.keywords, overrides=overrides))
        except MixedKeywordsError as exc:
            failures.append(SetFailure(kind="mixed keywords", path=absolute, reason=exc.reason, files=(absolute,)))
        except CatalogError as exc:
            failures.append(SetFailure(kind="unreadable catalogue", path=absolute, reason=exc.reason,
                                       files=(absolute,)))
    if n_files == 0:
        raise RelphotError(None, "no catalogue given")
    if overrides.get("dither") is not None and n_files != 1:
        raise RelphotError(None, "--dither overrides one catalogue's dither number; give exactly one catalogue")
    sets, set_failures = form_sets(files)
    failures.extend(set_failures)
    recorded_sets: dict[tuple[int, str], set[str]] = {}
    for record_path, record in recorded.items():
        recorded_sets.setdefault((record.obs_id, record.filter), set()).add(record_path)
    to_compute, unchanged = [], []
    for exposure_set in sets:
        paths_now = set(exposure_set.paths)
        if paths_now <= known and recorded_sets.get(exposure_set.key) == paths_now:
            unchanged.append(exposure_set)
        else:
            to_compute.append(exposure_set)
    return BatchPlan(to_compute, unchanged, failures, n_files, time.perf_counter() - start, touched)


# ------------------------------------------------------------ run and store
def record_plan(store: Any, plan: BatchPlan, params: str) -> None:
    """Store what planning found: the files whose time moved but whose
    content did not (`BatchPlan.touched`), and the plan's failures."""
    if plan.touched:
        store.touch_inputs(params, plan.touched)
    for failure in plan.failures:
        store.record_failure(failure, params)


@dataclass
class BatchRun:
    """What `run_batch` did."""

    failures: list[SetFailure]
    """The plan's failures, then the sets' in the order they came."""
    new_runs: int = 0
    """Runs stored."""
    same_runs: int = 0
    """Sets whose identical run was in the store already."""
    seconds: float = 0.0
    """From the engine up to the last set stored."""
    engine: str = ""
    """`describe` of the engine, while it was up."""
    refused: bool = False
    """``strict`` and a set failed: nothing was stored."""


def run_batch(
    plan: BatchPlan,
    work: Work,
    engine: Any,
    *,
    store: Any = None,
    params: str = "",
    strict: bool = False,
    on_result: Callable[[ObservationResult], None] = lambda result: None,
    on_failure: Callable[[SetFailure], None] = lambda failure: None,
    on_set: Callable[[], None] = lambda: None,
) -> BatchRun:
    """Run the sets of a plan on an engine and store each as it completes.

    A set's result is stored (``store.save_set``) before its failures are
    recorded, since saving a set resolves the set's open failures. With
    ``strict``, nothing is stored unless every set succeeds; then all are
    stored in one transaction (``store.save_sets``).

    Parameters
    ----------
    plan : BatchPlan
    work : callable
        ``work(exposure_set) -> SetOutcome`` (e.g. `process_set` with its
        configuration bound).
    engine : LocalEngine or DaskEngine or None
        None when there is nothing to compute. The caller closes it.
    store : relphot_core.store.Store, optional
        Where results and failures go; None: nowhere.
    params : str
        The parameters' digest the runs are stored under.
    strict : bool, optional
        All or nothing.
    on_result, on_failure, on_set : callable, optional
        Called with each result as it is stored (each stored one, after the
        loop, with ``strict``), with each failure of a set (not with
        ``strict``: see `BatchRun.failures`), and once per completed set.

    Returns
    -------
    BatchRun
    """
    report = BatchRun(failures=list(plan.failures))
    kept: list[tuple[ObservationResult, tuple[CatalogFile, ...]]] = []
    if engine is not None and hasattr(engine, "check_paths"):
        engine.check_paths([s.files[0].path for s in plan.to_compute[:1]])
    outcomes = engine.run(work, plan.to_compute) if engine is not None else iter(())
    report.engine = engine.describe() if engine is not None else ""
    started = time.perf_counter()  # the engine is up: from here on, the sets
    for outcome in outcomes:
        on_set()
        report.failures.extend(outcome.failures)
        if strict:
            if outcome.result is not None:
                kept.append((outcome.result, outcome.files))
            continue
        if outcome.result is not None:
            if store is not None:
                run_id = store.save_set(outcome.result, outcome.files, params)
                report.new_runs += run_id is not None
                report.same_runs += run_id is None
            on_result(outcome.result)
        for failure in outcome.failures:
            on_failure(failure)
            if store is not None:
                store.record_failure(failure, params)
    if strict:
        if report.failures:
            report.refused = True
        else:
            if store is not None and kept:
                run_ids = store.save_sets(kept, params)
                report.new_runs = sum(r is not None for r in run_ids)
                report.same_runs = len(run_ids) - report.new_runs
            for result, _ in kept:
                on_result(result)
    report.seconds = time.perf_counter() - started
    return report


# ------------------------------------------------------------ in memory
def compute_catalogs(
    paths: Sequence[Path],
    config: Config,
    *,
    overrides: dict[str, Any] | None = None,
    jobs: int = 1,
    keep_samples: bool = True,
    quiet: bool = True,
) -> list[ObservationResult]:
    """Read every catalogue, then compute every set: all or nothing.

    For a handful of catalogues (the demo, scripts); batches use
    `plan_batch` and an engine.

    Raises
    ------
    RelphotError
        `CatalogError` or `GroupingError` for the first bad input
        (`MultipleErrors` listing every unreadable catalogue).
    """
    from .factors import compute_observation

    overrides = overrides or {}
    read = partial(_read_or_error, config=config, overrides=overrides)
    catalogs = _map(read, list(paths), jobs, "reading", quiet)
    errors = [item for item in catalogs if isinstance(item, CatalogError)]
    if errors:
        raise MultipleErrors(errors)
    from .catalogs import group_exposures

    groups = group_exposures(catalogs)
    for (obs_id, band), members in groups.items():
        if len(members) < 2:
            raise GroupingError(members[0].file, f"is the only exposure of observation {obs_id} {band} given; "
                                                 "were catalogues of different observations or filters mixed? "
                                                 "at least 2 exposures are needed")
    work = partial(compute_observation, config=config, keep_samples=keep_samples)
    return _map(work, list(groups.values()), jobs, "computing", quiet)


def _read_or_error(path: Path, config: Config, overrides: dict[str, Any]) -> ExposureCatalog | CatalogError:
    try:
        return read_catalog(path, columns=config.columns, keywords=config.keywords, overrides=overrides)
    except CatalogError as exc:
        return exc


def _map(function: Any, items: Sequence[Any], jobs: int, label: str, quiet: bool) -> list[Any]:
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    bar: dict[str, Any] = dict(total=len(items), desc=label, unit="", disable=quiet or len(items) < 2, file=sys.stderr)
    if jobs <= 1 or len(items) < 2:
        return [function(item) for item in tqdm(items, **bar)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return list(tqdm(pool.map(function, items, chunksize=max(1, len(items) // (8 * jobs))), **bar))


class MultipleErrors(RelphotError):
    """Several bad inputs, one line each."""

    def __init__(self, errors: Sequence[RelphotError]) -> None:
        self.errors = list(errors)
        super().__init__(None, "\n".join(str(e) for e in errors))


def with_fingerprints(exposure_set: ExposureSet) -> ExposureSet:
    """The set with every file fingerprinted (for results computed in memory)."""
    return replace(exposure_set, files=tuple(fingerprint(f) for f in exposure_set.files))
