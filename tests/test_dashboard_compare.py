"""The compare page's figures, view and API route on a real store holding
two runs of each set (`survey_fixtures.fill_two_runs`)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dashboard import create_app
from dashboard.figures.compare import delta_histogram, delta_histogram_figure, transition_figure
from dashboard.pages import compare as page
from relphot_core.compare import STATUSES, RunChoice
from survey_fixtures import fill_two_runs


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    store = fill_two_runs(f"sqlite:///{tmp_path_factory.mktemp('compare') / 'two_runs.db'}")
    yield create_app(store, db_label="two_runs.db", warm=False)
    store.close()


def test_histogram_counts_every_finite_change_and_pins_the_far_ones():
    values = np.r_[np.zeros(998), 40.0, -40.0, np.nan]
    edges, counts, pinned = delta_histogram(values, bins=11)
    assert counts.sum() == 1000 and pinned == 2 and counts[0] == 1 and counts[-1] == 1
    assert edges[0] == -edges[-1]
    figure = delta_histogram_figure(values)
    assert sum(figure["data"][0]["y"]) == 1000
    assert "2 beyond" in figure["layout"]["annotations"][0]["text"]
    empty = delta_histogram_figure(np.array([np.nan]))
    assert empty["data"] == [] and "No exposure" in empty["layout"]["annotations"][0]["text"]


def test_transition_figure_writes_every_count():
    matrix = pd.DataFrame(0, index=list(STATUSES), columns=list(STATUSES))
    matrix.loc["OK", "OK"], matrix.loc["OK", "FAIL"] = 37, 1
    figure = transition_figure(matrix)
    text = figure["data"][0]["text"]
    assert text[0][0] == "37" and text[0][2] == "1" and text[3][3] == "0"
    changed = figure["data"][2]["z"]  # off the diagonal, non-zero: coloured
    assert changed[0][2] == pytest.approx(math.log10(2))
    assert math.isnan(changed[0][0])  # the diagonal (unchanged) is drawn by its own grey trace


def test_view_and_cell_of_the_two_runs(app):
    with app.server.app_context():
        from dashboard.survey_data import run_comparison

        comparison = run_comparison(RunChoice("previous"), RunChoice("current"))
        summary, histogram, _matrix, largest = page.view(comparison, "NIR_J")
        assert summary.startswith("NIR_J: 5 sets compared (20 exposures, 2 changed status)")
        assert "1 after only" in summary
        assert sum(histogram["data"][0]["y"]) == 20
        assert largest[0]["obs"] == 1001 and largest[0]["status_after"] == "FAIL"
        heading, rows = page.cell_rows(comparison, "NIR_J", "WARN", "OK")
        assert heading == "NIR_J: 1 exposure WARN → OK"
        assert [(r["obs"], r["exposure"]) for r in rows] == [(1003, 4)]
        assert run_comparison(RunChoice("previous"), RunChoice("current")) is comparison  # remembered
        before, after, problems = page.parse_choices("latest", "version:0.1.0")
        assert before == RunChoice("previous") and after == RunChoice("version", "0.1.0")
        assert "choice of runs 'latest'" in problems[0]


def test_api_compare(app):
    client = app.server.test_client()
    data = client.get("/api/compare?filter=NIR_H&top=2").get_json()
    assert data["total"]["compared"] == 10 and list(data["filters"]) == ["NIR_H"]
    assert data["filters"]["NIR_H"]["transitions"]["OK"]["NODATA"] == 1
    assert data["parameters"][0]["differ"] == {"clipping.sigma": ["3.0", "2.5"]}
    assert len(data["largest"]) == 2 and data["largest"][0]["status_after"] == "NODATA"
    assert data["largest"][0]["delta_mmag"] is None
    same = client.get("/api/compare?before=current").get_json()
    assert same["total"]["compared"] == 0 and same["total"]["same_run"] == 11
    for url, fragment in (("/api/compare?before=latest", "choice of runs 'latest'"),
                          ("/api/compare?filter=NIR_Q", "unknown filter"),
                          ("/api/compare?top=x", "'top'"), ("/api/compare?run=3", "unknown parameter 'run'")):
        response = client.get(url)
        assert response.status_code == 400 and fragment in response.get_json()["error"], url
    assert client.get("/compare").status_code == 200
