"""The QC signals of a simulated season, in a real browser: the demo's bad
detector and drifting dither are shown flagged on the overview, on the
observation page and in the problem queue (one problem, reviewed in one
action); an OK exposure within noise is not."""
from __future__ import annotations


import pytest
from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard_fixtures import wait_for as shared_wait_for
from relphot_core.demo import build_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """40 observations x 3 filters of the demo season (bad detector, drift of
    NIR_H dither 4, bad exposures, a NODATA exposure, a 3-dither set)."""
    return build_demo(tmp_path_factory.mktemp("qc"), n_observations=40, sources_per_detector=100, workers=2)


def wait_for(predicate, timeout: float = 15.0, message: str = "condition"):
    """`dashboard_fixtures.wait_for` with the longer wait a season's pages need."""
    return shared_wait_for(predicate, timeout, message)


def test_bad_detector_and_drift_are_flagged_and_reviewed_by_cause(dash_duo, season):
    table = season.exposure_table()
    bad = table[table["detector_flag"] == "FAIL"].iloc[0]
    quiet = table[(table["filter"] == "NIR_J") & (table["status"] == "OK") & (table["detector_flag"] == "OK")
                  & (table["crosscheck"] == "") & (table["obs_id"] != bad["obs_id"])].iloc[0]
    app = create_app(season, db_label="qc.db", warm=False)
    dash_duo.start_server(app)

    # overview: the drifting dither is counted and ringed on NIR_H's trend
    dash_duo.driver.get(dash_duo.server_url + "/?trend=NIR_H")
    dash_duo.wait_for_element("#counts-table")
    row = wait_for(lambda: [r for r in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#counts-table tr")
                            if r.text.startswith("NIR_H")], message="NIR_H counts")[0]
    assert int(row.find_elements(By.CSS_SELECTOR, "td.count-flag .count-main")[0].text) >= 20
    names = wait_for(lambda: dash_duo.driver.execute_script(
        "const gd = document.querySelector('.js-plotly-plot');"
        "return gd && gd._fullData ? gd._fullData.map(t => t.name || '') : null;"), message="trend traces")
    assert any(name.startswith("other flag (") for name in names)

    # the observation with the bad detector: its flag, its reason, its framed detector
    dash_duo.driver.get(dash_duo.server_url + f"/observation/{bad['obs_id']}?filter={bad['filter']}")
    dash_duo.wait_for_contains_text("#obs-title", f"Observation {bad['obs_id']}")
    body = wait_for(lambda: dash_duo.driver.find_element(By.TAG_NAME, "body").text, message="page")
    wait_for(lambda: "worst detector 23" in dash_duo.driver.find_element(By.TAG_NAME, "body").text,
             message="the detector reason")
    frames = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap(gd => "
        "(gd._fullData || []).filter(t => t.name === 'flagged detector').map(t => Array.from(t.x).length));")
    assert frames == [1]
    assert f"every flagged exposure of the observation (dither {bad['exposure']})" in body

    # an OK exposure within noise: nothing to review on its observation
    dash_duo.driver.get(dash_duo.server_url + f"/observation/{quiet['obs_id']}?filter=NIR_J")
    dash_duo.wait_for_contains_text("#obs-title", f"Observation {quiet['obs_id']}")
    wait_for(lambda: "No exposure of this observation is flagged" in
             dash_duo.driver.find_element(By.TAG_NAME, "body").text or "dither" in
             dash_duo.driver.find_element(By.TAG_NAME, "body").text, message="observation page")
    cells = [c.text for c in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".ag-row .ag-cell[col-id=chart]")]
    exposure_rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, ".ag-row .ag-cell[col-id=exposure]")
    dithers = [int(c.text) for c in exposure_rows]
    assert cells[dithers.index(int(quiet["exposure"]))] == ""

    # the problem queue: the drift is one problem, reviewed in one action
    dash_duo.driver.get(dash_duo.server_url + "/triage")
    dash_duo.wait_for_element("#triage-count")
    before = int(dash_duo.find_element("#triage-count").text.split()[0].replace(",", ""))
    drift = season.problems(kinds=["drift"]).iloc[0]
    assert (drift["filter"], drift["subject"]) == ("NIR_H", "dither 4") and drift["n_exposures"] >= 20
    row = wait_for(lambda: next((r for r in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-row")
        if r.find_element(By.CSS_SELECTOR, ".ag-cell[col-id=what]").text == "dither 4"), None),
        message="the drift's row")
    assert "drift" in row.text and "NIR_H" in row.text
    row.find_element(By.CSS_SELECTOR, ".ag-cell[col-id=what]").click()
    dash_duo.wait_for_contains_text("#triage-detail-title", "drift of dither 4 (NIR_H)")
    dash_duo.find_element("#triage-reviewer").send_keys("carla")
    dash_duo.find_element("#triage-comment").send_keys("known zero-point drift, ticket 42")
    dash_duo.find_element("#triage-confirm").click()
    dash_duo.wait_for_contains_text("#triage-notice", f"{drift['n_exposures']} exposures, as review batch")
    dash_duo.wait_for_contains_text("#triage-heading", f"{before - 1:,} problem")
    reviews = season.reviews()
    assert len(reviews) == drift["n_exposures"] and set(reviews["flag_kind"]) == {"alarm"}
    assert dash_duo.get_logs() == []
