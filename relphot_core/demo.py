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
    ``directory/relphot.db`` (rebuilt from scratch each time).

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
    from .pipeline import compute_catalogs
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
    say(f"{len(paths)} catalogues in {time.perf_counter() - start:.0f} s; computing with {workers} processes ...")
    results = compute_catalogs(paths, Config(), jobs=workers, keep_samples=True, quiet=progress is None)
    store = Store.open(f"sqlite:///{db.resolve()}")
    store.save_results(results)
    counts = store.update_problems()
    opened = sum(c["opened"] for c in counts.values())
    say(f"{len(results)} (observation, filter) results stored in {db}, {opened} problems found, after "
        f"{time.perf_counter() - start:.0f} s")
    return store


__all__ = ["build_demo"]
