"""A small hand-made store for the dashboard tests (no catalogues needed).

30 observations (1000..1029) x 3 filters x 4 dithers, one day apart, with
known problems: obs 1017 NIR_J dither 3 reads 3 % faint (FAIL), obs 1023
NIR_H dither 2 is 0.8 % bright (WARN), obs 1005 NIR_Y dither 4 has no value
(NODATA).
"""
from __future__ import annotations

import numpy as np

from relphot_core.config import FILTERS
from relphot_core.store import Store
from relphot_core.testing.synth import make_result

BAD = (1017, "NIR_J", 3)
WARN = (1023, "NIR_H", 2)
NODATA = (1005, "NIR_Y", 4)
N_OBS = 30


def fill_small_store(url: str) -> Store:
    """Create and fill the store at ``url``; returns it."""
    store = Store.open(url)
    rng = np.random.default_rng(7)
    results = []
    for i in range(N_OBS):
        obs_id = 1000 + i
        for j, name in enumerate(FILTERS):
            values: list[float | None] = list(1 + rng.normal(0, 0.0008, 4))
            for key, value in ((BAD, 0.97), (WARN, 1.008), (NODATA, None)):
                if (obs_id, name) == key[:2]:
                    values[key[2] - 1] = value
            results.append(make_result(obs_id, name, values=values, seed=3 * i + j, mjd_start=60700 + i))
    store.save_results(results)
    store.update_problems()  # as relphot compute --db does after a batch: three exposure problems
    return store


def wait_for(predicate, timeout: float = 10.0, message: str = "condition"):
    """The first truthy value of ``predicate()`` within ``timeout`` seconds
    (exceptions count as not yet: the page may be re-rendering)."""
    import time

    end = time.time() + timeout
    while time.time() < end:
        try:
            value = predicate()
        except Exception:  # noqa: BLE001 - the page may be re-rendering
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")
