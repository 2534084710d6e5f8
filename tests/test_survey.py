"""The survey at a glance: per-observation summaries, the projection and
HEALPix cells (`relphot_core.survey`), the grid's server-side filter and
sort (`dashboard.grid_query`), the observation list and the sky map's
figures and views, on a real store."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import create_app
from dashboard.figures.sky import FULL_VIEW, sky_figure
from dashboard.grid_query import filter_rows, rows_block, sort_rows
from dashboard.pages import observations, sky
from dashboard_fixtures import BAD, N_OBS, NODATA, WARN, fill_small_store
from relphot_core.survey import (cell_summary, hammer_radec, hammer_xy, healpix_index, observation_summary,
                                 status_rank)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = fill_small_store(f"sqlite:///{tmp_path_factory.mktemp('survey') / 'small.db'}")
    yield create_app(store, db_label="small.db", warm=False)
    store.close()


def test_observation_summary_counts_each_flag():
    table = pd.DataFrame({
        "obs_id": [1, 1, 1, 2, 2], "filter": ["NIR_J"] * 5, "exposure": [1, 2, 3, 1, 2],
        "mjd_obs": [60000.2, 60000.1, 60000.3, 60001.0, 60001.1], "value": [1.0, 0.98, np.nan, 1.001, 1.0],
        "status": ["OK", "FAIL", "NODATA", "OK", "OK"], "detector_flag": [None, "WARN", None, "FAIL", "OK"],
        "crosscheck": ["", "", "", "far", None], "alarmed": [False, False, False, False, True],
        "reviewed": [False, True, False, False, False], "run_id": [5, 5, 5, 9, 9]})
    out = observation_summary(table).set_index("obs_id")
    assert out.loc[1, "worst_status"] == "NODATA" and out.loc[2, "worst_status"] == "OK"
    assert out.loc[1, "mjd_start"] == 60000.1 and out.loc[1, "n_dithers"] == 3
    assert out.loc[1, "max_offset"] == pytest.approx(0.02)
    assert (out.loc[1, "n_flagged"], out.loc[1, "n_detector"], out.loc[1, "n_awaiting"]) == (2, 1, 1)
    assert (out.loc[2, "n_detector"], out.loc[2, "n_crosscheck"], out.loc[2, "n_alarm"]) == (1, 1, 1)
    assert out.loc[2, "n_awaiting"] == 2 and out.loc[2, "run_id"] == 9
    assert observation_summary(table.iloc[:0]).empty


def test_hammer_round_trip_and_equal_area():
    rng = np.random.default_rng(1)
    ra, dec = rng.uniform(0, 360, 2000), np.degrees(np.arcsin(rng.uniform(-0.999, 0.999, 2000)))
    x, y = hammer_xy(ra, dec)
    assert np.all((x / 2) ** 2 + y ** 2 <= 2 + 1e-9)
    back_ra, back_dec = hammer_radec(x, y)
    assert np.allclose(((back_ra - ra + 180) % 360) - 180, 0, atol=1e-8) and np.allclose(back_dec, dec, atol=1e-8)
    # equal area: uniform points on the sphere fill the ellipse's halves and quarters evenly
    assert abs(np.mean(x > 0) - 0.5) < 0.05 and abs(np.mean(np.abs(y) < np.sqrt(2) / 2) - 0.61) < 0.05
    assert np.all(np.isnan(hammer_radec(np.array([3.0]), np.array([1.2]))[0]))  # outside


def test_cells_aggregate_pointings():
    ra = np.array([10.0, 10.05, 200.0, np.nan])
    dec = np.array([5.0, 5.02, -30.0, 1.0])
    assert healpix_index(ra, dec, 16)[3] == -1
    cells = cell_summary(ra, dec, status_rank(pd.Series(["OK", "WARN", "OK", "FAIL"])),
                         np.array([0.001, 0.006, 0.002, 0.05]), nside=16)
    assert cells["count"].tolist() == [2, 1] and cells["worst_status"].tolist() == ["WARN", "OK"]
    assert cells["n_flagged"].tolist() == [1, 0] and cells["max_offset"].iloc[0] == pytest.approx(0.006)
    assert abs(cells["ra"].iloc[0] - 10) < 4 and abs(cells["dec"].iloc[0] - 5) < 4


def test_grid_query_filters_sorts_and_slices():
    df = pd.DataFrame({"obs": [3, 1, 2, 4], "worst": ["OK", "FAIL", "WARN", "FAIL"],
                       "offset": [0.0, 0.03, 0.01, np.nan]})
    two = {"conditions": [{"filterType": "text", "type": "equals", "filter": "fail"},
                          {"filterType": "text", "type": "equals", "filter": "warn"}], "operator": "OR",
           "filterType": "text"}
    assert filter_rows(df, {"worst": two})["obs"].tolist() == [1, 2, 4]
    assert filter_rows(df, {"offset": {"filterType": "number", "type": "inRange", "filter": 0.02,
                                       "filterTo": 0.005}})["obs"].tolist() == [2]
    assert filter_rows(df, {"offset": {"filterType": "number", "type": "blank"}})["obs"].tolist() == [4]
    assert filter_rows(df, {"nope": {"filterType": "text", "filter": "x"}}).equals(df)
    assert sort_rows(df, [{"colId": "offset", "sort": "desc"}])["obs"].tolist() == [1, 2, 3, 4]  # NaN last
    block, n = rows_block(df, {"startRow": 1, "endRow": 3, "sortModel": [{"colId": "obs", "sort": "asc"}]})
    assert block["obs"].tolist() == [2, 3] and n == 4


def test_observation_list_rows_and_narrowing(app):
    with app.server.app_context():
        records, matching, total = observations.query_rows({}, {"startRow": 0, "endRow": 10})
        assert total == matching == N_OBS * 3 and len(records) == 10
        assert [(r["obs"], r["filter"]) for r in records[:3]] == [(1000, "NIR_Y"), (1000, "NIR_J"), (1000, "NIR_H")]
        records, matching, _ = observations.query_rows({}, {"startRow": 0, "endRow": 10, "filterModel": {
            "worst": {"filterType": "text", "type": "equals", "filter": "FAIL"}}})
        assert matching == 1 and (records[0]["obs"], records[0]["filter"]) == BAD[:2]
        assert records[0]["reviewed"] == "no: 1 awaiting" and records[0]["dithers"] == 4
        assert records[0]["problems"] == f"exposure {BAD[0]} dither {BAD[2]}"  # the store's problem of it
        worst = {(r["obs"], r["filter"]): r["worst"] for r in observations.query_rows({}, {"endRow": 100})[0]}
        assert worst[WARN[:2]] == "WARN" and worst[NODATA[:2]] == "NODATA"
        narrowing, problems = observations.parse_narrowing("NIR_J", "fail", "16:1")
        assert narrowing == {"filter": "NIR_J", "worst": "FAIL", "cell": (16, 1)} and not problems
        _, problems = observations.parse_narrowing("NIR_Q", "BAD", "15:3")
        assert len(problems) == 3
        # every small-store pointing is (150.5, 2.5): its cell holds them all, another cell none
        cell = int(healpix_index(np.array([150.5]), np.array([2.5]), 16)[0])
        assert observations.query_rows({"cell": (16, cell), "filter": "NIR_H"}, {"endRow": 100})[2] == N_OBS
        assert observations.query_rows({"cell": (16, cell + 1)}, {"endRow": 100})[2] == 0
    client = app.server.test_client()
    assert client.get("/observations?cell=16:3").status_code == 200


def test_the_observation_list_shows_the_problems_of_each_observation_with_their_state(tmp_path):
    store = fill_small_store(f"sqlite:///{tmp_path / 'problems.db'}")
    ids = store.problems().set_index("subject")["id"]
    app = create_app(store, warm=False)

    def problems_of(key):
        with app.server.app_context():
            rows = observations.query_rows({}, {"endRow": 1000})[0]
        return next(r["problems"] for r in rows if (r["obs"], r["filter"]) == key)

    assert problems_of(WARN[:2]) == f"exposure {WARN[0]} dither {WARN[2]}"
    assert problems_of((1001, "NIR_J")) == ""
    store.set_problem_state(int(ids[f"obs {WARN[0]} dither {WARN[2]}"]), "acknowledge", "lead")
    assert problems_of(WARN[:2]) == f"exposure {WARN[0]} dither {WARN[2]} (acknowledged)"
    store.set_problem_state(int(ids[f"obs {WARN[0]} dither {WARN[2]}"]), "resolve", "lead")
    assert problems_of(WARN[:2]) == ""  # resolved: no longer listed


def test_sky_views_and_clicks(app):
    with app.server.app_context():
        figure, text = sky.figure("all", "worst", None)
        assert text.startswith(f"{N_OBS} pointings") and "one marker each" in text
        names = [t["name"] for t in figure["data"]]
        assert "FAIL (1)" in names and "NODATA (1)" in names
        rows = sky.pointings(observations.observation_list(), "NIR_J")
        assert len(rows) == N_OBS and set(rows["worst"]) == {"OK", "FAIL"}
    many = pd.DataFrame({"obs": np.arange(6000), "filter": "NIR_J", "ra": np.linspace(0, 359, 6000),
                         "dec": np.linspace(-60, 60, 6000), "worst": "OK", "offset": 0.001})
    many = many.assign(**dict(zip(("x", "y"), hammer_xy(many["ra"], many["dec"]))))
    drawn, kind = sky.what_to_draw(many, None)
    assert kind == "cells" and int(drawn["count"].sum()) == 6000 and set(drawn["nside"]) == {16}
    zoomed = (-0.2, 0.2, -0.1, 0.1)
    drawn, kind = sky.what_to_draw(many, zoomed)
    assert kind == "pointings" and 0 < len(drawn) < 6000
    figure = sky_figure(sky.what_to_draw(many, None)[0], kind="cells", colour_by="offset", view=FULL_VIEW)
    assert figure["data"][-1]["customdata"][0][0] == "cell"
    assert sky.view_of({"xaxis.range[0]": 1, "xaxis.range[1]": -1, "yaxis.range[0]": 0, "yaxis.range[1]": 1},
                       None) == (-1.0, 1.0, 0.0, 1.0)
    assert sky.view_of({"xaxis.autorange": True}, [0, 1, 0, 1]) is None
    assert sky.open_click({"points": [{"customdata": ["cell", 16, 42]}]}, "NIR_J", "?filter=NIR_J") == \
        "/observations?cell=16%3A42&filter=NIR_J"
    assert sky.open_click({"points": [{"customdata": ["obs", 1017, "NIR_J"]}]}, "all", "?filter=all") == \
        "/observation/1017?filter=NIR_J&back=/sky%3Ffilter=all"


def test_context_of_the_factors_on_the_observation_page(app):
    from dashboard.figures.context import context_figure
    from dashboard.survey_data import context_season

    with app.server.app_context():
        season = context_season("NIR_J")
        assert len(season) == N_OBS * 4
        assert season["pair_dispersion"].notna().all() and season["pair_dispersion"].gt(0).all()
        assert season["clipped_fraction"].between(0, 1).all() and season["matched"].gt(0).all()
        assert context_season("NIR_J") is season  # remembered
        figure = context_figure(season, BAD[0], title="t")
        mine = [t for t in figure["data"] if t["name"].startswith(f"obs {BAD[0]} dither")]
        assert len(mine) == 12  # 4 dithers x 3 panels
        one = season[(season.obs_id == BAD[0]) & (season.exposure == 3)].iloc[0]
        assert mine[2]["y"] == [pytest.approx(one["matched"])]
    html = app.server.test_client().get(f"/observation/{BAD[0]}?filter=NIR_J")
    assert html.status_code == 200
    from dashboard.pages import observation

    with app.server.app_context():
        page = observation.layout(obs_id=str(BAD[0]), filter="NIR_J")
    assert "obs-context" in str(page)
