"""The one selection model (`relphot_core.selection`): its parameters' round
trip, its rules, and the same exposures and products selected from a data
frame and by the store's SQL, on random stores."""
from __future__ import annotations

import tempfile
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.query import Selection, parse_selection as parse_page_selection, with_updates
from relphot_core.config import FILTERS
from relphot_core.selection import (ALL_STATUSES, ExposureSelection, SelectionError, day_to_mjd,
                                    observation_keys, parse_selection, select_exposures)
from relphot_core.store import Store
from relphot_core.testing.synth import make_result
from store_fixtures import store_url  # noqa: F401  (fixture)

FIRST_DAY = date(2025, 1, 20)  # MJD 60695


def days(lo: int = -3, hi: int = 30):
    return st.integers(lo, hi).map(lambda n: (FIRST_DAY + timedelta(days=n)).isoformat())


@st.composite
def selections(draw) -> ExposureSelection:
    """Any valid selection (criteria only)."""
    day_from = draw(st.one_of(st.none(), days()))
    day_to = draw(st.one_of(st.none(), days()))
    if day_from and day_to and day_from > day_to:
        day_from, day_to = day_to, day_from
    obs = draw(st.one_of(st.none(), st.tuples(st.integers(0, 40), st.integers(0, 40)).map(sorted).map(tuple)))
    return ExposureSelection(
        filters=tuple(draw(st.sets(st.sampled_from(FILTERS), min_size=1))),
        statuses=tuple(draw(st.sets(st.sampled_from(ALL_STATUSES), min_size=1))),
        reviewed=draw(st.sampled_from(["any", "yes", "no"])),
        date_from=day_from, date_to=day_to, obs_range=obs)


# -------------------------------------------------------------- parameters
@settings(max_examples=300, deadline=None)
@given(selections())
def test_parameters_round_trip(sel):
    params = sel.to_params()
    assert set(params) <= {"filter", "status", "reviewed", "from", "to", "obs"}
    again = parse_selection(params)
    assert again == sel and not again.messages
    assert ExposureSelection.from_params(params) == sel
    # the command-line options are the same parameters
    options = sel.to_options()
    assert dict(zip([o[2:] for o in options[::2]], options[1::2])) == params


@settings(max_examples=200, deadline=None)
@given(selections(), st.sampled_from(["time", "obsid"]), st.sampled_from(["status", "dither"]),
       st.sampled_from(["robust", "all"]), st.sampled_from([None, *FILTERS]))
def test_page_selection_round_trips_through_its_url(sel, x, by, yrange, trend):
    page = Selection(**{k: getattr(sel, k) for k in ("filters", "statuses", "reviewed", "date_from", "date_to",
                                                     "obs_range")},
                     x=x, by=by, yrange=yrange, trend=trend if trend in sel.filters else None)
    again = parse_page_selection(dict(parse_qsl(urlsplit(page.to_search()).query)))
    assert not again.messages
    assert again.criteria() == sel == page.criteria()
    assert (again.x, again.by, again.yrange, again.trend_filter) == (x, by, yrange, page.trend_filter)


def test_defaults_select_everything_and_write_no_parameter():
    assert ExposureSelection().to_params() == {} and ExposureSelection().selects_everything
    assert parse_selection({}) == ExposureSelection() and parse_selection(None) == ExposureSelection()
    assert not ExposureSelection(reviewed="no").selects_everything


def test_construction_normalises_and_checks():
    sel = ExposureSelection(filters=("NIR_H", "NIR_J", "NIR_H"), statuses=("FAIL", "WARN"), reviewed="all",
                            date_from=date(2025, 2, 1))
    assert sel.filters == ("NIR_J", "NIR_H") and sel.statuses == ("WARN", "FAIL") and sel.reviewed == "any"
    assert sel.date_from == "2025-02-01"
    for kwargs, fragment in [
        (dict(filters=("NIR_Q",)), "unknown filter 'NIR_Q'"),
        (dict(filters=()), "at least one filter"),
        (dict(statuses=("BAD",)), "unknown status 'BAD'"),
        (dict(reviewed="maybe"), "'reviewed' must be one of any, yes, no"),
        (dict(date_from="2025-02-30"), "'from' must be a date"),
        (dict(date_to="1999-12-31"), "outside 2000-2100"),
        (dict(date_from="2025-03-01", date_to="2025-02-01"), "the date range is empty"),
        (dict(obs_range=(20, 10)), "observation range 20-10"),
    ]:
        with pytest.raises(SelectionError, match=fragment):
            ExposureSelection(**kwargs)


def test_dates_are_whole_utc_days_both_included():
    sel = ExposureSelection(date_from="2025-02-01", date_to="2025-02-03")
    assert (sel.mjd_min, sel.mjd_max) == (day_to_mjd("2025-02-01"), day_to_mjd("2025-02-04"))
    mjd = sel.mjd_min + np.array([-1e-6, 0.0, 2.999999, 3.0, np.nan])
    frame = pd.DataFrame({"obs_id": 1, "filter": "NIR_J", "status": "OK", "reviewed": False, "mjd_obs": mjd})
    assert select_exposures(frame, sel)["mjd_obs"].tolist() == [mjd[1], mjd[2]]


def test_parse_reports_each_bad_value_and_strict_parse_refuses():
    sel = parse_selection({"filter": "NIR_J,NIR_Q", "status": "fail,odd", "reviewed": "perhaps",
                           "from": "2025-13-01", "obs": "12-x"})
    assert sel.filters == ("NIR_J",) and sel.statuses == ("FAIL",) and sel.reviewed == "any"
    assert sel.date_from is None and sel.obs_range is None and len(sel.messages) == 5
    reversed_ = parse_selection({"obs": "30-20"})
    assert reversed_.obs_range == (20, 30) and "lowest id first" in reversed_.messages[0]
    with pytest.raises(SelectionError) as info:  # a script or command line: refused, not guessed
        ExposureSelection.from_params({"obs": "30-20"})
    assert str(info.value) == "'obs' 30-20 is a reversed range: write the lowest id first, 20-30."
    with pytest.raises(SelectionError) as info:
        ExposureSelection.from_params({"status": "odd", "to": "tomorrow"})
    assert str(info.value) == ("Unknown status 'ODD' (choose among OK, WARN, FAIL, NODATA). "
                               "'to' must be a date like 2026-03-01, not 'tomorrow'.")


def test_page_helpers_keep_working():
    sel = parse_page_selection({"filter": "NIR_J", "obs": "5-9", "x": "obsid"})
    assert sel.obs == "5-9" and sel.obs_range == (5, 9) and isinstance(sel, ExposureSelection)
    assert with_updates(sel, obs="7").obs_range == (7, 7)
    assert with_updates(sel, statuses=("FAIL",)).to_search() == "?filter=NIR_J&status=FAIL&obs=5-9&x=obsid"


# ------------------------------------------------------- frames versus SQL
VALUES = {"OK": 1.0, "WARN": 1.008, "FAIL": 0.97, "NODATA": None}


def random_store(url: str, seed: int) -> Store:
    """A store of random statuses, times on and around midnight, stale and
    current reviews: what makes the rules' edges matter."""
    rng = np.random.default_rng(seed)
    store = Store.open(url)
    results = []
    for obs_id in range(1, 1 + int(rng.integers(4, 16))):
        start = day_to_mjd(FIRST_DAY.isoformat()) + int(rng.integers(0, 25)) + rng.choice([0.0, 0.5, 0.9985])
        for name in rng.choice(FILTERS, int(rng.integers(1, 4)), replace=False):
            statuses = rng.choice(ALL_STATUSES, 4, p=[0.55, 0.2, 0.15, 0.1])
            results.append(make_result(obs_id, str(name), values=[VALUES[s] for s in statuses], seed=obs_id,
                                       mjd_start=float(start), n_detectors=0, n_sample=0))
    store.save_results(results)
    table = store.exposure_table()
    chosen = table.sample(frac=0.4, random_state=seed)
    keys = [(int(o), str(f), int(e)) for o, f, e in zip(chosen["obs_id"], chosen["filter"], chosen["exposure"])]
    store.add_reviews(keys, "confirmed", "rev", "")
    # a recomputation changes statuses: some reviews no longer count
    for result in results[: len(results) // 3]:
        statuses = rng.choice(ALL_STATUSES, 4)
        store.save_result(make_result(result.obs_id, result.filter, values=[VALUES[s] for s in statuses],
                                      seed=result.obs_id + 1000, mjd_start=result.mjd_start, n_detectors=0,
                                      n_sample=0))
    return store


def check_frame_equals_sql(store: Store, sels: list[ExposureSelection]) -> None:
    everything = store.exposure_table()
    assert everything["reviewed"].any() and not everything["reviewed"].all()
    key = ["obs_id", "filter", "exposure"]
    for sel in sels:
        by_frame = select_exposures(everything, sel)
        by_sql = store.exposure_table(sel)
        assert by_sql[key].values.tolist() == by_frame[key].values.tolist(), sel
        products = observation_keys(by_frame)
        table = store.observation_table(sel)
        assert list(zip(table["obs_id"], table["filter"])) == products, sel
        assert [(r.obs_id, r.filter) for r in store.iter_results(selection=sel, details=False)] == products
        counts = store.status_counts(sel)
        assert int(counts["n_exposures"].sum()) == len(by_frame)
        if len(by_frame):  # the trend of one filter selects the same rows of it
            name = sel.filters[0]
            trend = store.trend(name, sel)
            want = by_frame[by_frame["filter"] == name].sort_values(["mjd_obs", "obs_id", "exposure"])
            assert trend[key].values.tolist() == want[key].values.tolist()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), sels=st.lists(selections(), min_size=4, max_size=8))
def test_frame_selection_equals_sql_selection_on_random_stores(seed, sels):
    with tempfile.TemporaryDirectory() as tmp:
        store = random_store(f"sqlite:///{Path(tmp) / 'random.db'}", seed)
        try:
            check_frame_equals_sql(store, sels + [ExposureSelection()])
        finally:
            store.close()


def random_selection(rng: np.random.Generator) -> ExposureSelection:
    def some(values):
        return tuple(v for v in values if rng.random() < 0.5) or (values[int(rng.integers(len(values)))],)

    day = [None if rng.random() < 0.4 else (FIRST_DAY + timedelta(days=int(rng.integers(-3, 30)))).isoformat()
           for _ in range(2)]
    if day[0] and day[1] and day[0] > day[1]:
        day.reverse()
    obs = None if rng.random() < 0.5 else tuple(sorted(int(v) for v in rng.integers(0, 20, 2)))
    return ExposureSelection(filters=some(FILTERS), statuses=some(ALL_STATUSES),
                             reviewed=str(rng.choice(["any", "yes", "no"])), date_from=day[0], date_to=day[1],
                             obs_range=obs)


def test_frame_selection_equals_sql_selection_on_both_databases(store_url):
    # the same check on SQLite and PostgreSQL: a random store, random selections
    store = random_store(store_url, seed=11)
    rng = np.random.default_rng(5)
    try:
        check_frame_equals_sql(store, [random_selection(rng) for _ in range(30)] + [
            ExposureSelection(statuses=("WARN", "FAIL"), reviewed="no", date_from="2025-02-01"),
            ExposureSelection(date_to="2025-01-25", obs_range=(3, 9))])
    finally:
        store.close()
