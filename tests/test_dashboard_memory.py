"""Memory of a long-running dashboard process: reloads of the cached tables
(after every review or new run made elsewhere) must not keep the replaced
tables alive, so the resident memory stays flat."""
from __future__ import annotations

import gc
import weakref

import pytest

from dashboard.data import DataCache
from dashboard.pages.overview_model import Controls, overview_view
from relphot_core.store import Store
from relphot_core.testing.synth import fill_survey


def resident_mib() -> float:
    """This process's resident memory now (``VmRSS``), MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def draw(cache: DataCache, statuses: list[str] | None = None):
    """What the overview's callback does with a cached table."""
    return overview_view(Controls(["NIR_J"], statuses, None, None, None, None, None, "NIR_J"),
                         {"NIR_J": cache.trend("NIR_J")}, warn=0.01, fail=0.02, max_points=3000)


class RequestDuringReload:
    """The store, where every trend read is overlapped by a request drawing
    the overview from the table being replaced, which leaves garbage in a
    reference cycle holding that table (any library may leave such cycles)."""

    def __init__(self, store: Store, cache: DataCache) -> None:
        self.store, self.cache = store, cache

    def trend(self, *args, **kwargs):
        frame = self.store.trend(*args, **kwargs)
        draw(self.cache)
        cycle: dict = {"table": self.cache.trend("NIR_J")}
        cycle["self"] = cycle
        return frame

    def __getattr__(self, name: str):
        return getattr(self.store, name)


@pytest.fixture(scope="module")
def medium_store(tmp_path_factory) -> Store:
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('memory') / 'medium.db'}")
    fill_survey(store, 6000, seed=3, filters=("NIR_J",))  # 24,000 exposures
    return store


def test_the_overview_view_leaves_no_reference_cycle(medium_store):
    cache = DataCache(medium_store, ttl=60)
    cache.trend("NIR_J")
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        draw(cache)
        draw(cache, ["WARN", "FAIL"])
        found = gc.collect()
        kinds = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert found == 0, f"garbage in reference cycles: {kinds}"


def test_memory_stays_flat_over_30_background_reloads(medium_store):
    cache = DataCache(medium_store, ttl=60)
    try:
        gc.unfreeze()
        cache.warm(["NIR_J"])  # freezes, as at start-up
        cache.store = RequestDuringReload(medium_store, cache)
        replaced = []
        sizes = []
        for _ in range(30):
            replaced.append(weakref.ref(cache.trend("NIR_J")))
            cache._background("NIR_J")  # what a write made elsewhere triggers
            sizes.append(resident_mib())
        alive = sum(ref() is not None for ref in replaced)
    finally:
        gc.unfreeze()
    assert alive == 0, f"{alive} of 30 replaced tables still alive"
    first = sizes[2]  # after the allocator's first reuse
    assert max(sizes[2:]) <= 1.10 * first, f"RSS grew from {first:.0f} to {max(sizes):.0f} MiB: {sizes}"
