"""Limits pushed into the store's queries: the first ``limit`` observations
or exposures of a selection are the same rows, in the same order, as the
head of the whole table, whatever the selection."""
from __future__ import annotations

import pandas as pd
import pytest
from dashboard_fixtures import BAD, NODATA, WARN, fill_small_store

from relphot_core.selection import ExposureSelection

SELECTIONS = [
    {},
    {"statuses": ("FAIL",)},
    {"statuses": ("WARN", "FAIL", "NODATA")},
    {"filters": ("NIR_J",)},
    {"filters": ("NIR_H", "NIR_Y"), "statuses": ("OK",)},
    {"reviewed": "yes"},
    {"reviewed": "no", "statuses": ("OK", "FAIL")},
    {"date_from": "2025-02-10", "date_to": "2025-02-20"},
    {"obs_range": (1010, 1020), "statuses": ("OK", "FAIL")},
    {"obs_range": (2000, 2001)},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = fill_small_store(f"sqlite:///{tmp_path_factory.mktemp('limits') / 'limits.db'}")
    store.add_reviews([BAD, WARN], "confirmed", "Ada", "seen")
    store.add_reviews([NODATA], "overruled", "Bo", "no data, known")
    return store


def same(limited: pd.DataFrame, whole: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(limited.reset_index(drop=True), whole.reset_index(drop=True), check_dtype=False)


@pytest.mark.parametrize("criteria", SELECTIONS, ids=[str(s) or "all" for s in SELECTIONS])
@pytest.mark.parametrize("limit", [1, 7, 40, 1000])
def test_limited_observation_table_is_the_head_of_the_whole(store, criteria, limit):
    selection = ExposureSelection(**criteria)
    whole = store.observation_table(selection)
    limited = store.observation_table(selection, limit=limit)
    assert len(limited) == min(limit, len(whole))
    same(limited, whole.head(limit))


@pytest.mark.parametrize("criteria", SELECTIONS, ids=[str(s) or "all" for s in SELECTIONS])
@pytest.mark.parametrize("limit", [1, 7, 40, 1000])
def test_limited_exposure_table_is_the_head_of_the_whole(store, criteria, limit):
    selection = ExposureSelection(**criteria)
    whole = store.exposure_table(selection)
    limited = store.exposure_table(selection, limit=limit)
    assert len(limited) == min(limit, len(whole))
    same(limited, whole.head(limit))


def test_the_selections_are_not_all_empty(store):
    sizes = [len(store.observation_table(ExposureSelection(**c))) for c in SELECTIONS]
    assert sizes[-1] == 0 and all(n > 0 for n in sizes[:-1]), sizes
