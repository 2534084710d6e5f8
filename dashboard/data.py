"""Access to the store from pages and routes, with a small read cache.

The dashboard reads and writes only through `relphot_core.store.Store`. The
per-filter trend tables (every exposure of a filter, with the control chart)
are what the overview redraws on every filter change; at survey size one
costs the store a second or more, so they are cached per process (see
`DataCache`: checked against the store's data version after ``ttl``
seconds, re-read when something was written, in the background when the
read is expensive). Selecting from them by
date (a binary search: they are kept sorted by time), status, review state
or obs id (masks) then takes milliseconds. Consequence: at survey size the overview can lag a write
made elsewhere by up to ``ttl`` plus one store read.
"""
from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from flask import current_app

from relphot_core.config import Config, Thresholds
from relphot_core.selection import sorted_nan_last
from relphot_core.status import OUT_OF_LIMITS

LOG = logging.getLogger(__name__)

STORE_KEY = "RELPHOT_STORE"
CACHE_KEY = "RELPHOT_CACHE"
THRESHOLDS_KEY = "RELPHOT_THRESHOLDS"
DB_LABEL_KEY = "RELPHOT_DB_LABEL"
MAX_POINTS_KEY = "RELPHOT_MAX_POINTS"


TREND_COLUMNS = ("obs_id", "filter", "exposure", "mjd_obs", "value", "error", "status", "reason", "n_pairs",
                 "review_decision", "reviewer", "reviewed", "running_median", "control_low", "control_high",
                 "alarm", "alarm_reason", "detector_flag", "detector_reason", "crosscheck", "collateral",
                 "global_value", "alarmed", "drift_since", "flag", "flag_reason", "review_id")
"""The columns of the store's trend table that the overview and the triage
queue use: the cache keeps only these (masks then copy fewer bytes)."""

PATCH_MEMORY = 600.0
"""Seconds a review applied to the cached tables is remembered, to apply it
again to a table whose reload started before it was written."""


def with_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``flag`` (a flag beyond the status: a control-chart alarm, a
    flagged detector, a disagreement with the global solution) and
    ``flag_reason`` (their reasons, one a line; the collateral note too)."""
    n = len(frame)
    parts = []
    flag = np.zeros(n, dtype=bool)
    for column, flagged in (("alarm_reason", None), ("detector_reason", "detector_flag"), ("crosscheck", None)):
        if column not in frame.columns:
            continue
        text = frame[column].astype(object).where(frame[column].notna(), "").astype(str).to_numpy()
        if flagged is not None and flagged in frame.columns:
            on = frame[flagged].isin(OUT_OF_LIMITS).to_numpy(dtype=bool)
            text = np.where(on, text, "")
        flag |= text != ""
        parts.append(text)
    if "collateral" in frame.columns:
        parts.append(frame["collateral"].astype(object).where(frame["collateral"].notna(), "").astype(str).to_numpy())
    if not parts:
        if "flag" in frame.columns:  # already computed (e.g. a table built by hand)
            return frame
        return frame.assign(flag=flag, flag_reason=np.full(n, "", dtype=object))
    joined = parts[0].astype(object)
    for part in parts[1:]:
        joined = np.where((joined != "") & (part != ""), joined + "\n" + part, np.where(joined != "", joined, part))
    return frame.assign(flag=flag, flag_reason=joined.astype(object))


def compact_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The cached form of a trend table: the overview's columns only,
    sorted by time, strings as categories and review flags as booleans, so
    that selections are a binary search and masks of numeric arrays."""
    frame = with_flags(frame)
    frame = frame[[c for c in TREND_COLUMNS if c in frame.columns]]
    changes = {c: frame[c].astype("category") for c in ("filter", "status", "reason", "review_decision",
                                                         "reviewer", "alarm", "alarm_reason", "detector_flag",
                                                         "detector_reason", "crosscheck", "collateral",
                                                         "flag_reason") if c in frame.columns}
    for column in ("reviewed", "flag", "alarmed"):
        if column in frame.columns and frame[column].dtype != bool:
            changes[column] = frame[column].eq(True)  # None / NaN: False
    frame = frame.assign(**changes)
    if "mjd_obs" in frame.columns and not sorted_nan_last(frame["mjd_obs"].to_numpy(dtype=float)):
        frame = frame.sort_values(["mjd_obs", "exposure"] if "exposure" in frame.columns else "mjd_obs",
                                  kind="stable", na_position="last")
    return frame.reset_index(drop=True)


VERSION_ATTR = "relphot_version"
"""``DataFrame.attrs`` key of a cached table's version: it travels with the
table, so a figure is never remembered under the version of another table."""


def table_version(frame: pd.DataFrame | None) -> float:
    """The version of a table returned by `DataCache.trend` (0 if none):
    figures drawn from another version must be drawn again."""
    return 0.0 if frame is None else float(frame.attrs.get(VERSION_ATTR, 0.0))


def with_review(frame: pd.DataFrame, keys: set[tuple[int, int]] | None, obs_ids: set[int],
                decision: str, reviewer: str) -> pd.DataFrame:
    """A copy of a cached table where the exposures ``keys`` ((obs_id,
    dither) pairs) and every exposure of ``obs_ids`` carry a new review
    (the table itself when none of them is in it)."""
    hit = frame["obs_id"].isin(list(obs_ids)).to_numpy()
    if keys:
        pairs = pd.MultiIndex.from_arrays([frame["obs_id"].to_numpy(), frame["exposure"].to_numpy()])
        hit = hit | pairs.isin(list(keys))
    if not hit.any():
        return frame
    frame = frame.copy()
    for column, value in (("review_decision", decision), ("reviewer", reviewer)):
        if column in frame.columns:
            values = np.array(frame[column].astype(object), dtype=object)
            values[hit] = value
            frame[column] = pd.Categorical(values)
    if "reviewed" in frame.columns:
        frame.loc[hit, "reviewed"] = True
    return frame


@dataclass
class _Entry:
    frame: pd.DataFrame
    loaded: float
    cost: float
    data_version: str | None = None
    checked: float = 0.0
    stale: bool = False


class Memo:
    """``build()`` results remembered by key, the last ``size`` keys, safe
    across the server's threads (a value built twice by a race is the same)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, object] = OrderedDict()

    def __call__(self, key: Hashable, build: Callable[[], object], size: int | None = None) -> object:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = build()
        with self._lock:
            self._values[key] = value
            while len(self._values) > (size or self.size):
                self._values.popitem(last=False)
        return value


class DataCache:
    """Per-process cache of the store's per-filter trend tables.

    After ``ttl`` seconds a table is checked against the store's
    `~relphot_core.store.Store.data_version` (one small query): if nothing
    was written since it was read, it is kept. Otherwise, or when a write
    through this process marked it stale, it is read again. When that read is cheap
    (under ``sync_limit`` seconds last time) it happens at once; when it is
    expensive (survey size) the stale table is served while a background
    thread reloads it, so that no filter callback waits for the store.

    Parameters
    ----------
    store : relphot_core.store.Store
    ttl : float
        Seconds a table is reused; 0 disables the cache.
    sync_limit : float
        Reload cost (seconds) below which reloads are synchronous.
    """

    def __init__(self, store, ttl: float = 20.0, sync_limit: float = 0.3, control: Any = None) -> None:
        self.store = store
        self.control = control
        """The control-chart rules (`relphot_core.config.Control`; None: the defaults)."""
        self.ttl = ttl
        self.sync_limit = sync_limit
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._refreshing: set[str] = set()
        self._empty: tuple[float, bool] | None = None
        self._version: tuple[float, str] | None = None
        self._memo = Memo(24)
        self._reviews: list[tuple[float, str, set, set, str, str]] = []
        self.warmed = threading.Event()
        """Set once the start-up warm-up has finished."""

    def _data_version(self) -> str | None:
        """The store's data version, asked at most once a second."""
        now = time.monotonic()
        cached = self._version
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        try:
            version = self.store.data_version()
        except Exception:  # noqa: BLE001 - a store without versions: always reload
            LOG.warning("cannot read the store's data version; the tables will be reloaded", exc_info=True)
            return None
        self._version = (now, version)
        return version

    def _load(self, filter_name: str) -> pd.DataFrame:
        start = time.monotonic()
        self._version = None
        version = self._data_version()  # before the read: a write during it triggers a reload
        frame = compact_table(self.store.trend(filter_name, control=self.control))
        with self._lock:
            # reviews written through this process while the table was read
            # (rare: applied under the lock)
            for when, name, keys, obs_ids, decision, reviewer in self._reviews:
                if name == filter_name and when >= start:
                    frame = with_review(frame, keys, obs_ids, decision, reviewer)
            end = time.monotonic()
            frame.attrs[VERSION_ATTR] = end
            self._entries[filter_name] = _Entry(frame, end, end - start, version, end)
        return frame

    def _background(self, filter_name: str) -> None:
        try:
            self._load(filter_name)
            if gc.get_freeze_count():
                # freeze the new table too (see `warm`). No collection: that
                # would pause every thread ~0.2 s, and a replaced table
                # leaves no reference cycle behind (measured).
                gc.freeze()
        finally:
            with self._lock:
                self._refreshing.discard(filter_name)

    def trend(self, filter_name: str, *, fresh: bool = False) -> pd.DataFrame:
        """Every exposure of one filter (current runs) with the control chart.

        ``fresh``: ask the store for its data version now rather than after
        the ttl (a write by another process then shows as soon as the table
        is read again)."""
        if self.ttl <= 0:
            frame = self.store.trend(filter_name, control=self.control)
            frame.attrs[VERSION_ATTR] = time.monotonic()  # every read is a new version
            return frame
        with self._lock:
            entry = self._entries.get(filter_name)
        if entry is None:
            return self._load(filter_name)
        now = time.monotonic()
        if not entry.stale and not fresh and now - entry.checked < self.ttl:
            return entry.frame
        if not entry.stale and entry.data_version is not None and self._data_version() == entry.data_version:
            entry.checked = now  # nothing written since the read: keep it (and its figures)
            return entry.frame
        if entry.cost < self.sync_limit:
            return self._load(filter_name)
        with self._lock:
            start = filter_name not in self._refreshing
            self._refreshing.add(filter_name)
        if start:
            threading.Thread(target=self._background, args=(filter_name,), daemon=True).start()
        return entry.frame

    def memo(self, key: Hashable, build: Callable[[], object], size: int = 24) -> object:
        """``build()``, remembered under ``key`` (the last ``size`` keys).

        For what is a pure function of the key, e.g. a figure keyed by its
        selection and the `version` of the tables it is drawn from: going
        back to a view costs nothing."""
        return self._memo(key, build, size)

    def version(self, filter_name: str) -> float:
        """When the cached table of a filter was loaded (0 if never): figures
        drawn from an older version must be redrawn."""
        with self._lock:
            entry = self._entries.get(filter_name)
        return 0.0 if entry is None else entry.loaded

    def is_empty(self) -> bool:
        """Whether the store holds no result at all (a non-empty answer is cached)."""
        now = time.monotonic()
        if self._empty is not None and now - self._empty[0] < max(self.ttl, 0) and not self._empty[1]:
            return False
        empty = bool(self.store.is_empty())
        self._empty = (now, empty)
        return empty

    def apply_review(self, filter_name: str, keys: set[tuple[int, int]], obs_ids: set[int], decision: str,
                     reviewer: str) -> None:
        """Show a review just written through this process in the cached
        table of its filter at once (a survey-size table reloads in the
        background, seconds later), and mark the tables stale."""
        now = time.monotonic()
        with self._lock:
            self._reviews = [r for r in self._reviews if now - r[0] < PATCH_MEMORY]
            self._reviews.append((now, filter_name, set(keys), set(obs_ids), decision, reviewer))
            entry = self._entries.get(filter_name)
            base = None if entry is None else entry.frame
        if base is not None:
            patched = with_review(base, keys, obs_ids, decision, reviewer)  # outside the lock: a copy
            with self._lock:
                # a reload that finished meanwhile applied the review itself
                if patched is not base and self._entries.get(filter_name) is entry and entry.frame is base:
                    loaded = time.monotonic()
                    patched.attrs[VERSION_ATTR] = loaded
                    entry.frame, entry.loaded = patched, loaded
        self.invalidate()

    def reload(self, filter_name: str) -> None:
        """Read the table of a filter again now (not in the background)."""
        if self.ttl > 0:
            self._load(filter_name)

    def invalidate(self) -> None:
        """Mark everything stale (after a write through this process)."""
        with self._lock:
            for entry in self._entries.values():
                entry.stale = True
            self._empty = None
            self._version = None

    def warm(self, filters, then: Callable[[], object] | None = None) -> None:
        """Fill the cache (called in a background thread at start-up), call
        ``then`` (e.g. to draw the default view once), then move every
        object alive into the collector's permanent generation.

        The freeze: a process holding a survey's tables otherwise pauses
        140-200 ms in a full collection every few dozen requests (measured);
        after it, full collections only scan what came later (~20 ms).
        Objects frozen are still freed when no longer referenced.
        """
        try:
            if not self.store.is_empty():
                for name in filters:
                    self._load(name)
                if then is not None:
                    then()
                gc.collect()
                gc.freeze()
        except Exception:  # pragma: no cover - warming is best effort: pages load the tables themselves
            LOG.exception("warming the cached tables failed")
        finally:
            self.warmed.set()


@dataclass(frozen=True)
class Bands:
    warn: float
    fail: float
    warn_nsigma: float = Thresholds.warn_nsigma
    """Significance a WARN needs, for the reasons (`relphot_core.status.EXPOSURE_RULES`)."""


def get_store():
    """The `Store` of the running app."""
    return current_app.config[STORE_KEY]


def get_cache() -> DataCache:
    """The `DataCache` of the running app."""
    return current_app.config[CACHE_KEY]


def get_bands() -> Bands:
    """WARN / FAIL thresholds on |QPRELEX - 1| shown as bands."""
    thresholds: Thresholds = current_app.config.get(THRESHOLDS_KEY) or Config().thresholds
    return Bands(warn=thresholds.warn, fail=thresholds.fail, warn_nsigma=thresholds.warn_nsigma)


def max_points() -> int | None:
    """OK exposures per filter drawn one by one before they are binned (None: never bin)."""
    return current_app.config.get(MAX_POINTS_KEY, 3000)


def open_failures(limit: int = 200) -> tuple[pd.DataFrame, int]:
    """The processing failures not yet resolved, newest first (at most
    ``limit``), and how many there are. A small table, read on each call."""
    frame = get_store().failures()
    return frame.head(limit), len(frame)


def db_label() -> str:
    """The store URL to show in ``relphot`` commands (password masked)."""
    return current_app.config.get(DB_LABEL_KEY) or "relphot.db"


def add_reviews(keys: list[tuple[int, str, int]], decision: str, reviewer: str, comment: str, *,
                cause: str = "", about: dict | None = None, identity: Any = None,
                expected: dict | None = None) -> int:
    """Store one decision for exposures ``(obs_id, filter, dither)`` as one
    review batch (`relphot_core.reviews.submit`: checked there, the
    ``identity`` too, against the ``expected`` review ids) and show it in
    the cached tables at once; returns the batch id."""
    from relphot_core.reviews import check_review, submit

    batch = submit(get_store(), keys, decision, reviewer, comment, cause, about=about, identity=identity,
                   expected=expected)
    if identity is not None and identity.signs_reviews:
        reviewer = identity.name
    name = check_review(decision, reviewer, comment, cause).reviewer
    by_filter: dict[str, set[tuple[int, int]]] = {}
    for obs_id, filter_name, dither in keys:
        by_filter.setdefault(str(filter_name), set()).add((int(obs_id), int(dither)))
    for filter_name, pairs in by_filter.items():
        get_cache().apply_review(filter_name, pairs, set(), decision, name)
    return batch


def revoke_review_batch(batch_id: int, by: str, *, identity: Any = None) -> int:
    """Revoke a review batch (`relphot_core.reviews.revoke`: ``identity``
    checked there) and reload the cached tables: its exposures are reviewed
    as before it. Returns the number of reviews revoked."""
    from relphot_core.reviews import revoke

    store, cache = get_store(), get_cache()
    count = revoke(store, batch_id, by, identity=identity)
    cache.invalidate()
    # read the batch's filters again now: a revocation is rare, and the
    # queue must not show the revoked reviews while a reload runs behind
    for filter_name in sorted(set(store.reviews(batch_id=int(batch_id))["filter"])):
        cache.reload(filter_name)
    return count
