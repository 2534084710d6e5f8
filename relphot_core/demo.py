"""The demonstration store: a simulated season, computed and stored.

`build_demo` is what ``relphot demo`` runs before it serves the dashboard;
the browser tests and the benchmarks build their stores with it too.
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .config import Config
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .store import Store


def build_demo(directory: Path, *, n_observations: int = 100, seed: int = 2026, sources_per_detector: int = 150,
               workers: int = 1, progress: Callable[[str], None] | None = None) -> Store:
    """Simulate a season, compute every (observation, filter) and store it.

    The season (`relphot_core.simulate.simulate_season`) has a few bad
    exposures, one bad detector and a slow drift of NIR_H dither 4. The
    catalogues go to ``directory/catalogs``, the store is
    ``directory/relphot.db`` (rebuilt from scratch each time). It is
    computed as two batches, logged as ``relphot compute --db`` logs its
    own: the earlier nights, then "last night" (the last fifth of the
    observations, with a new FAIL and the drift growing), so that the
    "since the last batch" views have something new to show.

    Parameters
    ----------
    directory : pathlib.Path
        Working directory (created if needed).
    n_observations : int, optional
        Observations per filter.
    seed : int, optional
        Seed of the simulation.
    sources_per_detector : int, optional
        Simulated sources per detector.
    workers : int, optional
        Processes for reading and computing.
    progress : callable, optional
        Called with a line of text at each step (and progress bars are shown
        on stderr); None: silent.

    Returns
    -------
    relphot_core.store.Store

    Raises
    ------
    ConfigError
        The directory cannot be prepared.
    """
    from .simulate import simulate_season
    from .store import Store

    directory = Path(directory)
    catalogs = directory / "catalogs"
    db = directory / "relphot.db"
    try:
        if catalogs.exists():
            shutil.rmtree(catalogs)
        catalogs.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(directory, f"cannot prepare the demo directory ({exc.strerror or exc})") from None
    say = progress or (lambda text: None)
    start = time.perf_counter()
    say(f"simulating {n_observations} observations x 3 filters x 4 exposures in {catalogs} ...")
    paths, _truth = simulate_season(catalogs, n_observations, seed=seed, sources_per_detector=sources_per_detector,
                                    bad_exposures=max(3, n_observations // 30))
    store = Store.open(f"sqlite:///{db.resolve()}")
    first_tonight = 1000 + n_observations - max(1, n_observations // 5)
    nights = (("the earlier nights", [p for p in paths if _obs_id(p) < first_tonight]),
              ("last night", [p for p in paths if _obs_id(p) >= first_tonight]))
    say(f"{len(paths)} catalogues in {time.perf_counter() - start:.0f} s; computing with {workers} processes "
        f"as two batches ({nights[0][0]}, then {nights[1][0]}: observations {first_tonight}+) ...")
    opened = 0
    for _label, chosen in nights:
        opened += _demo_batch(store, chosen, workers=workers, quiet=progress is None)
    say(f"stored in {db}, {opened} problems found, after {time.perf_counter() - start:.0f} s")
    return store


def _obs_id(path: Path) -> int:
    """The observation of a simulated catalogue (`relphot_core.simulate.writers.catalog_name`)."""
    return int(path.name.split("_", 1)[0])


def _demo_batch(store: Store, paths: list[Path], *, workers: int, quiet: bool) -> int:
    """Compute and store one batch as ``relphot compute --db`` does, logged
    in the store's batches; returns the problems it opened."""
    import socket
    from collections import Counter

    from . import __version__
    from .pipeline import compute_catalogs

    n_sets = len({tuple(p.name.split("_", 2)[:2]) for p in paths})
    batch = store.start_batch(command="demo", host=socket.gethostname(), software_version=__version__,
                              sets_planned=n_sets, sets_computed=n_sets)
    results = compute_catalogs(paths, Config(), jobs=workers, keep_samples=True, quiet=quiet)
    store.save_results(results)
    problems: Counter[str] = Counter()
    for per_filter in store.update_problems().values():
        problems.update(per_filter)
    statuses = Counter(str(e.status) for r in results for e in r.exposures)
    store.finish_batch(batch, new_runs=len(results), statuses=dict(statuses), problems=dict(problems), exit_status=0)
    return problems["opened"]


__all__ = ["build_demo"]
