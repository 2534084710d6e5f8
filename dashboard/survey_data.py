"""What the survey pages read from the store, remembered per process: the
comparison of two choices of runs (the compare page and ``/api/compare``).

Each value is keyed by the store's data version, so a run saved or a pin
set shows at the next request; the last few are kept
(`dashboard.data.Memo`).
"""
from __future__ import annotations

from flask import current_app

from relphot_core.compare import RunChoice, RunComparison, compare_runs
from relphot_core.config import FILTERS

from .data import Memo, get_store

SURVEY_MEMO_KEY = "relphot.survey_memo"


def _memo() -> Memo:
    memo = current_app.config.get(SURVEY_MEMO_KEY)
    if memo is None:
        memo = current_app.config.setdefault(SURVEY_MEMO_KEY, Memo(4))
    return memo


def run_comparison(before: RunChoice, after: RunChoice) -> RunComparison:
    """`relphot_core.compare.compare_runs` of two choices of runs, every filter."""
    store = get_store()

    def build() -> RunComparison:
        factors_before, runs_before = store.choice_factors(before, FILTERS)
        factors_after, runs_after = store.choice_factors(after, FILTERS)
        return compare_runs(factors_before, factors_after, runs_before, runs_after)

    return _memo()(("compare", str(before), str(after), store.data_version()), build)
