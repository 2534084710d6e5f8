"""The dashboard's per-filter table cache (`dashboard.data.DataCache`)."""
from __future__ import annotations

import gc
import threading
import time

import pandas as pd

from dashboard.data import DataCache


class CountingStore:
    """A store stand-in that counts its reads."""

    def __init__(self) -> None:
        self.version = "1"
        self.trend_reads = 0
        self.version_reads = 0

    def trend(self, filter_name: str, **_options) -> pd.DataFrame:
        self.trend_reads += 1
        return pd.DataFrame({"obs_id": [1], "status": ["OK"], "value": [float(self.trend_reads)]})

    def data_version(self) -> str:
        self.version_reads += 1
        return self.version


def test_unchanged_store_is_not_read_again_after_ttl():
    store = CountingStore()
    cache = DataCache(store, ttl=0.05)
    first = cache.trend("NIR_J")
    version = cache.version("NIR_J")
    assert store.trend_reads == 1 and cache.trend("NIR_J") is first  # within ttl: no query at all
    time.sleep(0.06)
    assert cache.trend("NIR_J") is first  # after ttl: one version check, same table
    assert store.trend_reads == 1 and cache.version("NIR_J") == version  # figures need no redraw


def test_a_write_elsewhere_is_seen_after_ttl():
    store = CountingStore()
    cache = DataCache(store, ttl=0.05)
    cache.trend("NIR_J")
    store.version = "2"   # another process saved a run
    time.sleep(1.05)      # past the ttl and the one-second version memo
    assert cache.trend("NIR_J")["value"].iloc[0] == 2 and store.trend_reads == 2


def test_a_write_through_this_process_is_seen_at_once():
    store = CountingStore()
    cache = DataCache(store, ttl=60)
    cache.trend("NIR_J")
    cache.invalidate()
    assert cache.trend("NIR_J")["value"].iloc[0] == 2


class SlowReviewedStore:
    """A survey-size stand-in: reads are slow (reloads go to the background)
    and show the reviews written so far."""

    def __init__(self) -> None:
        self.reviewed: set[tuple[int, int]] = set()
        self.version = 0
        self.reading = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def trend(self, filter_name: str, **_options) -> pd.DataFrame:
        self.reading.set()
        snapshot = set(self.reviewed)  # what a read started now sees
        self.release.wait(5)
        keys = [(obs, dither) for obs in (1, 2) for dither in (1, 2, 3, 4)]
        return pd.DataFrame({
            "obs_id": [k[0] for k in keys], "filter": filter_name, "exposure": [k[1] for k in keys],
            "mjd_obs": [60000.0 + k[0] + k[1] / 100 for k in keys], "status": "FAIL",
            "review_decision": [("confirmed" if k in snapshot else None) for k in keys],
            "reviewer": [("Ada" if k in snapshot else None) for k in keys],
            "reviewed": [k in snapshot for k in keys]})

    def data_version(self) -> str:
        return str(self.version)

    def review(self, keys) -> None:
        self.reviewed |= set(keys)
        self.version += 1


def test_a_review_shows_at_once_even_while_a_slow_reload_runs():
    store = SlowReviewedStore()
    cache = DataCache(store, ttl=60, sync_limit=0.0)  # every reload in the background
    assert not cache.trend("NIR_J")["reviewed"].any()
    version = cache.version("NIR_J")
    # a reload starts (before the review is written) and is held
    store.release.clear()
    store.reading.clear()
    cache.invalidate()
    cache.trend("NIR_J")
    assert store.reading.wait(5)
    store.review([(2, 3)])
    cache.apply_review("NIR_J", {(2, 3)}, set(), "confirmed", "Ada")
    frame = cache.trend("NIR_J")
    row = frame[(frame["obs_id"] == 2) & (frame["exposure"] == 3)].iloc[0]
    assert row["reviewed"] and row["review_decision"] == "confirmed" and row["reviewer"] == "Ada"
    patched = cache.version("NIR_J")
    assert frame["reviewed"].sum() == 1 and patched > version
    # the reload read before the review ends: the review is applied to it again
    store.release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and cache.version("NIR_J") == patched:
        time.sleep(0.01)
    assert cache.version("NIR_J") > patched  # the reloaded table is in
    frame = cache.trend("NIR_J")
    assert frame.loc[(frame["obs_id"] == 2) & (frame["exposure"] == 3), "reviewed"].all()
    # a whole observation
    cache.apply_review("NIR_J", set(), {1}, "overruled", "Bo")
    frame = cache.trend("NIR_J")
    assert frame["reviewed"].sum() == 5 and set(frame.loc[frame["obs_id"] == 1, "reviewer"]) == {"Bo"}


def test_memo_builds_once_per_key_and_forgets_the_oldest():
    cache = DataCache(CountingStore())
    built = []

    def build(key):
        return lambda: built.append(key) or {"figure": key}

    first = cache.memo("a", build("a"), size=2)
    assert cache.memo("a", build("a"), size=2) is first and built == ["a"]
    cache.memo("b", build("b"), size=2)
    cache.memo("c", build("c"), size=2)   # "a" is the oldest: forgotten
    cache.memo("a", build("a"), size=2)
    assert built == ["a", "b", "c", "a"]


def test_warm_loads_every_filter_then_runs_the_follow_up():
    store = CountingStore()
    store.is_empty = lambda: False
    cache = DataCache(store)
    done = []
    try:
        cache.warm(("NIR_Y", "NIR_J"), then=lambda: done.append(cache.trend("NIR_J")))
    finally:
        gc.unfreeze()  # warm freezes the process's objects: not the test run's
    assert store.trend_reads == 2 and len(done) == 1 and cache.warmed.is_set()


def test_warm_freezes_what_it_loaded_and_a_background_reload_refreezes():
    store = CountingStore()
    store.is_empty = lambda: False
    cache = DataCache(store, ttl=0.01)
    try:
        drawn = []
        gc.unfreeze()
        cache.warm(["NIR_J"], then=lambda: drawn.append(True))
        assert drawn == [True] and cache.warmed.is_set() and gc.get_freeze_count() > 0
        cache._background("NIR_J")  # what a reload after a write elsewhere runs
        table = cache.trend("NIR_J")
        assert store.trend_reads == 2 and gc.is_tracked(table)
        assert not any(o is table for o in gc.get_objects())  # the new table is frozen too
    finally:
        gc.unfreeze()


def test_a_store_failing_to_give_its_version_is_logged_not_swallowed(caplog):
    class Broken(CountingStore):
        def data_version(self) -> str:
            raise RuntimeError("connection reset")

    cache = DataCache(Broken(), ttl=10.0)
    with caplog.at_level("WARNING", logger="dashboard.data"):
        assert cache._data_version() is None
    assert "cannot read the store's data version" in caplog.text and "connection reset" in caplog.text


def test_the_default_view_is_drawn_at_start_up_outside_any_request(tmp_path):
    import threading

    from dashboard import create_app
    from dashboard.pages import overview
    from relphot_core.store import Store
    from relphot_core.testing.synth import make_result

    store = Store.open(f"sqlite:///{tmp_path / 'warm.db'}")
    store.save_results([make_result(i, mjd_start=60000.0 + i) for i in range(1, 6)])
    app = create_app(store, warm=False)
    errors = []

    def warm() -> None:  # what the start-up thread does: no request, no callback context
        try:
            with app.server.app_context():
                overview.prewarm()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=warm)
    thread.start()
    thread.join()
    assert errors == []


def test_the_running_median_follows_the_configured_window_and_band(tmp_path):
    """``[thresholds] drift_window`` / ``drift_nsigma`` (``relphot serve
    --drift-window --drift-nsigma``) shape the trend's running median and
    band; a window below the chart's usual minimum still draws it."""
    import numpy as np

    from dashboard.data import DataCache
    from dashboard_fixtures import fill_small_store
    from relphot_core.config import Thresholds

    store = fill_small_store(f"sqlite:///{tmp_path / 'w.db'}")
    default = DataCache(store, ttl=0).trend("NIR_J")
    short = DataCache(store, ttl=0, thresholds=Thresholds(drift_window=5, drift_nsigma=0.5)).trend("NIR_J")
    wide = DataCache(store, ttl=0, thresholds=Thresholds(drift_window=400, drift_nsigma=10.0)).trend("NIR_J")
    assert np.isfinite(short["running_median"]).sum() > np.isfinite(default["running_median"]).sum()
    band = lambda t: np.nanmedian(t["control_high"] - t["control_low"])  # noqa: E731
    assert band(short) < band(default) < band(wide)
