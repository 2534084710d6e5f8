"""What the survey pages read from the store, remembered per process: the
comparison of two choices of runs (the compare page and ``/api/compare``)
and the list of observations with their pointings (the observation list
and the sky map).

Each value is keyed by the store's data version, so a run saved or a pin
set shows at the next request; the last few are kept
(`dashboard.data.Memo`).  The context of the factors, when the
workers share snapshots, is shared too (one read of the store per run
saved, for all the workers).
"""
from __future__ import annotations

import logging
from functools import partial

import numpy as np
import pandas as pd
from flask import current_app

from relphot_core.compare import RunChoice, RunComparison, compare_runs
from relphot_core.config import FILTERS
from relphot_core.shared_tables import build_context, context_kind
from relphot_core.snapshot import kept_through_reviews

from .data import Memo, get_store

LOG = logging.getLogger(__name__)

SURVEY_MEMO_KEY = "relphot.survey_memo"


def memo() -> Memo:
    """The process's memo of survey values (kept in the Flask config: one per app)."""
    memo = current_app.config.get(SURVEY_MEMO_KEY)
    if memo is None:
        memo = current_app.config.setdefault(SURVEY_MEMO_KEY, Memo(32))
    return memo


def run_comparison(before: RunChoice, after: RunChoice) -> RunComparison:
    """`relphot_core.compare.compare_runs` of two choices of runs, every filter."""
    store = get_store()

    def build() -> RunComparison:
        factors_before, runs_before = store.choice_factors(before, FILTERS)
        factors_after, runs_after = store.choice_factors(after, FILTERS)
        return compare_runs(factors_before, factors_after, runs_before, runs_after)

    return memo()(("compare", str(before), str(after), store.data_version()), build)


LIST_FIELDS: tuple[str, ...] = ("obs", "filter", "date", "dithers", "worst", "offset", "flags", "problems", "reviewed",
                                "run", "ra", "dec")
"""The fields of `observation_list` (the observation list's grid columns)."""


def _flags_text(summary: pd.DataFrame) -> np.ndarray:
    """"2 detector, 1 cross-check, 3 control chart" per row (built for the flagged rows only: most have none)."""
    counts = summary[["n_detector", "n_crosscheck", "n_alarm"]].to_numpy()
    out = np.full(len(summary), "", dtype=object)
    for i in np.flatnonzero(counts.sum(axis=1) > 0):
        out[i] = ", ".join(f"{n} {name}" for n, name in zip(counts[i], ("detector", "cross-check", "control chart"))
                           if n)
    return out


def _dates(mjd: np.ndarray) -> np.ndarray:
    """MJD -> ``YYYY-MM-DD`` (UTC; empty when not finite), vectorised."""
    good = np.isfinite(mjd) & (mjd > -58000.0) & (mjd < 124000.0)
    seconds = np.floor(np.where(good, (mjd - 40587.0) * 86400.0, 0.0)).astype("int64").astype("datetime64[s]")
    return np.where(good, np.datetime_as_string(seconds, unit="D"), "").astype(object)


def list_frame(summary: pd.DataFrame, pointings: pd.DataFrame, problems: pd.DataFrame | None = None) -> pd.DataFrame:
    """The observation list's rows (`LIST_FIELDS`) of an
    `relphot_core.survey.observation_summary`, the store's pointings and
    its problems per observation (`relphot_core.store.Store.observation_problems`)."""
    if summary.empty:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in LIST_FIELDS})
    merged = summary.merge(pointings[["obs_id", "filter", "ra", "dec"]], on=["obs_id", "filter"], how="left")
    if problems is not None and len(problems):
        merged = merged.merge(problems[["obs_id", "filter", "problems"]], on=["obs_id", "filter"], how="left")
    else:
        merged["problems"] = None
    band = merged["filter"].map({name: i for i, name in enumerate(FILTERS)}).fillna(len(FILTERS))
    merged = merged.assign(band=band).sort_values(["obs_id", "band"], kind="stable", ignore_index=True)
    any_flag = (merged["worst_status"] != "OK") | (merged[["n_detector", "n_crosscheck", "n_alarm"]].sum(axis=1) > 0)
    awaiting = merged["n_awaiting"].to_numpy()
    reviewed = np.where(~any_flag.to_numpy(), "—", np.where(awaiting == 0, "yes", "no"))
    reviewed = np.where(awaiting > 0, np.char.add("no: ", awaiting.astype(str)) + " awaiting", reviewed)
    return pd.DataFrame({
        "obs": merged["obs_id"].astype(np.int64), "filter": merged["filter"].astype(str),
        "date": _dates(merged["mjd_start"].to_numpy(dtype=float)),
        "dithers": merged["n_dithers"].astype(np.int64), "worst": merged["worst_status"],
        "offset": merged["max_offset"].astype(float).round(6), "flags": _flags_text(merged),
        "problems": merged["problems"].fillna("").astype(object),
        "reviewed": reviewed.astype(object), "run": merged["run_id"].astype(np.int64),
        "ra": merged["ra"].astype(float).round(4), "dec": merged["dec"].astype(float).round(4),
    })


def observation_list() -> pd.DataFrame:
    """One row per (observation, filter) of the current runs (`list_frame`),
    from the overview's cached tables; remembered per version of those tables."""
    from relphot_core.survey import observation_summary

    from .data import get_cache, table_version

    cache = get_cache()
    frames = [cache.trend(name) for name in FILTERS]
    store = get_store()
    key = ("observation-list", *(table_version(frame) for frame in frames), store.problems_version())

    def build() -> pd.DataFrame:
        parts = [observation_summary(frame) for frame in frames if frame is not None and len(frame)]
        summary = pd.concat(parts, ignore_index=True) if parts else observation_summary(pd.DataFrame())
        frame = list_frame(summary, store.pointings(), store.observation_problems())
        frame.attrs["key"] = key
        return frame

    return memo()(key, build)


def context_season(filter_name: str) -> pd.DataFrame:
    """`relphot_core.survey.exposure_context` of a filter's current runs,
    remembered per data version of the store; shared by the workers as a
    snapshot when the cached tables are (`dashboard.data`; reviews, which
    do not change it, only link it under the new version)."""
    from relphot_core.survey import exposure_context

    from .data import get_cache

    store = get_store()
    snapshots = get_cache().snapshots

    def build() -> pd.DataFrame:
        factors, pairs = store.context_tables(filter_name)
        return exposure_context(factors, pairs)

    def shared() -> pd.DataFrame:
        assert snapshots is not None  # chosen below only then
        try:
            snapshot = snapshots.get_or_build(context_kind(filter_name), store.data_version,
                                              partial(build_context, store, filter_name),
                                              kept_through_reviews(store))
        except Exception:
            LOG.warning("the shared context of %s failed; reading the store", filter_name, exc_info=True)
            snapshot = None
        return build() if snapshot is None else snapshot.frame()

    return memo()(("context", filter_name, store.data_version()), build if snapshots is None else shared)
