"""The dashboard's per-filter table cache (`dashboard.data.DataCache`)."""
from __future__ import annotations

import time

import pandas as pd

from dashboard.data import DataCache


class CountingStore:
    """A store stand-in that counts its reads."""

    def __init__(self) -> None:
        self.version = "1"
        self.trend_reads = 0
        self.version_reads = 0

    def trend(self, filter_name: str) -> pd.DataFrame:
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
    cache.warm(("NIR_Y", "NIR_J"), then=lambda: done.append(cache.trend("NIR_J")))
    assert store.trend_reads == 2 and len(done) == 1 and cache.warmed.is_set()
