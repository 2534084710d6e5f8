"""The survey pages in a real browser: the compare page on a store holding
two runs of each set (a click on a transition cell lists its exposures,
which link to their observation)."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard_fixtures import wait_for
from survey_fixtures import fill_two_runs

pytestmark = pytest.mark.browser

MATRIX_JS = """
const gd = document.querySelector('#compare-matrix .js-plotly-plot');
if (!gd || !gd._fullData || !gd._fullData.length) { return null; }
return {title: gd.layout.title.text, text: gd._fullData[0].text};
"""


def click_cell(driver, graph: str, column: int, row: int) -> None:
    """Click the centre of a heatmap cell (category indices)."""
    driver.execute_script(f"document.querySelector('{graph} .js-plotly-plot').scrollIntoView();")
    x, y = driver.execute_script(
        f"const gd = document.querySelector('{graph} .js-plotly-plot');"
        "const box = gd.querySelector('.nsewdrag').getBoundingClientRect();"
        "const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        "return [box.x + xa.l2p(arguments[0]), box.y + ya.l2p(arguments[1])];", column, row)
    actions = ActionBuilder(driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.pause(0.4)
    actions.pointer_action.click()
    actions.perform()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    store = fill_two_runs(f"sqlite:///{tmp_path_factory.mktemp('survey') / 'two_runs.db'}")
    yield store
    store.close()


def test_compare_page_cell_lists_its_exposures(dash_duo, two_runs):
    dash_duo.start_server(create_app(two_runs, db_label="two_runs.db", warm=False))
    driver = dash_duo.driver
    driver.get(dash_duo.server_url + "/compare?filter=NIR_H")
    matrix = wait_for(lambda: driver.execute_script(MATRIX_JS), message="the transition matrix")
    assert matrix["title"].startswith("NIR_H") and matrix["text"][0][3] == "1"  # OK -> NODATA
    dash_duo.wait_for_contains_text("#compare-summary", "NIR_H: 5 sets compared (20 exposures, 1 changed status)")

    # another filter: NIR_J, its OK -> FAIL cell
    driver.find_element(By.XPATH, "//div[@id='compare-filter']//label[contains(., 'NIR_J')]").click()
    wait_for(lambda: (driver.execute_script(MATRIX_JS) or {}).get("title", "").startswith("NIR_J"),
             message="the NIR_J matrix")
    wait_for(lambda: "filter=NIR_J" in driver.current_url, message="the filter in the URL")
    click_cell(driver, "#compare-matrix", 2, 0)
    dash_duo.wait_for_text_to_equal("#compare-cell-title", "NIR_J: 1 exposure OK → FAIL")
    link = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#compare-cell a"), message="the cell's rows")
    assert link.text == "1001"
    link.click()
    wait_for(lambda: "/observation/1001" in driver.current_url, message="the observation")
    back = wait_for(lambda: driver.find_element(By.ID, "obs-back"), message="the breadcrumb")
    assert back.text == "Compare runs"

    # a choice that cannot be read is said, the default shown
    driver.get(dash_duo.server_url + "/compare?before=latest")
    dash_duo.wait_for_contains_text("#compare-url-messages", "choice of runs 'latest'")
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []


def test_observation_list_filters_on_the_server_and_links(dash_duo, tmp_path):
    from dashboard_fixtures import BAD, N_OBS, fill_small_store

    store = fill_small_store(f"sqlite:///{tmp_path / 'small.db'}")
    dash_duo.start_server(create_app(store, db_label="small.db", warm=False))
    driver = dash_duo.driver
    # a misspelt parameter (the API refuses it): the page says so and lists every row
    driver.get(dash_duo.server_url + "/observations?wrost=FAIL")
    dash_duo.wait_for_text_to_equal("#obslist-count", f"{N_OBS * 3} (observation, filter) rows")
    assert dash_duo.find_element("#obslist-url-messages").text == (
        "Unknown URL parameter 'wrost' (this page reads filter, worst, cell); ignored.")
    driver.get(dash_duo.server_url + "/observations")
    dash_duo.wait_for_text_to_equal("#obslist-count", f"{N_OBS * 3} (observation, filter) rows")
    assert dash_duo.find_element("#obslist-url-messages").text == ""
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#obslist-grid .ag-row a"), message="the rows")
    box = driver.find_element(By.CSS_SELECTOR, "#obslist-grid .ag-floating-filter[aria-colindex='5'] input")
    box.send_keys("FAIL")
    dash_duo.wait_for_text_to_equal("#obslist-count", f"1 of {N_OBS * 3} (observation, filter) rows match the "
                                                      "column filters")
    link = wait_for(lambda: [a for a in driver.find_elements(By.CSS_SELECTOR, "#obslist-grid .ag-row a")
                             if a.text == str(BAD[0])], message="the FAIL row")[0]
    link.click()
    wait_for(lambda: f"/observation/{BAD[0]}" in driver.current_url, message="the observation")
    back = wait_for(lambda: driver.find_element(By.ID, "obs-back"), message="the breadcrumb")
    assert back.text == "Observations"
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
    store.close()


def test_sky_map_cell_opens_its_observations(dash_duo, tmp_path):
    from relphot_core.store import Store
    from relphot_core.testing.synth import fill_survey

    store = Store.open(f"sqlite:///{tmp_path / 'survey.db'}")
    fill_survey(store, 3000, seed=2, filters=("NIR_J",))
    dash_duo.start_server(create_app(store, db_label="survey.db", warm=False))
    driver = dash_duo.driver
    driver.get(dash_duo.server_url + "/sky?filter=NIR_J")
    dash_duo.wait_for_contains_text("#sky-summary", "3,000 pointings (NIR_J); 3,000 in view on")
    point = wait_for(lambda: driver.execute_script(
        "const gd = document.querySelector('#sky-map .js-plotly-plot');"
        "for (const tr of gd.querySelectorAll('.scatterlayer .trace')) {"
        "  const d = tr.__data__;"
        "  if (d && d[0] && d[0].trace && (d[0].trace.name || '').startsWith('OK')) {"
        "    const pts = tr.querySelectorAll('.point'); return pts[Math.floor(pts.length / 2)]; } }"
        "return null;"), message="a cell of the map")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(point).pause(0.3).click().perform()
    wait_for(lambda: "/observations?cell=16%3A" in driver.current_url, message="the cell's list")
    dash_duo.wait_for_contains_text("#obslist-narrowing", "HEALPix cell")
    count = wait_for(lambda: dash_duo.find_element("#obslist-count").text, message="the cell's count")
    assert count.endswith("(observation, filter) rows") and not count.startswith("0 ")
    # the cell's rows are all of NIR_J (the map's filter)
    rows = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#obslist-grid .ag-row [col-id='filter']"),
                    message="the cell's rows")
    assert {r.text for r in rows} == {"NIR_J"}
    assert [entry for entry in dash_duo.get_logs() if entry.get("level") == "SEVERE"] == []
    store.close()
