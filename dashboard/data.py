"""Access to the store from pages and routes, with a small read cache.

The dashboard reads and writes only through `relphot_core.store.Store`. The
per-filter trend tables (every exposure of a filter, with the control chart)
are what the overview redraws on every filter change; at survey size one
costs the store a good fraction of a second, so they are cached per process
for ``ttl`` seconds and dropped at once when this process writes a review.
Filtering them by date, status, review state or obs id is then a pandas
mask, well under the callback budget.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pandas as pd
from flask import current_app

from relphot_core.config import Config, Thresholds

STORE_KEY = "RELPHOT_STORE"
CACHE_KEY = "RELPHOT_CACHE"
THRESHOLDS_KEY = "RELPHOT_THRESHOLDS"
DB_LABEL_KEY = "RELPHOT_DB_LABEL"


class DataCache:
    """Per-process cache of the store's per-filter trend tables.

    Parameters
    ----------
    store : relphot_core.store.Store
    ttl : float
        Seconds a table is reused; other processes' writes show up after
        at most this long, this process's writes at once.
    """

    def __init__(self, store, ttl: float = 20.0) -> None:
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._trends: dict[str, tuple[float, pd.DataFrame]] = {}
        self._empty: tuple[float, bool] | None = None

    def trend(self, filter_name: str) -> pd.DataFrame:
        """Every exposure of one filter (current runs) with the control chart."""
        now = time.monotonic()
        with self._lock:
            hit = self._trends.get(filter_name)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        frame = self.store.trend(filter_name)
        with self._lock:
            self._trends[filter_name] = (time.monotonic(), frame)
        return frame

    def is_empty(self) -> bool:
        """Whether the store holds no result at all (cached like the tables)."""
        now = time.monotonic()
        if self._empty is not None and now - self._empty[0] < self.ttl and not self._empty[1]:
            return False
        empty = bool(self.store.is_empty())
        self._empty = (now, empty)
        return empty

    def invalidate(self) -> None:
        """Forget everything (after a write through this process)."""
        with self._lock:
            self._trends.clear()
            self._empty = None

    def warm(self, filters) -> None:
        """Fill the cache (called in a background thread at start-up)."""
        try:
            if not self.store.is_empty():
                for name in filters:
                    self.trend(name)
        except Exception:  # pragma: no cover - warming is best effort
            pass


@dataclass(frozen=True)
class Bands:
    warn: float
    fail: float


def get_store():
    """The `Store` of the running app."""
    return current_app.config[STORE_KEY]


def get_cache() -> DataCache:
    """The `DataCache` of the running app."""
    return current_app.config[CACHE_KEY]


def get_bands() -> Bands:
    """WARN / FAIL thresholds on |QPRELEX - 1| shown as bands."""
    thresholds: Thresholds = current_app.config.get(THRESHOLDS_KEY) or Config().thresholds
    return Bands(warn=thresholds.warn, fail=thresholds.fail)


def db_label() -> str:
    """The store URL to show in ``relphot`` commands (password masked)."""
    return current_app.config.get(DB_LABEL_KEY) or "relphot.db"


def add_review(obs_id: int, filter_name: str, exposures: list[int] | None, decision: str,
               reviewer: str, comment: str) -> int:
    """Store one review (one exposure, several, or the whole observation)."""
    count = get_store().add_review(obs_id, filter_name, exposures, decision, reviewer, comment)
    get_cache().invalidate()
    return count


def add_reviews(keys: list[tuple[int, str, int]], decision: str, reviewer: str, comment: str) -> int:
    """Store the same decision for many exposures at once."""
    count = get_store().add_reviews(keys, decision, reviewer, comment)
    get_cache().invalidate()
    return count
