"""The API's selections answered from the cached per-filter tables.

`/api/exposures`, `/api/observations` and the downloads select among the
480,000 exposures of a survey and say how many are selected. Counting in
SQL costs 0.2-0.3 s a request at that size; the per-filter tables the pages
already hold (`dashboard.data.DataCache`, shared by the workers as
snapshots) answer it in milliseconds: the selection's masks
(`relphot_core.selection.exposure_rows`) and the flags
(`relphot_core.qc.flags`) give the count and the first ``limit`` keys in
the API's order (obs_id, filter, exposure); the store then reads the rows
of those few observations only (`relphot_core.store.Store.exposure_table`
with ``observations``).

The tables are used only when they are at the store's data version now
(`dashboard.data.DataCache.current`); otherwise (the cache off, or a
table being read again after a new run) the callers ask the store.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from relphot_core.qc.flags import awaits_review
from relphot_core.selection import ExposureSelection, exposure_rows

CHART_FLAG_COLUMNS: tuple[str, ...] = ("alarm", "alarm_reason", "drift_since", "flags")
"""The flag columns of the API's exposure rows that the cached tables hold."""


@dataclass
class Chosen:
    """What a selection keeps of the cached tables."""

    exposures: pd.DataFrame
    """The first ``limit`` selected exposures in (obs_id, filter, exposure)
    order (all without a limit): obs_id, filter, exposure and
    `CHART_FLAG_COLUMNS`."""
    n_exposures: int
    """How many exposures are selected (without the limit)."""


def _positions(table: pd.DataFrame, selection: ExposureSelection, wanted: Mapping[str, bool]) -> np.ndarray:
    """The rows of one filter's cached table that the selection and the
    ``flagged`` / ``awaiting`` choices keep."""
    start, stop, mask = exposure_rows(table, selection)
    positions = np.arange(start, stop) if mask is None else np.flatnonzero(mask) + start
    if wanted and len(positions):
        part = table[["flags", "reviewed"]].iloc[positions]
        keep = np.ones(len(positions), dtype=bool)
        if "flagged" in wanted:
            keep &= (part["flags"].to_numpy() != 0) == wanted["flagged"]
        if "awaiting" in wanted:
            keep &= awaits_review(part) == wanted["awaiting"]
        positions = positions[keep]
    return positions


def _smallest(obs_ids: np.ndarray, limit: int | None) -> np.ndarray:
    """Which of ``obs_ids`` may be among the ``limit`` smallest (all of the
    smallest ``limit``, ties included), without sorting them all."""
    if limit is None or len(obs_ids) <= limit:
        return np.ones(len(obs_ids), dtype=bool)
    return obs_ids <= np.partition(obs_ids, limit - 1)[limit - 1]


def choose_exposures(tables: Mapping[str, pd.DataFrame], selection: ExposureSelection,
                     wanted: Mapping[str, bool], limit: int | None) -> Chosen:
    """The exposures of ``tables`` (filter -> cached table, the selection's
    filters) that a selection keeps, with ``flagged`` / ``awaiting``
    (`relphot_core.qc.flags`; absent from ``wanted``: either), the first
    ``limit`` of them, and how many there are."""
    parts, total = [], 0
    for name in sorted(tables):  # the API's order: obs_id, then filter as the store sorts it
        table = tables[name]
        positions = _positions(table, selection, wanted)
        total += len(positions)
        obs_ids = table["obs_id"].to_numpy()[positions]
        keep = _smallest(obs_ids, limit)
        positions = positions[keep]
        part = {"obs_id": obs_ids[keep], "exposure": table["exposure"].to_numpy()[positions]}
        for column in CHART_FLAG_COLUMNS:  # the rows' values only (a categorical's codes taken, not the column)
            part[column] = (table[column].iloc[positions].to_numpy() if column in table
                            else np.full(len(positions), np.nan))
        frame = pd.DataFrame(part)
        frame.insert(1, "filter", name)
        parts.append(frame)
    if not parts:
        chosen = pd.DataFrame({name: pd.Series(dtype=object) for name in ("obs_id", "filter", "exposure",
                                                                         *CHART_FLAG_COLUMNS)})
        return Chosen(chosen, 0)
    chosen = pd.concat(parts, ignore_index=True)
    chosen = chosen.sort_values(["obs_id", "filter", "exposure"], kind="stable", ignore_index=True)
    if limit is not None:
        chosen = chosen.head(limit)
    return Chosen(chosen.assign(alarm=chosen["alarm"].astype(object).fillna(""),
                                alarm_reason=chosen["alarm_reason"].astype(object).fillna(""),
                                flags=chosen["flags"].astype(int)), total)


def choose_observations(tables: Mapping[str, pd.DataFrame], selection: ExposureSelection,
                        wanted: Mapping[str, bool], limit: int | None) -> tuple[list[tuple[int, str]], int]:
    """The (obs_id, filter) holding an exposure of ``tables`` that a
    selection keeps (with ``flagged`` / ``awaiting`` as in
    `choose_exposures`): the first ``limit`` in (obs_id, filter) order, and
    how many there are."""
    keys: list[tuple[int, str]] = []
    total = 0
    for name in sorted(tables):
        table = tables[name]
        obs_ids = pd.unique(table["obs_id"].to_numpy()[_positions(table, selection, wanted)])
        total += len(obs_ids)
        if limit is not None and len(obs_ids) > limit:
            obs_ids = np.partition(obs_ids, limit - 1)[:limit]
        keys.extend((int(obs_id), name) for obs_id in obs_ids)
    keys.sort()
    return (keys if limit is None else keys[:limit]), total
