"""The dashboard's per-filter tables, as the snapshots every worker maps.

The dashboard answers from three tables per filter, each built once per
version of the store's data (`relphot_core.store.Store.data_version`) and
written as a snapshot (`relphot_core.snapshot`) that every worker process
memory-maps:

* the **trend** (``trend-FILTER-RULES``): every exposure of the filter with
  its control chart and flags, the overview's columns only
  (`compact_table`); after reviews only, the snapshot of the new version is
  derived from the last one (`derive_trend`: the review columns written
  again, the others linked);
* the **detector rows** (``detectors-FILTER-RULES``): every (exposure,
  detector) offset with its control-chart alarms (`detector_columns`);
* the **context** of the factors (``context-FILTER``,
  `relphot_core.survey.exposure_context`).

``RULES`` is a digest of the control-chart rules and bands they are built
with: a server with other rules never maps them. The dashboard builds what
is missing when it needs it (`dashboard.data`, `dashboard.detector_cache`,
`dashboard.survey_data`); `build_snapshots` builds them all beforehand
(``relphot compute --db`` at the end of a batch, ``relphot snapshot``), so
that workers starting on a new version map them at once.

Pure pandas and numpy, no Dash: the command line builds them.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from .config import FILTERS, Control, Thresholds
from .qc.flags import exposure_flags
from .selection import sorted_nan_last
from .snapshot import Built, Column, Snapshot, SnapshotStore, kept_through_reviews, rules_key, table_columns

TREND_COLUMNS = ("obs_id", "filter", "exposure", "mjd_obs", "value", "error", "status", "reason", "n_pairs",
                 "review_decision", "reviewer", "reviewed", "running_median", "control_low", "control_high",
                 "alarm", "alarm_reason", "detector_flag", "detector_reason", "crosscheck", "collateral",
                 "global_value", "alarmed", "drift_since", "flags", "flag", "flag_reason", "run_id", "review_id")
"""The columns of the store's trend table that the overview and the triage
queue use: the cache keeps only these (masks then copy fewer bytes)."""

REVIEW_COLUMNS = ("review_decision", "reviewer", "review_id", "reviewed")
"""The columns of a cached table a review changes (`with_latest_reviews`)."""


def compact_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The cached form of a trend table: the overview's columns only,
    sorted by time, strings as categories and review flags as booleans, so
    that selections are a binary search and masks of numeric arrays."""
    if "flags" not in frame.columns:
        frame = exposure_flags(frame)
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



def content_version(frame: pd.DataFrame) -> str:
    """A digest of a table's columns and values (~10 ms for a filter of a survey)."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    digest = hashlib.blake2b(hashes.tobytes(), digest_size=8)
    digest.update("|".join(map(str, frame.columns)).encode())
    return digest.hexdigest()



def _set_rows(column: pd.Series, rows: np.ndarray, values: np.ndarray) -> pd.Series | pd.Categorical:
    """``column`` with ``values`` at the positions ``rows`` (a categorical
    column stays one: its codes are set, no string is copied)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        known = column.cat.categories
        new = pd.Index(pd.unique(values)).difference(known)
        categories = known.append(new) if len(new) else known
        codes = column.cat.codes.to_numpy().copy()
        codes[rows] = categories.get_indexer(values)
        return pd.Categorical.from_codes(codes, categories)
    out = np.array(column.astype(object), dtype=object)
    out[rows] = values
    return pd.Series(out, index=column.index)


def with_latest_reviews(frame: pd.DataFrame, reviews: pd.DataFrame | None) -> pd.DataFrame:
    """A copy of a cached table where the exposures of ``reviews`` (the
    latest reviews written since it was read, `relphot_core.store.Store.reviews_since`:
    obs_id, exposure, decision, reviewer, status) carry them (the table
    itself when none of them is in it). As in the store, an exposure counts
    as reviewed when the status reviewed is its status now."""
    if reviews is None or reviews.empty or frame.empty:
        return frame
    reviews = reviews.drop_duplicates(["obs_id", "exposure"], keep="last")
    index = pd.MultiIndex.from_arrays([frame["obs_id"].to_numpy(), frame["exposure"].to_numpy()])
    rows = index.get_indexer(pd.MultiIndex.from_arrays([reviews["obs_id"].to_numpy(),
                                                        reviews["exposure"].to_numpy()]))
    found = rows >= 0
    if not found.any():
        return frame
    rows, reviews = rows[found], reviews[found]
    frame = frame.copy(deep=False)  # the columns changed are replaced, the others shared
    for column, source in (("review_decision", "decision"), ("reviewer", "reviewer")):
        if column in frame.columns:
            frame[column] = _set_rows(frame[column], rows, reviews[source].to_numpy(dtype=object))
    if "review_id" in frame.columns and "review_id" in reviews.columns:  # what a review from the page is made against
        ids = frame["review_id"].to_numpy(dtype=float).copy()
        ids[rows] = reviews["review_id"].to_numpy(dtype=float)
        frame["review_id"] = ids
    if "reviewed" in frame.columns:
        reviewed = frame["reviewed"].to_numpy(dtype=bool).copy()
        reviewed[rows] = reviews["status"].to_numpy(dtype=object) == frame["status"].to_numpy(dtype=object)[rows]
        frame["reviewed"] = reviewed
    return frame


# ---------------------------------------------------------------- the kinds

def trend_kind(filter_name: str, control: Control | None = None, thresholds: Thresholds | None = None) -> str:
    """The snapshot kind of a filter's trend built with these rules
    (``control``: the control-chart rules; ``thresholds``: the running
    median's window and band; None: the defaults)."""
    bands = thresholds or Thresholds()
    return f"trend-{filter_name}-{rules_key(control, bands.drift_window, bands.drift_nsigma)}"


def detector_kind(filter_name: str, control: Control | None = None) -> str:
    """The snapshot kind of a filter's detector rows with these control-chart rules."""
    return f"detectors-{filter_name}-{rules_key(control or Control())}"


def context_kind(filter_name: str) -> str:
    """The snapshot kind of a filter's context of the factors."""
    return f"context-{filter_name}"


# ---------------------------------------------------------------- builds

def read_trend(store: Any, filter_name: str, control: Control | None = None,
               thresholds: Thresholds | None = None) -> pd.DataFrame:
    """The store's trend of a filter (`relphot_core.store.Store.trend`) with these rules."""
    bands = thresholds or Thresholds()
    return store.trend(filter_name, control=control, window=bands.drift_window, nsigma=bands.drift_nsigma)


def build_trend(store: Any, filter_name: str, control: Control | None = None,
                thresholds: Thresholds | None = None) -> Built:
    """A filter's trend read from the store, as a snapshot's columns: the
    data version read before it (a write during the read makes it stale at
    once), the columns of `compact_table`, and its `content_version` and
    cost as attributes."""
    start = time.monotonic()
    version = store.data_version()
    frame = compact_table(read_trend(store, filter_name, control, thresholds))
    return version, table_columns(frame), {"content_version": content_version(frame),
                                           "build_seconds": time.monotonic() - start}


def derive_trend(store: Any, filter_name: str, base: Snapshot) -> Built | None:
    """The trend snapshot of the store's version now derived from ``base``
    when only reviews were written since (None otherwise): the review
    columns (`REVIEW_COLUMNS`) new, the others ``base``'s own (linked, not
    written again)."""
    version, reviews = store.reviews_since(base.version, filter_name)
    if reviews is None:
        return None
    frame = base.frame()
    patched = with_latest_reviews(frame, reviews)
    if patched is frame:
        return version, base.columns, base.attrs
    columns = dict(base.columns)
    columns.update({name: values for name, values in table_columns(patched).items() if name in REVIEW_COLUMNS})
    return version, columns, {**base.attrs, "content_version": content_version(patched)}


DETECTOR_COLUMNS: tuple[str, ...] = ("obs_id", "exposure", "detector", "mjd_obs", "offset", "error", "n")
"""The columns of the store's detector table a detector snapshot keeps (beside
``flagged``, ``status``, ``alarm`` and ``reason``)."""


def detector_columns(table: pd.DataFrame, control: Control) -> dict[str, Column]:
    """A filter's detector rows (`relphot_core.store.Store.detector_table`,
    sorted by detector then time) as columns, with the control-chart alarms
    of every detector (`relphot_core.qc.detector_alarms`): `DETECTOR_COLUMNS`,
    ``flagged`` (WARN/FAIL status or alarm), and ``status``, ``alarm``,
    ``reason`` as categoricals (a byte a row, and a snapshot can map them)."""
    from .qc import detector_alarms
    from .status import OUT_OF_LIMITS

    columns: dict[str, Column] = {name: table[name].to_numpy() for name in DETECTOR_COLUMNS}
    status = table["status"].astype(str).to_numpy(dtype=object)
    found = detector_alarms(columns["obs_id"], columns["detector"], columns["mjd_obs"], columns["offset"],
                            columns["error"], control)
    columns["flagged"] = (found.alarm != "") | np.isin(status, OUT_OF_LIMITS)
    for name, values in (("status", status), ("alarm", found.alarm), ("reason", found.reason)):
        columns[name] = pd.Categorical(values)
    return columns


def build_detectors(store: Any, filter_name: str, control: Control | None = None) -> Built:
    """A filter's detector rows read from the store with their alarms, as a
    snapshot's columns (``built``: when, the same for every process mapping it)."""
    version = store.data_version()  # before the read: a write during it triggers a reload
    columns = detector_columns(store.detector_table(filter_name), control or Control())
    return version, columns, {"built": time.time()}


def build_context(store: Any, filter_name: str) -> Built:
    """A filter's context of the factors (`relphot_core.survey.exposure_context`)
    read from the store, as a snapshot's columns."""
    from .survey import exposure_context

    version = store.data_version()  # before the read: a run saved during it is read again
    factors, pairs = store.context_tables(filter_name)
    return version, table_columns(exposure_context(factors, pairs)), {}


# ---------------------------------------------------------------- all of them

@dataclass(frozen=True)
class Written:
    """One snapshot `build_snapshots` made sure of."""

    kind: str
    version: str
    """The data version it holds."""
    path: str
    rows: int
    seconds: float
    """What it took (reading the store, or only finding or deriving it)."""
    new: bool
    """Whether it was written now (False: it was there already)."""


def build_snapshots(store: Any, snapshots: SnapshotStore, *, control: Control | None = None,
                    thresholds: Thresholds | None = None, filters: Iterable[str] = FILTERS,
                    progress: Callable[[Written], object] | None = None) -> list[Written]:
    """Make sure every table the dashboard shares (trend, detector rows,
    context, per filter) has a snapshot of the store's data version now,
    for the rules ``control`` and ``thresholds`` (those the dashboard is
    served with; None: the defaults).

    Each is found, derived from the last one when only reviews were written
    since, or built from the store (`relphot_core.snapshot.SnapshotStore.get_or_build`:
    a dashboard worker building the same one meanwhile is waited for, not
    repeated). Returns what was made sure of, in order; ``progress`` is
    called after each. Nothing is built for an empty store."""
    if store.is_empty():
        return []
    done = []
    for name in filters:
        jobs: list[tuple[str, Callable[[], Built], Callable[[Snapshot], Built | None]]] = [
            (trend_kind(name, control, thresholds), partial(build_trend, store, name, control, thresholds),
             partial(derive_trend, store, name)),
            (detector_kind(name, control), partial(build_detectors, store, name, control),
             kept_through_reviews(store)),
            (context_kind(name), partial(build_context, store, name), kept_through_reviews(store)),
        ]
        for kind, build, update in jobs:
            start = time.monotonic()
            before = snapshots.read(kind, store.data_version())
            snapshot = before or snapshots.get_or_build(kind, store.data_version, build, update)
            assert snapshot is not None  # a build is given: there is always one
            rows = len(next(iter(snapshot.columns.values()))) if snapshot.columns else 0
            written = Written(kind, snapshot.version, str(snapshot.path), rows, time.monotonic() - start,
                              before is None)
            done.append(written)
            if progress is not None:
                progress(written)
    return done
