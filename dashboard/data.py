"""Access to the store from pages and routes, with a small read cache.

The dashboard reads and writes only through `relphot_core.store.Store`. The
per-filter trend tables (every exposure of a filter, with the control chart)
are what the overview redraws on every filter change; at survey size one
costs the store a second or more, so they are cached per process (see
`DataCache`: checked against the store's data version after ``ttl``
seconds; brought up to date by the reviews written since when only reviews
were written, in milliseconds; re-read otherwise, in the background when
the read is expensive). Selecting from them by date (a binary search: they
are kept sorted by time), status, review state or obs id (masks) then takes
milliseconds. Consequence: a review made anywhere shows on every process's
pages within ``ttl`` (1 s by default); a new run, a pin or a revocation made
elsewhere within ``ttl`` plus one store read.

Each table carries a digest of its content as its version
(`table_version`): every process holding the same table gives the same
version, so what the browser has drawn stays valid whichever worker
answers the next callback.

With a `relphot_core.snapshot.SnapshotStore` (``snapshots``; the gunicorn
entry point `dashboard.wsgi` gives one) the tables are not built by every
process: the first that needs a filter's table at a data version builds it
and writes it as a snapshot, under the snapshot's lock; the others wait for
it and memory-map it (one copy in the page cache for every worker, mapped
in milliseconds). After reviews only, the snapshot of the new version is
derived from the last one: the review columns written again, the others
hard-linked.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd
from flask import current_app

from relphot_core.config import Config, Thresholds
from relphot_core.shared_tables import (build_trend, compact_table, content_version,
                                        derive_trend, read_trend, trend_kind, with_latest_reviews)
from relphot_core.snapshot import Built, Snapshot, SnapshotStore

LOG = logging.getLogger(__name__)

STORE_KEY = "RELPHOT_STORE"
CACHE_KEY = "RELPHOT_CACHE"
THRESHOLDS_KEY = "RELPHOT_THRESHOLDS"
DB_LABEL_KEY = "RELPHOT_DB_LABEL"
MAX_POINTS_KEY = "RELPHOT_MAX_POINTS"


PATCH_MEMORY = 600.0
"""Seconds a review applied to the cached tables is remembered, to apply it
again to a table whose reload started before it was written."""


VERSION_MEMO = 0.25
"""Seconds the store's data version is remembered across the filters (one
query, under a millisecond, for the three tables a callback reads)."""

VERSION_ATTR = "relphot_version"
"""``DataFrame.attrs`` key of a cached table's version: it travels with the
table, so a figure is never remembered under the version of another table."""


def table_version(frame: pd.DataFrame | None) -> str:
    """The version of a table returned by `DataCache.trend` ("" if none):
    figures drawn from another version must be drawn again. A digest of
    the content (`content_version`), so every process holding the same
    table gives the same version: the browser keeps a figure drawn from it
    whichever worker answers."""
    return "" if frame is None else str(frame.attrs.get(VERSION_ATTR, ""))


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
    frame = frame.copy(deep=False)
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


T = TypeVar("T")


class Memo:
    """``build()`` results remembered by key, the last ``size`` keys, safe
    across the server's threads (a value built twice by a race is the same)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._values: OrderedDict[Hashable, object] = OrderedDict()

    def __call__(self, key: Hashable, build: Callable[[], T], size: int | None = None) -> T:
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return cast(T, self._values[key])  # what build() gave for this key
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
    snapshots : relphot_core.snapshot.SnapshotStore, optional
        Where the tables are shared with the other processes serving the
        same store (see the module's docstring); None: this process builds
        its own.
    """

    def __init__(self, store, ttl: float = 20.0, sync_limit: float = 0.3, control: Any = None,
                 thresholds: Thresholds | None = None, snapshots: SnapshotStore | None = None) -> None:
        self.store = store
        self.snapshots = snapshots
        self.control = control
        """The control-chart rules (`relphot_core.config.Control`; None: the defaults)."""
        self.thresholds = thresholds
        """The running median's window and band (``drift_window``, ``drift_nsigma`` of
        `relphot_core.config.Thresholds`; None: the defaults)."""
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

    def _read_trend(self, filter_name: str) -> pd.DataFrame:
        """The store's trend of a filter with this dashboard's rules."""
        return read_trend(self.store, filter_name, self.control, self.thresholds)

    def _data_version(self) -> str | None:
        """The store's data version, asked at most every `VERSION_MEMO` seconds."""
        now = time.monotonic()
        cached = self._version
        if cached is not None and now - cached[0] < VERSION_MEMO:
            return cached[1]
        try:
            version = self.store.data_version()
        except Exception:  # a store without versions: always reload
            LOG.warning("cannot read the store's data version; the tables will be reloaded", exc_info=True)
            return None
        self._version = (now, version)
        return version

    def _build(self, filter_name: str) -> Built:
        """A filter's table read from the store, as a snapshot's columns
        (`relphot_core.shared_tables.build_trend`)."""
        return build_trend(self.store, filter_name, self.control, self.thresholds)

    def _derive(self, filter_name: str, base: Snapshot) -> Built | None:
        """The snapshot of the store's version now derived from ``base`` when
        only reviews were written since (None otherwise): the review columns
        new, the others ``base``'s own (linked, not written again)."""
        if getattr(self.store, "reviews_since", None) is None:
            return None
        try:
            return derive_trend(self.store, filter_name, base)
        except Exception:
            LOG.warning("cannot read the reviews written since %s", base.version, exc_info=True)
            return None

    def _shared(self, filter_name: str, *, build: bool) -> Snapshot | None:
        """The shared snapshot of a filter's table at the store's version now
        (`relphot_core.snapshot.SnapshotStore.get_or_build`). ``build``:
        read the store when it cannot be derived, waiting for another
        process doing so; otherwise None rather than wait or read."""
        assert self.snapshots is not None
        try:
            return self.snapshots.get_or_build(
                self.snapshot_kind(filter_name), self.store.data_version,
                (lambda: self._build(filter_name)) if build else None,
                lambda base: self._derive(filter_name, base), blocking=build)
        except Exception:
            LOG.warning("the shared snapshot of %s failed; reading the store", filter_name, exc_info=True)
            return None

    def snapshot_kind(self, filter_name: str) -> str:
        """The kind of a filter's snapshots: the filter and this cache's rules."""
        return trend_kind(filter_name, self.control, self.thresholds)

    @staticmethod
    def _frame(snapshot: Snapshot) -> pd.DataFrame:
        frame = snapshot.frame()
        frame.attrs[VERSION_ATTR] = snapshot.attrs.get("content_version") or content_version(frame)
        return frame

    def _load(self, filter_name: str) -> pd.DataFrame:
        start = time.monotonic()
        self._version = None
        snapshot = self._shared(filter_name, build=True) if self.snapshots is not None else None
        if snapshot is not None:
            version: str | None = snapshot.version
            frame = self._frame(snapshot)
            cost = float(snapshot.attrs.get("build_seconds", 0.0))
        else:
            version = self._data_version()  # before the read: a write during it triggers a reload
            frame = compact_table(self._read_trend(filter_name))
            frame.attrs[VERSION_ATTR] = content_version(frame)
            cost = -1.0
        with self._lock:
            # reviews written through this process while the table was read
            # (rare: applied under the lock)
            read = frame
            for when, name, keys, obs_ids, decision, reviewer in self._reviews:
                if name == filter_name and when >= start:
                    frame = with_review(frame, keys, obs_ids, decision, reviewer)
            end = time.monotonic()
            if frame is not read:  # patched here: a version of this process's own
                frame.attrs[VERSION_ATTR] = f"local-{id(self):x}-{end}"
            self._entries[filter_name] = _Entry(frame, end, end - start if cost < 0 else cost, version, end)
        return frame

    def _catch_up_shared(self, filter_name: str, entry: _Entry) -> pd.DataFrame | None:
        """`_catch_up` through the snapshots: the snapshot of the version now
        mapped when another process wrote it, derived here when only reviews
        were written (None when the table must be read again, or another
        process is writing that snapshot)."""
        snapshot = self._shared(filter_name, build=False)
        if snapshot is None:
            return None
        base = entry.frame
        same = snapshot.attrs.get("content_version") == table_version(base)
        frame = base if same else self._frame(snapshot)  # the same content: keep the object (and its figures)
        now = time.monotonic()
        with self._lock:
            current = self._entries.get(filter_name)
            if current is not entry or entry.frame is not base:
                return None if current is None else current.frame
            entry.frame, entry.loaded = frame, (entry.loaded if same else now)
            entry.data_version, entry.checked, entry.stale = snapshot.version, now, False
        self._version = (now, snapshot.version)
        return frame

    def _catch_up(self, filter_name: str, entry: _Entry) -> pd.DataFrame | None:
        """The cached table brought up to the store's data version by
        applying the reviews written since it was read (milliseconds), when
        only reviews were written; None when something else was (a run
        saved, a pin, a revocation): the table must be read again."""
        if self.snapshots is not None:
            return self._catch_up_shared(filter_name, entry)
        since = getattr(self.store, "reviews_since", None)
        if since is None or entry.data_version is None:
            return None
        try:
            version, reviews = since(entry.data_version, filter_name)
        except Exception:  # a store without versions: always reload
            LOG.warning("cannot read the reviews written since %s; the table will be reloaded",
                        entry.data_version, exc_info=True)
            return None
        if reviews is None:
            return None
        base = entry.frame
        frame = with_latest_reviews(base, reviews)
        if frame is not base:
            frame.attrs[VERSION_ATTR] = content_version(frame)
        now = time.monotonic()
        with self._lock:
            current = self._entries.get(filter_name)
            if current is not entry or entry.frame is not base:  # replaced meanwhile: that one is newer
                return None if current is None else current.frame
            if frame is not base:
                entry.frame, entry.loaded = frame, now
            entry.data_version, entry.checked, entry.stale = version, now, False
        self._version = (now, version)
        return frame

    def _background(self, filter_name: str) -> None:
        try:
            self._load(filter_name)
            if gc.get_freeze_count():
                # freeze the new table too (see `warm`), after a collection:
                # freezing garbage in reference cycles (e.g. a request's
                # closures holding the replaced table) would keep it forever.
                # Cheap: the frozen objects are not scanned.
                gc.collect()
                gc.freeze()
            release_free_memory()
        finally:
            with self._lock:
                self._refreshing.discard(filter_name)

    def trend(self, filter_name: str, *, fresh: bool = False) -> pd.DataFrame:
        """Every exposure of one filter (current runs) with the control chart.

        ``fresh``: ask the store for its data version now rather than after
        the ttl (a write by another process then shows as soon as the table
        is read again)."""
        if self.ttl <= 0:
            frame = self._read_trend(filter_name)
            frame.attrs[VERSION_ATTR] = f"read-{time.monotonic()}"  # every read is a new version
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
        caught_up = self._catch_up(filter_name, entry)
        if caught_up is not None:
            return caught_up
        if entry.cost < self.sync_limit:
            return self._load(filter_name)
        with self._lock:
            start = filter_name not in self._refreshing
            self._refreshing.add(filter_name)
        if start:
            threading.Thread(target=self._background, args=(filter_name,), daemon=True).start()
        return entry.frame

    def current(self, filters: Iterable[str]) -> dict[str, pd.DataFrame] | None:
        """The cached tables of ``filters`` if every one is at the store's
        data version now (asked now, once; reviews written since are applied
        first, in milliseconds), else None: the cache is off, or a table is
        being read again after a new run, a pin or a revocation (the caller
        then asks the store). What the API's selections are answered from."""
        if self.ttl <= 0:
            return None
        try:
            version = self.store.data_version()
        except Exception:  # a store without versions: never current
            LOG.warning("cannot read the store's data version; the store answers", exc_info=True)
            return None
        tables = {}
        for name in filters:
            self._version = (time.monotonic(), version)
            frame = self.trend(name, fresh=True)
            with self._lock:
                entry = self._entries.get(name)
            if entry is None or entry.frame is not frame or entry.stale or entry.data_version != version:
                return None
            tables[name] = frame
        return tables

    def memo(self, key: Hashable, build: Callable[[], T], size: int = 24) -> T:
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
        table of its filter at once, and mark the tables stale.

        Usually the table catches up with the store (the reviews written
        since it was read, milliseconds); when something else was written
        too (a run: the table must be read again, in the background at
        survey size), the review is applied to the cached table meanwhile."""
        now = time.monotonic()
        with self._lock:
            self._reviews = [r for r in self._reviews if now - r[0] < PATCH_MEMORY]
            self._reviews.append((now, filter_name, set(keys), set(obs_ids), decision, reviewer))
            entry = self._entries.get(filter_name)
        self.invalidate()
        if entry is None or self._catch_up(filter_name, entry) is not None:
            return
        base = entry.frame
        patched = with_review(base, keys, obs_ids, decision, reviewer)  # outside the lock: a copy
        with self._lock:
            # a reload that finished meanwhile applied the review itself
            if patched is not base and self._entries.get(filter_name) is entry and entry.frame is base:
                loaded = time.monotonic()
                patched.attrs[VERSION_ATTR] = f"local-{id(self):x}-{loaded}"
                entry.frame, entry.loaded = patched, loaded

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
        start = time.monotonic()
        try:
            if not self.store.is_empty():
                for name in filters:
                    self._load(name)
                if then is not None:
                    then()
                gc.collect()
                gc.freeze()
                release_free_memory()
        except Exception:  # pragma: no cover - warming is best effort: pages load the tables themselves
            LOG.exception("warming the cached tables failed")
        finally:
            self.warmed.set()
            LOG.info("process %d warm in %.1f s (%s)", os.getpid(), time.monotonic() - start,
                     "shared snapshots" if self.snapshots is not None else "own tables")


def release_free_memory() -> None:
    """Give the memory the C allocator holds free back to the system
    (glibc's ``malloc_trim``; nothing elsewhere): what building the tables
    used and freed otherwise stays in this process's resident memory."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


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
                expected: dict | None = None) -> int | None:
    """Store one decision for exposures ``(obs_id, filter, dither)`` as one
    review batch (`relphot_core.reviews.submit`: checked there, the
    ``identity`` too, against the ``expected`` review ids) and show it in
    the cached tables at once; returns the batch id."""
    from relphot_core.reviews import check_review, submit

    batch = submit(get_store(), keys, decision, reviewer, comment, cause, about=about, identity=identity,
                   expected=expected)
    if identity is not None and identity.signs_reviews:
        reviewer = identity.name
    _show_reviews(list(keys), decision, check_review(decision, reviewer, comment, cause).reviewer)
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


def _show_reviews(keys: list[tuple[int, str, int]], decision: str, reviewer: str) -> None:
    """A review just stored, shown in the cached tables of its filters at once."""
    by_filter: dict[str, set[tuple[int, int]]] = {}
    for obs_id, filter_name, dither in keys:
        by_filter.setdefault(str(filter_name), set()).add((int(obs_id), int(dither)))
    for filter_name, pairs in by_filter.items():
        get_cache().apply_review(filter_name, pairs, set(), decision, reviewer)


def review_problem(problem_id: int, decision: str, reviewer: str, comment: str, *, cause: str = "",
                   identity: Any = None, expected: dict | None = None) -> tuple[int, int]:
    """Confirm or overrule a problem (`relphot_core.store.Store.review_problem`:
    one batch over its exposures, checked by `relphot_core.reviews.check_review`,
    the ``identity`` by `relphot_core.identity.check`) and show it in the
    cached tables; returns the batch id and the number of exposures reviewed."""
    from relphot_core.identity import Action, check
    from relphot_core.reviews import ReviewInputError, check_review

    if identity is not None:
        check(identity, Action.REVIEW)
        if identity.signs_reviews:
            reviewer = identity.name
    review = check_review(decision, reviewer, comment, cause)
    store = get_store()
    batch = store.review_problem(int(problem_id), review.decision, review.reviewer, review.comment,
                                 cause=review.cause, auth_mode=None if identity is None else identity.mode.value,
                                 expected=expected)
    if batch is None:
        raise ReviewInputError(f"problem {problem_id} has no exposure to review")
    keys = [(int(o), str(f), int(d)) for o, f, d in
            store.problem_exposures(int(problem_id))[["obs_id", "filter", "exposure"]].itertuples(index=False)]
    _show_reviews(keys, review.decision, review.reviewer)
    return batch, len(keys)


def change_problem_state(problem_id: int, action: str, by: str, *, comment: str = "",
                         expected_version: int | None = None, identity: Any = None) -> int:
    """A lead's decision on a problem (`relphot_core.store.Store.set_problem_state`),
    refused when the ``identity`` may not (`relphot_core.identity.Action.CHANGE_PROBLEM`)
    or the problem changed since the page showed ``expected_version``."""
    from relphot_core.identity import Action, check

    if identity is not None:
        check(identity, Action.CHANGE_PROBLEM)
        if identity.signs_reviews:
            by = identity.name
    return get_store().set_problem_state(int(problem_id), action, by, comment=comment,
                                         expected_version=expected_version)
