"""The API's selection routes answered from the cached tables
(`dashboard.selections`) give what the store gives, and stay right when
another process writes."""
from __future__ import annotations

import pandas as pd
import pytest

from dashboard import create_app
from relphot_core.selection import ExposureSelection
from relphot_core.store import Store
from relphot_core.testing.synth import fill_survey

QUERIES = [
    "", "?limit=7", "?limit=1", "?status=FAIL", "?status=FAIL&limit=5", "?status=WARN,FAIL&reviewed=no&limit=11",
    "?reviewed=yes", "?filter=NIR_J&limit=40", "?filter=NIR_H,NIR_Y&status=OK&limit=25", "?obs=20-35",
    "?obs=20-35&status=WARN,FAIL,NODATA&limit=3", "?from=2026-01-01&limit=9", "?to=2025-06-01&limit=9",
    "?flagged=1", "?flagged=1&limit=4", "?flagged=0&filter=NIR_J&limit=30", "?awaiting=1&limit=6",
    "?awaiting=0&status=FAIL", "?flagged=1&awaiting=1&obs=1-40", "?status=NODATA&reviewed=yes&limit=3",
    "?obs=999-1000",
]
"""Selections of every kind: limits that cut and that do not, empty ones, the flags."""


@pytest.fixture(scope="module")
def survey(tmp_path_factory):
    store = Store.open(f"sqlite:///{tmp_path_factory.mktemp('selections') / 'survey.db'}")
    fill_survey(store, 80, seed=3, review_fraction=0.3)
    return store


def _answers(app, route: str) -> list:
    client = app.server.test_client()
    out = []
    for query in QUERIES:
        response = client.get(route + query)
        assert response.status_code == 200, (route + query, response.data[:200])
        out.append(response.data if route.endswith(".csv") else response.get_json())
    return out


@pytest.mark.parametrize("route", ["/api/exposures", "/api/observations", "/download/exposures.csv"])
def test_cached_tables_answer_as_the_store(survey, route):
    cached, uncached = create_app(survey, warm=False), create_app(survey, cache_ttl=0, warm=False)
    from_tables = _answers(cached, route)
    assert from_tables == _answers(uncached, route)
    if route.startswith("/api/"):  # the cases mean something: counts, cuts and empty answers all occur
        key = route.rsplit("/", 1)[1]
        assert any(a["truncated"] for a in from_tables) and any(a["count"] == 0 for a in from_tables)
        assert all(a["count"] == len(a[key]) and a["total"] >= a["count"] for a in from_tables)
        assert all(a["truncated"] == (a["total"] > a["count"]) for a in from_tables)


def test_the_cached_tables_are_used_and_counted_as_the_store_counts(survey):
    app = create_app(survey, warm=False)
    client = app.server.test_client()
    body = client.get("/api/exposures?status=FAIL,WARN&limit=3").get_json()
    assert body["total"] == survey.exposure_count(ExposureSelection(statuses=("WARN", "FAIL")))
    observations = client.get("/api/observations?status=FAIL&limit=2").get_json()
    assert observations["total"] == survey.observation_count(ExposureSelection(statuses=("FAIL",)))
    cache = app.server.config["RELPHOT_CACHE"]
    assert set(cache.current(("NIR_Y", "NIR_J", "NIR_H"))) == {"NIR_Y", "NIR_J", "NIR_H"}  # answered from them


def test_observations_route_honours_flagged_and_awaiting(survey):
    client = create_app(survey, warm=False).server.test_client()
    exposures = client.get("/api/exposures?awaiting=1").get_json()["exposures"]
    holding = sorted({(e["obs_id"], e["filter"]) for e in exposures})
    body = client.get("/api/observations?awaiting=1").get_json()
    assert holding and [(o["obs_id"], o["filter"]) for o in body["observations"]] == holding
    assert body["total"] == len(holding)
    unflagged = client.get("/api/observations?flagged=0").get_json()
    assert unflagged["total"] > 0 and all(o["n_exposures"] > 0 for o in unflagged["observations"])
    assert client.get("/api/observations?flagged=2").status_code == 400


def test_writes_by_another_process_show_at_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'survey.db'}"
    store = Store.open(url)
    fill_survey(store, 40, seed=5, review_fraction=0.0)
    client = create_app(store, warm=False).server.test_client()
    before = client.get("/api/exposures?status=FAIL&reviewed=no").get_json()
    assert before["total"] > 0
    first = before["exposures"][0]
    other = Store.open(url)  # another process's store: this app hears of it through the data version only
    other.add_reviews([(first["obs_id"], first["filter"], first["exposure"])], "confirmed", "bob", "seen")
    after = client.get("/api/exposures?status=FAIL&reviewed=no&limit=1").get_json()
    assert after["total"] == before["total"] - 1
    key = ("obs_id", "filter", "exposure")
    assert [after["exposures"][0][k] for k in key] != [first[k] for k in key]
    fill_survey(other, 5, seed=6, first_obs_id=1000, review_fraction=0.0)  # new runs: new observations
    grown = client.get("/api/observations?obs=1000-1004&limit=100").get_json()
    assert grown["total"] == 15 and grown["count"] == 15


def test_store_reads_the_rows_of_named_observations(survey, monkeypatch):
    from relphot_core.store import queries

    everything = survey.exposure_table()
    keys = [(3, "NIR_J"), (4, "NIR_Y"), (70, "NIR_H"), (4, "NIR_J")]
    named = pd.Series(list(zip(everything["obs_id"], everything["filter"]))).isin(keys).to_numpy()
    got = survey.exposure_table(observations=keys)
    # (the time of the reviews: the unit pandas infers depends on the values read)
    pd.testing.assert_frame_equal(got, everything[named].reset_index(drop=True), check_dtype=False)
    fail = ExposureSelection(statuses=("FAIL",))
    pd.testing.assert_frame_equal(survey.exposure_table(fail, observations=keys),
                                  got[got["status"] == "FAIL"].reset_index(drop=True), check_dtype=False)
    observations = survey.observation_table(observations=keys)
    assert list(zip(observations["obs_id"], observations["filter"])) == sorted(keys)
    every = survey.observation_table()
    named = pd.Series(list(zip(every["obs_id"], every["filter"]))).isin(keys).to_numpy()
    pd.testing.assert_frame_equal(observations, every[named].reset_index(drop=True))
    assert survey.exposure_table(observations=[]).empty and survey.observation_table(observations=[]).empty
    monkeypatch.setattr(queries, "KEYS_PER_QUERY", 3)  # several queries: the same rows, in order
    pd.testing.assert_frame_equal(survey.exposure_table(observations=keys), got)
    pd.testing.assert_frame_equal(survey.observation_table(observations=keys, limit=2), observations.head(2))
