"""Per-process cache of the per-filter detector tables, for the detector page.

A filter's detector table (`relphot_core.store.Store.detector_table`, ~2.6
million rows at survey size, 4 s to read) with its control-chart alarms
(`relphot_core.qc.detector_alarms`, ~1.3 s) is read once, kept as
numpy columns sorted by detector then time, so that one detector's rows of
a period are a slice (two binary searches). After ``ttl`` seconds the table
is checked against the store's data version and, when something other
than reviews was written, read again in a background thread while the old
one is served.

With a `relphot_core.snapshot.SnapshotStore` the tables are shared by the
processes serving the store, as the trend tables are (`dashboard.data`):
built once per version of the runs, by the first process that needs one,
and memory-mapped by the others; reviews (which these tables do not show)
only link the snapshot under the new data version.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from flask import current_app

from relphot_core.config import DETECTORS, Control, Detectors
from relphot_core.detector_qc import detector_summary
from relphot_core.shared_tables import build_detectors, detector_columns, detector_kind
from relphot_core.snapshot import SnapshotStore, kept_through_reviews

from .data import Memo, T

LOG = logging.getLogger(__name__)

DETECTOR_CACHE_KEY = "RELPHOT_DETECTOR_CACHE"
"""Key of the `DetectorCache` in ``app.server.config``."""


@dataclass
class DetectorSeries:
    """One filter's detector rows (current runs), sorted by detector then time."""

    filter: str
    columns: dict[str, np.ndarray]
    """obs_id, exposure, detector, mjd_obs, offset (mag), error (mag), n,
    status, alarm, reason (`pandas.Categorical` of strings), flagged (bool:
    WARN/FAIL status or alarm)."""
    bounds: dict[int, tuple[int, int]]
    """Rows of each detector: ``start, stop``."""
    version: float = field(default_factory=time.time)
    """When it was built (the same in every process sharing it): figures
    drawn from another version are redrawn."""

    def __len__(self) -> int:
        return len(self.columns["offset"])

    def span(self) -> tuple[float, float] | None:
        """First and last MJD (None when empty)."""
        mjd = self.columns["mjd_obs"]
        finite = mjd[np.isfinite(mjd)]
        return (float(finite.min()), float(finite.max())) if finite.size else None

    def rows(self, detector: int, mjd_min: float | None, mjd_max: float | None) -> slice:
        """The rows of one detector with ``mjd_min <= mjd_obs < mjd_max``."""
        start, stop = self.bounds.get(int(detector), (0, 0))
        mjd = self.columns["mjd_obs"][start:stop]
        low = 0 if mjd_min is None else int(np.searchsorted(mjd, mjd_min, side="left"))
        high = stop - start if mjd_max is None else int(np.searchsorted(mjd, mjd_max, side="left"))
        return slice(start + low, start + max(low, high))

    def detector_rows(self, detector: int, mjd_min: float | None, mjd_max: float | None) -> dict[str, np.ndarray]:
        """The columns of one detector's rows in a period (views, no copy)."""
        part = self.rows(detector, mjd_min, mjd_max)
        return {name: values[part] for name, values in self.columns.items()}

    def summary(self, mjd_min: float | None, mjd_max: float | None, thresholds: Detectors) -> pd.DataFrame:
        """`relphot_core.detector_qc.detector_summary` of a period."""
        parts = [self.rows(d, mjd_min, mjd_max) for d in DETECTORS]
        index = np.concatenate([np.arange(p.start, p.stop) for p in parts]) if parts else np.zeros(0, int)
        c = self.columns
        return detector_summary(c["detector"][index], c["offset"][index], c["error"][index], c["n"][index],
                                c["flagged"][index], thresholds, obs_id=c["obs_id"][index],
                                exposure=c["exposure"][index])


def prepare(filter_name: str, table: pd.DataFrame, control: Control) -> DetectorSeries:
    """A `DetectorSeries` from a store detector table (sorted by detector then
    time), with the control-chart alarms of every detector
    (`relphot_core.shared_tables.detector_columns`)."""
    columns = detector_columns(table, control)
    return DetectorSeries(filter_name, dict(columns), detector_bounds(np.asarray(columns["detector"])))


def detector_bounds(detector: np.ndarray) -> dict[int, tuple[int, int]]:
    """The rows ``start, stop`` of each detector in a column sorted by detector."""
    bounds = {}
    for det in DETECTORS:
        start = int(np.searchsorted(detector, det, side="left"))
        stop = int(np.searchsorted(detector, det, side="right"))
        bounds[det] = (start, stop)
    return bounds


class DetectorCache:
    """Per-process cache of `DetectorSeries` per filter.

    Parameters
    ----------
    store : relphot_core.store.Store
    ttl : float
        Seconds a table is used before the store's data version is checked
        again; 0: read on every call (no cache).
    control : relphot_core.config.Control, optional
        The control-chart rules.
    thresholds : relphot_core.config.Detectors, optional
        The detector status limits (bands and period statuses).
    snapshots : relphot_core.snapshot.SnapshotStore, optional
        Where the tables are shared with the other processes (None: this
        process builds its own).
    """

    def __init__(self, store, ttl: float = 20.0, control: Control | None = None,
                 thresholds: Detectors | None = None, snapshots: SnapshotStore | None = None) -> None:
        self.store = store
        self.snapshots = snapshots
        self.ttl = ttl
        self.control = control or Control()
        self.thresholds = thresholds or Detectors()
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[DetectorSeries, str | None, float]] = {}
        self._loading: set[str] = set()
        self._memo = Memo(48)

    def _version(self) -> str | None:
        try:
            return self.store.data_version()
        except Exception:  # a store without versions: always reload
            LOG.warning("cannot read the store's data version; the detector tables will be reloaded",
                        exc_info=True)
            return None

    def _reviews_only(self, version: str | None) -> bool:
        """Whether the only writes since ``version`` were reviews."""
        since = getattr(self.store, "reviews_since", None)
        if since is None or version is None:
            return False
        try:
            return since(version)[1] is not None
        except Exception:  # a store without versions: always reload
            LOG.warning("cannot read the reviews written since %s", version, exc_info=True)
            return False

    def snapshot_kind(self, filter_name: str) -> str:
        """The kind of a filter's snapshots: the filter and the control-chart rules."""
        return detector_kind(filter_name, self.control)

    def _shared(self, filter_name: str) -> tuple[DetectorSeries, str] | None:
        """The shared snapshot of a filter's table (None when it fails: then read here)."""
        assert self.snapshots is not None
        try:
            snapshot = self.snapshots.get_or_build(self.snapshot_kind(filter_name), self.store.data_version,
                                                   lambda: build_detectors(self.store, filter_name, self.control),
                                                   kept_through_reviews(self.store))
        except Exception:
            LOG.warning("the shared detector snapshot of %s failed; reading the store", filter_name, exc_info=True)
            return None
        if snapshot is None:
            return None
        columns = dict(snapshot.columns)
        return (DetectorSeries(filter_name, columns, detector_bounds(columns["detector"]),
                               float(snapshot.attrs.get("built", snapshot.written))), snapshot.version)

    def _load(self, filter_name: str) -> DetectorSeries:
        shared = self._shared(filter_name) if self.snapshots is not None else None
        version: str | None
        if shared is not None:
            series, version = shared
        else:
            version = self._version()  # before the read: a write during it triggers a reload
            series = prepare(filter_name, self.store.detector_table(filter_name), self.control)
        with self._lock:
            self._entries[filter_name] = (series, version, time.monotonic())
        return series

    def _background(self, filter_name: str) -> None:
        try:
            self._load(filter_name)
        finally:
            with self._lock:
                self._loading.discard(filter_name)

    def series(self, filter_name: str) -> DetectorSeries:
        """The detector rows of one filter with their alarms."""
        if self.ttl <= 0:
            return self._load(filter_name)
        with self._lock:
            entry = self._entries.get(filter_name)
        if entry is None:
            return self._load(filter_name)
        series, version, checked = entry
        now = time.monotonic()
        if now - checked < self.ttl:
            return series
        current = self._version()
        if current is not None and (current == version or self._reviews_only(version)):
            # nothing written since the read, or only reviews (not in these tables)
            with self._lock:
                self._entries[filter_name] = (series, current, now)
            return series
        with self._lock:
            start = filter_name not in self._loading
            self._loading.add(filter_name)
        if start:  # serve the old table meanwhile
            threading.Thread(target=self._background, args=(filter_name,), daemon=True).start()
        return series

    def memo(self, key: Hashable, build: Callable[[], T], size: int = 48) -> T:
        """``build()`` remembered under ``key`` (the last ``size`` keys)."""
        return self._memo(key, build, size)

    def warm(self, filters: Iterable[str]) -> None:
        """Read every filter's table (at start-up; best effort)."""
        for name in filters:
            try:
                self._load(name)
            except Exception:  # noqa: BLE001 - warming is best effort
                pass


def get_detector_cache() -> DetectorCache:
    """The `DetectorCache` of the running app."""
    return current_app.config[DETECTOR_CACHE_KEY]
