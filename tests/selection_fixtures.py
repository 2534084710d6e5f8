"""A store for the one-selection tests (issue 12, defect 1): the dashboard
tests' small store with more flags and a bulk review, and the issue's URL."""
from __future__ import annotations

from dashboard_fixtures import fill_small_store

from relphot_core.store import Store
from relphot_core.testing.synth import make_result

ISSUE_QUERY = "filter=NIR_J,NIR_H&status=WARN,FAIL&reviewed=no&from=2025-02-01"
"""The selection of issue 12, defect 1."""

WANTED_EXPOSURES = [(1017, "NIR_J", 3), (1020, "NIR_J", 3)]
"""What `ISSUE_QUERY` keeps of `fill_flagged_store`'s store, worked out by hand."""


def fill_flagged_store(url: str) -> Store:
    """The small store (one observation a day from 2025-01-25; 1017 NIR_J
    dither 3 FAIL, 1023 NIR_H dither 2 WARN) with more flags, and a bulk
    review of some of them and of OK exposures next to unreviewed flags."""
    store = fill_small_store(url)
    store.save_results([
        make_result(1004, "NIR_J", values=[1.0, 0.97, 1.0, 1.0], seed=901, mjd_start=60704.0),  # before 'from'
        make_result(1010, "NIR_H", values=[1.008, 1.0, 1.0, 1.008], seed=902, mjd_start=60710.0),
        make_result(1020, "NIR_J", values=[1.0, 1.0, 0.97, 1.008], seed=903, mjd_start=60720.0),
        make_result(1012, "NIR_Y", values=[0.97, 1.0, 1.0, 1.0], seed=904, mjd_start=60712.0),  # other filter
    ])
    # every flag of 1010 NIR_H and 1023 NIR_H, the WARN of 1020 NIR_J, and
    # OK exposures of observations whose FAIL stays unreviewed
    store.add_reviews([(1010, "NIR_H", 1), (1010, "NIR_H", 4), (1023, "NIR_H", 2), (1020, "NIR_J", 4),
                       (1020, "NIR_J", 1), (1017, "NIR_J", 1), (1017, "NIR_J", 2)], "confirmed", "ann", "bulk")
    return store
