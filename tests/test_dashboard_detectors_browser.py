"""The detector page in a real browser, on the demo's simulated season: its
bad detector is shown flagged on the focal plane of the period containing
it; a click on it (or ``?detector=NN``) shows its series with the flagged
exposure; the observation page links to it; no console errors."""
from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard_fixtures import wait_for as shared_wait_for
from dashboard.query import mjd_to_date
from relphot_core.demo import build_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def season(tmp_path_factory):
    """40 observations x 3 filters of the demo season (one bad detector)."""
    return build_demo(tmp_path_factory.mktemp("detectors"), n_observations=40, sources_per_detector=100, workers=2)


def wait_for(predicate, timeout: float = 15.0, message: str = "condition"):
    """`dashboard_fixtures.wait_for` with the longer wait a season's pages need."""
    return shared_wait_for(predicate, timeout, message)


FRAMED_JS = """
const gd = document.querySelector('#det-plane .js-plotly-plot');
if (!gd || !gd._fullData) { return null; }
return gd._fullData.filter(t => t.name === 'flagged detector' || t.name === 'detector with flagged exposures')
    .flatMap(t => Array.from(t.x).map((x, i) => 10 * t.y[i] + x));
"""

SERIES_JS = """
const gd = document.querySelector('#det-series .js-plotly-plot');
if (!gd || !gd._fullData || !gd.layout.title) { return null; }
return {title: gd.layout.title.text || '', traces: gd._fullData.map(t => ({name: t.name || '',
        obs: t.customdata ? Array.from(t.customdata) : [], text: t.text ? Array.from(t.text) : []}))};
"""


def the_bad_detector(season):
    table = season.exposure_table()
    bad = table[table["detector_flag"] == "FAIL"].iloc[0]
    detector = int(re.search(r"worst detector (\d{2})", bad["detector_reason"]).group(1))
    return bad, detector


def series_shows(driver, detector: int, obs_id: int):
    series = driver.execute_script(SERIES_JS)
    if not series or not series["title"].startswith(f"Detector {detector} "):
        return None
    fail = [t for t in series["traces"] if t["name"].startswith("FAIL")]
    return fail and obs_id in fail[0]["obs"] and series


def test_bad_detector_flagged_clicked_and_linked(dash_duo, season):
    bad, detector = the_bad_detector(season)
    band, obs_id, day = bad["filter"], int(bad["obs_id"]), mjd_to_date(bad["mjd_obs"])
    app = create_app(season, db_label="detectors.db", warm=False)
    dash_duo.start_server(app)
    driver = dash_duo.driver

    # the focal plane of the period containing the bad exposure: the detector framed and counted
    driver.get(dash_duo.server_url + f"/detectors?filter={band}&from={day}&to={day}")
    framed = wait_for(lambda: driver.execute_script(FRAMED_JS), message="focal plane")
    assert detector in framed
    texts = driver.execute_script(
        "const gd = document.querySelector('#det-plane .js-plotly-plot');"
        "return gd._fullData[0].text.flat();")
    cell = next(t for t in texts if t.startswith(f"<b>{detector}</b>"))
    assert "flagged" in cell

    # a click on the detector's cell opens its series, with the flagged exposure
    driver.execute_script("document.querySelector('#det-plane .js-plotly-plot').scrollIntoView();")
    x, y = driver.execute_script(  # the cell's centre in the viewport
        "const gd = document.querySelector('#det-plane .js-plotly-plot');"
        "const box = gd.querySelector('.nsewdrag').getBoundingClientRect();"
        "const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        "return [box.x + xa.l2p(arguments[0]), box.y + ya.l2p(arguments[1])];",
        detector % 10, detector // 10)
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.pause(0.4)
    actions.pointer_action.click()
    actions.perform()
    series = wait_for(lambda: series_shows(driver, detector, obs_id), message="the detector's series")
    fail = next(t for t in series["traces"] if t["name"].startswith("FAIL"))
    assert any(f"obs {obs_id}" in text for text in fail["text"])
    assert any(t["name"].startswith("control-chart alarm") for t in series["traces"])
    wait_for(lambda: f"detector={detector}" in driver.current_url, message="the detector in the URL")

    # the detector in the URL, the whole season
    driver.get(dash_duo.server_url + f"/detectors?filter={band}&detector={detector}")
    wait_for(lambda: series_shows(driver, detector, obs_id), message="the series from the URL")

    # the observation page links to the detector page, the bad detector marked
    driver.get(dash_duo.server_url + f"/observation/{obs_id}?filter={band}")
    link = wait_for(lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, f"#obs-detector-links-{band} a")
                             if a.get_attribute("href").endswith(f"/detectors?filter={band}&detector={detector}")],
                    message="detector links")[0]
    assert "!" in link.text
    link.click()
    wait_for(lambda: series_shows(driver, detector, obs_id), message="the series from the observation page")

    # a click on the flagged point of the series opens its observation, whose breadcrumb leads back here
    view = driver.current_url.split(dash_duo.server_url, 1)[1]
    point = wait_for(lambda: driver.execute_script(
        "const gd = document.querySelector('#det-series .js-plotly-plot');"
        "for (const tr of gd.querySelectorAll('.scatterlayer .trace')) {"
        "  const d = tr.__data__;"
        "  if (d && d[0] && d[0].trace && (d[0].trace.name || '').startsWith('FAIL')) {"
        "    const i = Array.from(d[0].trace.customdata).indexOf(arguments[0]);"
        "    return tr.querySelectorAll('.point')[i]; } }"
        "return null;", obs_id), message="the FAIL point of the series")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    ActionChains(driver).move_to_element(point).pause(0.3).click().perform()
    wait_for(lambda: f"/observation/{obs_id}" in driver.current_url, message="the observation from the series")
    back = wait_for(lambda: driver.find_element(By.ID, "obs-back"), message="the breadcrumb")
    assert back.text == "Detectors" and back.get_attribute("href").endswith(view)

    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


def test_bad_url_parameters_are_reported(dash_duo, season):
    app = create_app(season, db_label="detectors.db", warm=False)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/detectors?filter=NIR_Q&detector=55&from=yesterday")
    dash_duo.wait_for_contains_text("#det-url-messages", "Unknown filter 'NIR_Q'")
    text = dash_duo.find_element("#det-url-messages").text
    assert "detector 11..44" in text and "'from' must be a date" in text
    wait_for(lambda: dash_duo.driver.execute_script(FRAMED_JS) is not None, message="focal plane")
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


STATUS_FRAMED_JS = """
const gd = document.querySelector('#det-plane .js-plotly-plot');
if (!gd || !gd._fullData) { return null; }
return gd._fullData.filter(t => t.name === 'flagged detector')
    .flatMap(t => Array.from(t.x).map((x, i) => 10 * t.y[i] + x));
"""


def test_the_worst_offset_frames_the_bad_detector_over_the_whole_season(dash_duo, season):
    """Over the whole season the bad detector's median is fine (no frame in
    a status colour; at most the thin purple one when enough of its
    exposures are flagged, not in the 100-observation demo); showing the
    worst offset frames it in its status colour, names its observation, and
    goes into the URL."""
    bad, detector = the_bad_detector(season)
    band, obs_id = bad["filter"], int(bad["obs_id"])
    dash_duo.start_server(create_app(season, db_label="detectors.db", warm=False))
    driver = dash_duo.driver
    driver.get(dash_duo.server_url + f"/detectors?filter={band}")
    (framed,) = wait_for(lambda: (found := driver.execute_script(STATUS_FRAMED_JS)) is not None and [found],
                         message="the median plane")
    assert detector not in framed
    driver.find_element(By.XPATH, "//*[@id='det-show']//label[contains(., 'worst offset')]").click()
    wait_for(lambda: detector in (driver.execute_script(STATUS_FRAMED_JS) or []), message="the worst-offset plane")
    texts = driver.execute_script("return document.querySelector('#det-plane .js-plotly-plot')._fullData[0]"
                                  ".text.flat();")
    cell = next(t for t in texts if t.startswith(f"<b>{detector}</b>"))
    assert f"obs {obs_id} d{int(bad['exposure'])}" in cell
    wait_for(lambda: "show=worst" in driver.current_url, message="the view in the URL")
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
