"""The dashboard in a real browser (dash_duo + Debian's headless chromium).

Each test serves a fresh small store (tests/dashboard_fixtures.py) with a
known bad exposure and drives the pages as a calibration scientist would.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from dashboard_fixtures import BAD, fill_small_store, wait_for
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from dashboard import create_app
from relphot_core.store import Store

pytestmark = pytest.mark.browser

OBS, FILTER, DITHER = BAD


@pytest.fixture()
def store(tmp_path):
    return fill_small_store(f"sqlite:///{tmp_path / 'browser.db'}")


def start(dash_duo, store, path: str = "/"):
    app = create_app(store, db_label="browser.db", warm=False)
    dash_duo.start_server(app)
    if path != "/":
        dash_duo.driver.get(dash_duo.server_url + path)
    return app


def trace_names(dash_duo, graph_id: str) -> list[str]:
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "return gd && gd._fullData ? gd._fullData.map(t => t.name || '') : null;", f"#{graph_id}")


def trace_y(dash_duo, graph_id: str, prefix: str):
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "const t = gd._fullData.find(t => (t.name || '').startsWith(arguments[1]));"
        "return t ? Array.from(t.y) : null;", f"#{graph_id}", prefix)


def test_overview_flags_the_bad_exposure_and_click_opens_it(dash_duo, store):
    start(dash_duo, store)
    graph = "ov-trend-graph"
    # the trend shows one filter at a time: open the tab of the bad exposure's
    tab = dash_duo.driver.find_element(By.XPATH, f"//*[@id='ov-trend']//label[contains(., '{FILTER}')]")
    tab.click()
    wait_for(lambda: f"trend={FILTER}" in dash_duo.driver.current_url,
             message="the tab in the URL")
    names = wait_for(lambda: [n for n in trace_names(dash_duo, graph) or [] if n.startswith("FAIL")],
                     message="the FAIL trace")
    assert names == ["FAIL (1)"]
    assert trace_y(dash_duo, graph, "FAIL") == [pytest.approx(0.97)]
    counts = dash_duo.find_element("#counts-table").text
    assert "NIR_J" in counts
    # click the flagged point: it opens its observation page
    point = wait_for(lambda: dash_duo.driver.execute_script(
        "const gd = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "for (const tr of gd.querySelectorAll('.scatterlayer .trace')) {"
        "  const d = tr.__data__;"
        "  if (d && d[0] && d[0].trace && (d[0].trace.name || '').startsWith('FAIL')) {"
        "    return tr.querySelector('.point'); } }"
        "return null;", graph), message="the FAIL marker")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    ActionChains(dash_duo.driver).move_to_element(point).pause(0.3).click().perform()
    wait_for(lambda: f"/observation/{OBS}" in dash_duo.driver.current_url, message="the observation URL")
    assert f"filter={FILTER}" in dash_duo.driver.current_url
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    assert "FAIL" in dash_duo.find_element(f"#obs-section-{FILTER}").text
    # every plot of the observation page is drawn by the cartesian partial
    # bundle (no WebGL trace), and the full plotly.js is never fetched
    drawn = wait_for(lambda: dash_duo.driver.execute_script(
        "const gds = Array.from(document.querySelectorAll('.js-plotly-plot'));"
        "return gds.length >= 6 && gds.every(gd => gd._fullData) ? gds.flatMap(gd => gd._fullData.map("
        "t => t.type)) : null;"), message="the observation plots")
    assert {"scatter", "heatmap"} <= set(drawn) and "scattergl" not in drawn
    scripts = dash_duo.driver.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name).filter(n => n.includes('plotly'));")
    assert any("plotly-cartesian" in s for s in scripts) and not any("plotly.min.js" in s for s in scripts)
    fetched = dash_duo.driver.execute_script("return performance.getEntriesByType('resource').map(r => r.name);")
    assert not any("polyfill" in name for name in fetched)  # see RelphotDash
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def test_filters_change_plot_and_url(dash_duo, store):
    start(dash_duo, store)
    graph = "ov-trend-graph"
    wait_for(lambda: trace_names(dash_duo, graph), message="the trend plot")
    title = "return document.querySelector('#ov-trend-graph .gtitle').textContent;"
    assert dash_duo.driver.execute_script(title).startswith("NIR_Y")
    # no babel polyfill (RelphotDash): the browser's own parseInt / parseFloat / trim, and the
    # regenerator runtime the Dash bundles need
    assert dash_duo.driver.execute_script("return typeof regeneratorRuntime.mark") == "function"
    assert dash_duo.driver.execute_script(
        "return [parseInt('12px'), isNaN(parseInt('\\u180E1')), parseFloat(' 2.5e1x'), ' a '.trim(),"
        " Number.parseInt === parseInt]") == [12, True, 25, "a", True]
    tabs = "return Array.from(document.querySelectorAll('#ov-trend label')).map(l => l.textContent);"
    assert dash_duo.driver.execute_script(tabs) == ["NIR_Y", "NIR_J", "NIR_H"]
    # untick NIR_Y: its tab goes, the trend shows NIR_J, the URL says so
    box = dash_duo.driver.find_element(By.XPATH, "//*[@id='ov-filters']//label[contains(., 'NIR_Y')]//input")
    box.click()
    wait_for(lambda: "filter=NIR_J,NIR_H" in dash_duo.driver.current_url, message="the filter in the URL")
    wait_for(lambda: dash_duo.driver.execute_script(tabs) == ["NIR_J", "NIR_H"], message="NIR_Y's tab gone")
    wait_for(lambda: dash_duo.driver.execute_script(title).startswith("NIR_J"), message="the J trend")
    # untick OK: only flagged exposures remain in the J plot
    box = dash_duo.driver.find_element(By.XPATH, "//*[@id='ov-statuses']//label[.//span[text()='OK']]//input")
    box.click()
    wait_for(lambda: "status=WARN,FAIL,NODATA" in dash_duo.driver.current_url, message="the status in the URL")
    wait_for(lambda: not any(n.startswith("OK") for n in trace_names(dash_duo, graph)),
             message="OK points gone")
    assert any(n.startswith("FAIL") for n in trace_names(dash_duo, graph))
    # another tab: the H trend, named in the URL
    dash_duo.driver.find_element(By.XPATH, "//*[@id='ov-trend']//label[contains(., 'NIR_H')]").click()
    wait_for(lambda: "trend=NIR_H" in dash_duo.driver.current_url, message="the tab in the URL")
    wait_for(lambda: dash_duo.driver.execute_script(title).startswith("NIR_H"), message="the H trend")
    # the link reproduces the view
    url = dash_duo.driver.current_url
    dash_duo.driver.get(url)
    wait_for(lambda: trace_names(dash_duo, graph), message="reloaded plot")
    assert dash_duo.driver.execute_script(title).startswith("NIR_H")
    assert dash_duo.driver.execute_script(tabs) == ["NIR_J", "NIR_H"]
    assert not any(n.startswith("OK") for n in trace_names(dash_duo, graph))
    # the navbar's Overview and Exports links carry the selection
    search = url.split("?", 1)[1]
    wait_for(lambda: dash_duo.find_element("#nav-exports").get_attribute("href").endswith("/exports?" + search),
             message="the exports link with the selection")
    assert dash_duo.find_element("#nav-overview").get_attribute("href").endswith("/?" + search)
    dash_duo.find_element("#nav-exports").click()
    wait_for(lambda: "exposures in" in dash_duo.find_element("#exp-count").text, message="the exports page")
    assert dash_duo.find_element("#exp-statuses input[value=OK]").is_selected() is False
    # a malformed link explains itself
    dash_duo.driver.get(dash_duo.server_url + "/?filter=NIR_Q&from=2025-99-99")
    dash_duo.wait_for_contains_text("#ov-url-messages", "Unknown filter 'NIR_Q'")
    assert "must be a date" in dash_duo.find_element("#ov-url-messages").text


def tick(dash_duo, scope: str, row_id: str):
    """Tick the grid row ``row_id`` (obs|filter|dither) inside ``scope``."""
    box = wait_for(lambda: dash_duo.driver.find_element(
        By.CSS_SELECTOR, f"{scope} .ag-row[row-id='{row_id}'] .ag-selection-checkbox input"), message=row_id)
    box.click()


def press(dash_duo, selector: str) -> None:
    """Click an element once scrolled to the middle of the window (the
    sticky navigation bar would take a click at the top edge)."""
    element = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def grid_rows(dash_duo, scope: str) -> list:
    return dash_duo.driver.find_elements(By.CSS_SELECTOR, f"{scope} .ag-center-cols-container .ag-row")


def review_exposure(dash_duo, reviewer: str, comment: str, button: str = "confirm"):
    section = f"#obs-section-{FILTER}"
    tick(dash_duo, section, f"{OBS}|{FILTER}|{DITHER}")
    name = dash_duo.driver.find_element(By.CSS_SELECTOR, f"{section} .review-form input[placeholder='your name']")
    name.clear()
    name.send_keys(reviewer)
    dash_duo.driver.find_element(By.CSS_SELECTOR, f"{section} .review-form input[placeholder^='comment']").send_keys(
        comment)
    dash_duo.driver.find_element(By.CSS_SELECTOR, f"{section} .btn-{button}").click()


def test_review_survives_reload_and_shows_author(dash_duo, store):
    start(dash_duo, store, f"/observation/{OBS}?filter={FILTER}")
    dash_duo.wait_for_element(f"#obs-section-{FILTER} .ag-row")
    hostile = "<img src=x onerror=alert(1)>"
    review_exposure(dash_duo, f"Ada {hostile}", "<script>alert('x')</script> flat-field residual")
    dash_duo.wait_for_contains_text(f"#obs-section-{FILTER} .review-result", "Stored: confirmed by Ada")
    dash_duo.driver.refresh()
    dash_duo.wait_for_contains_text(f"#obs-section-{FILTER}", f"confirmed by Ada {hostile}")
    text = dash_duo.find_element(f"#obs-section-{FILTER}").text
    assert "<script>alert('x')</script> flat-field residual" in text  # shown as text, not run
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, f"#obs-section-{FILTER} img[src=x]")
    # and it is stored with who and when
    reviews = store.reviews(obs_id=OBS, filter=FILTER)
    assert list(reviews["reviewer"]) == [f"Ada {hostile}"] and reviews["created"].notna().all()
    # the review shows on the reviews page too
    dash_duo.driver.get(dash_duo.server_url + "/reviews")
    dash_duo.wait_for_contains_text("#reviews-table", f"Ada {hostile}")


def test_review_needs_a_name(dash_duo, store):
    start(dash_duo, store, f"/observation/{OBS}?filter={FILTER}")
    dash_duo.wait_for_element(f"#obs-section-{FILTER} .ag-row")
    review_exposure(dash_duo, "", "no name")
    dash_duo.wait_for_contains_text(f"#obs-section-{FILTER} .review-result", "Enter your name")
    assert store.reviews().empty


def test_only_flags_are_reviewed(dash_duo, store):
    # an OK dither of the bad observation cannot be "confirmed"
    start(dash_duo, store, f"/observation/{OBS}?filter={FILTER}")
    dash_duo.wait_for_element(f"#obs-section-{FILTER} .ag-row")
    section = f"#obs-section-{FILTER}"
    ok_dither = 1 if DITHER != 1 else 2
    tick(dash_duo, section, f"{OBS}|{FILTER}|{ok_dither}")
    dash_duo.find_element(f"{section} .review-form input[placeholder='your name']").send_keys("Ada")
    dash_duo.driver.find_element(By.CSS_SELECTOR, f"{section} .btn-confirm").click()
    dash_duo.wait_for_contains_text(f"{section} .review-result", f"Dither {ok_dither} is not flagged")
    # "every flagged exposure" reviews the bad dither only
    dash_duo.driver.find_element(By.XPATH, f"//*[@id='{section[1:]}']//label[contains(., 'every flagged')]").click()
    dash_duo.driver.find_element(By.CSS_SELECTOR, f"{section} .btn-confirm").click()
    dash_duo.wait_for_contains_text(f"{section} .review-result", f"for dither {DITHER}")
    assert list(store.reviews(obs_id=OBS, filter=FILTER)["exposure"]) == [DITHER]
    # an observation with nothing flagged offers no review
    trend = store.trend("NIR_Y")
    flagged = trend.loc[(trend["status"] != "OK") | trend["alarmed"].astype(bool), "obs_id"]
    calm = next(obs for obs in sorted(trend["obs_id"].unique()) if obs not in set(flagged))
    dash_duo.driver.get(f"{dash_duo.server_url}/observation/{calm}?filter=NIR_Y")
    dash_duo.wait_for_contains_text("#obs-nothing-to-review-NIR_Y", "nothing to review")
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#obs-section-NIR_Y .btn-confirm")
    assert len(store.reviews()) == 1


def queue_rows(dash_duo) -> list[str]:
    """The problem queue's rows as text."""
    rows = dash_duo.driver.find_elements(By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-row")
    return [r.text for r in rows]


def open_problem(dash_duo, text: str) -> None:
    """Click the queue's row holding ``text`` and wait for its detail."""
    row = wait_for(lambda: next((r for r in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-row") if text in r.text), None),
        message=f"the row of {text}")
    titles = lambda: [t.text for t in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#triage-detail-title")]  # noqa
    before = titles()
    cell = row.find_element(By.CSS_SELECTOR, ".ag-cell[col-id=what]")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    cell.click()
    wait_for(lambda: titles() and titles() != before, message="the problem drawn below the queue")


def test_problem_queue_empties_as_problems_are_reviewed(dash_duo, store):
    start(dash_duo, store, "/triage")
    dash_duo.wait_for_contains_text("#triage-count", "3 problems await review (3 exposures)")
    rows = wait_for(lambda: len(queue_rows(dash_duo)) == 3 and queue_rows(dash_duo), message="three rows")
    assert "FAIL" in rows[0] and f"obs {OBS} dither {DITHER}" in rows[0]  # worst first
    open_problem(dash_duo, f"obs {OBS} dither {DITHER}")
    assert "QPRELEX" in dash_duo.find_element("#triage-detail").text
    dash_duo.find_element("#triage-reviewer").send_keys("Grace")
    press(dash_duo, "#triage-confirm")
    dash_duo.wait_for_contains_text("#triage-notice", "Stored: confirmed by Grace for problem")
    dash_duo.wait_for_contains_text("#triage-count", "2 problems await review")
    # overruling needs a reason
    open_problem(dash_duo, "NODATA")
    press(dash_duo, "#triage-overrule")
    dash_duo.wait_for_contains_text("#triage-notice", "overruling a flag needs a reason")
    assert len(store.reviews()) == 1
    dash_duo.find_element("#triage-comment").send_keys("seen, all fine")
    press(dash_duo, "#triage-overrule")
    dash_duo.wait_for_contains_text("#triage-count", "1 problem await")
    open_problem(dash_duo, "WARN")
    dash_duo.find_element("#triage-comment").send_keys("fine")
    press(dash_duo, "#triage-overrule")
    dash_duo.wait_for_element("#triage-empty")
    dash_duo.driver.refresh()
    dash_duo.wait_for_element("#triage-empty")
    assert len(store.reviews()) == 3 and store.problems(awaiting=True).empty
    assert dash_duo.get_logs() == []


def test_a_lead_acknowledges_a_problem_and_a_stale_page_is_refused(dash_duo, store):
    start(dash_duo, store, "/triage?view=open")
    open_problem(dash_duo, f"obs {OBS} dither {DITHER}")
    pid = int(store.problems(kinds=["exposure"]).query("worst_status == 'FAIL'")["id"].iloc[0])
    store.set_problem_state(pid, "acknowledge", "Ada")  # someone else, since the page was drawn
    dash_duo.find_element("#triage-lead").send_keys("Bob")  # the name stays for the next decision
    press(dash_duo, "#triage-state-resolve")
    dash_duo.wait_for_contains_text("#triage-notice", "changed since you saw it (acknowledge by Ada")
    assert store.problem(pid)["state"] == "acknowledged"
    open_problem(dash_duo, "WARN")
    open_problem(dash_duo, f"obs {OBS} dither {DITHER}")  # drawn again: the current version
    wait_for(lambda: dash_duo.find_element("#triage-state-acknowledge").get_attribute("disabled") is not None,
             message="the actions of an acknowledged problem")
    press(dash_duo, "#triage-state-resolve")
    dash_duo.wait_for_contains_text("#triage-notice", f"Problem {pid}: resolve by Bob")
    assert store.problem(pid)["state"] == "resolved" and store.problem_events(pid)["by"].tolist()[-1] == "Bob"
    dash_duo.wait_for_contains_text("#triage-life", "resolve by Bob")


def test_downloaded_product_validates(dash_duo, store, tmp_path):
    from relphot_core.products import read_product

    start(dash_duo, store, f"/observation/{OBS}?filter={FILTER}")
    download_dir = Path(dash_duo.download_path)
    dash_duo.driver.execute_cdp_cmd("Page.setDownloadBehavior",
                                    {"behavior": "allow", "downloadPath": str(download_dir)})
    link = dash_duo.wait_for_element(f"#obs-download-{FILTER}")
    link.click()
    files = wait_for(lambda: [p for p in download_dir.glob("*.xml")], timeout=15, message="the download")
    result = read_product(files[0])  # validates against the XSD first
    assert result.obs_id == OBS and result.filter == FILTER
    assert result.exposure(DITHER).status == "FAIL"


def test_unknown_observation_shows_not_found(dash_duo, store):
    start(dash_duo, store, "/observation/99999")
    dash_duo.wait_for_contains_text("#obs-not-found", "No observation 99999")
    dash_duo.driver.get(dash_duo.server_url + "/observation/abc")
    dash_duo.wait_for_contains_text("#obs-not-found", "not an observation id")
    dash_duo.driver.get(dash_duo.server_url + "/no/such/page")
    dash_duo.wait_for_element("#page-not-found")
    # no JavaScript error on the way (the pages themselves come with status 404)
    logs = dash_duo.get_logs()
    assert all(entry["source"] == "network" and "status of 404" in entry["message"] for entry in logs), logs
    assert len(logs) == 3


def test_empty_store_shows_its_empty_page(dash_duo, tmp_path):
    start(dash_duo, Store.open(f"sqlite:///{tmp_path / 'empty.db'}"))
    dash_duo.wait_for_contains_text("#empty-store", "The store is empty")
    assert "relphot demo" in dash_duo.find_element("#empty-store").text
    dash_duo.driver.get(dash_duo.server_url + "/triage")
    dash_duo.wait_for_element("#empty-store")


def test_processing_failures_are_problems_of_the_queue(dash_duo, store):
    from relphot_core.inputs import SetFailure

    store.record_failure(SetFailure(kind="lone exposure", path="/data/1099_NIR_H_D3.cat.fits", obs_id=OBS,
                                    filter=FILTER, reason="is the only exposure of observation given"), "p")
    store.update_problems()
    start(dash_duo, store, "/triage")
    rows = wait_for(lambda: len(queue_rows(dash_duo)) == 4 and queue_rows(dash_duo), message="four rows")
    failure = next(r for r in rows if r.startswith("open\nfailure"))
    assert f"obs {OBS}" in failure and "1099_NIR_H_D3.cat.fits" in failure
    open_problem(dash_duo, "failure")
    dash_duo.wait_for_contains_text("#triage-detail", "could not be processed (lone exposure")
    dash_duo.find_element("#triage-detail a").click()
    dash_duo.wait_for_contains_text("#obs-title", f"Observation {OBS}")
    dash_duo.wait_for_contains_text("._dash-app-content, #_pages_content, body", "Processing failure (lone exposure")
    assert dash_duo.get_logs() == []


def test_queue_column_filters_narrow_the_rows(dash_duo, store):
    start(dash_duo, store, "/triage")
    wait_for(lambda: len(queue_rows(dash_duo)) == 3, message="three rows")
    _floating_filter(dash_duo, "#triage-table", "filter").send_keys("NIR_H")
    wait_for(lambda: len(queue_rows(dash_duo)) == 1 and "obs 1023 dither 2" in queue_rows(dash_duo)[0],
             message="the NIR_H problem only")
    assert dash_duo.get_logs() == []


def _floating_filter(dash_duo, grid: str, column: str):
    """The input of a grid column's floating filter (the row under its header)."""
    return dash_duo.driver.find_element(By.CSS_SELECTOR, f"{grid} .ag-floating-filter[col-id={column}] input")


def choose(dash_duo, dropdown: str, starts_with: str) -> str:
    """Pick the option of a dcc.Dropdown whose label starts with ``starts_with``; returns its label."""
    press(dash_duo, dropdown)
    option = wait_for(lambda: [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
                               if o.text.startswith(starts_with)], message=f"option {starts_with}")[0]
    label = option.text
    option.click()
    return label


def test_a_problem_reviewed_then_revoked_leaves_the_queue_as_before(dash_duo, store):
    before = store.problems(awaiting=True)[["id", "n_awaiting"]]
    start(dash_duo, store, "/triage")
    dash_duo.wait_for_contains_text("#triage-count", "3 problems await review")
    open_problem(dash_duo, f"obs {OBS} dither {DITHER}")
    choose(dash_duo, "#triage-cause", "satellite trail")
    dash_duo.find_element("#triage-reviewer").send_keys("Hedy")
    dash_duo.find_element("#triage-comment").send_keys("trail across the array")
    press(dash_duo, "#triage-confirm")
    dash_duo.wait_for_contains_text("#triage-notice", "for problem")
    dash_duo.wait_for_contains_text("#triage-count", "2 problems await review")
    (batch,) = store.review_batches()["batch_id"].tolist()
    reviews = store.reviews()
    assert len(reviews) == 1 and set(reviews["cause"]) == {"satellite trail"}
    bad = reviews.iloc[0]
    assert (bad["flag_kind"], bad["flag_reason"][:len(f"exposure {OBS}")]) == ("status", f"exposure {OBS}")
    # the reviews page says which flag each decision was about, and revokes the batch
    dash_duo.driver.get(dash_duo.server_url + "/reviews")
    row = dash_duo.wait_for_element(f"#reviews-table .ag-row[row-id='{bad['id']}']")
    assert "satellite trail" in row.text
    row.find_element(By.CSS_SELECTOR, ".ag-cell[col-id=reviewer]").click()  # chooses its batch
    wait_for(lambda: f"batch {batch}:" in dash_duo.find_element("#reviews-batch").text, message="the batch chosen")
    dash_duo.find_element("#reviews-by").send_keys("Hedy")
    press(dash_duo, "#reviews-revoke")
    alert = wait_for(lambda: dash_duo.driver.switch_to.alert, message="the confirmation")
    assert f"batch {batch}" in alert.text and "audit trail" in alert.text
    alert.accept()
    dash_duo.wait_for_contains_text("#reviews-result", f"Revoked batch {batch}: 1 review no longer count")
    # the queue is exactly as before, on the page and in the store
    pd.testing.assert_frame_equal(store.problems(awaiting=True)[["id", "n_awaiting"]], before)
    dash_duo.driver.get(dash_duo.server_url + "/triage")
    dash_duo.wait_for_contains_text("#triage-count", "3 problems await review (3 exposures)")
    assert dash_duo.get_logs() == []


def test_the_reviews_page_finds_a_review_by_its_cause(dash_duo, store):
    store.add_reviews([(OBS, FILTER, DITHER)], "confirmed", "Ida", "streak", cause="satellite trail")
    store.add_reviews([(1023, "NIR_H", 2)], "overruled", "Joe", "fine", cause="persistence")
    start(dash_duo, store, "/reviews")
    def rows():
        return [r.text for r in grid_rows(dash_duo, "#reviews-table")]
    wait_for(lambda: len(rows()) == 2, message="two reviews")
    assert any("status FAIL" in r for r in rows())
    search = dash_duo.find_element("#reviews-search")
    search.send_keys("satellite\n")
    wait_for(lambda: len(rows()) == 1 and "Ida" in rows()[0], message="the review of that cause")
    dash_duo.wait_for_contains_text("#reviews-count", "1 review decision match 'satellite'")
    search.clear()
    search.send_keys("PERSISTENCE\n")
    wait_for(lambda: len(rows()) == 1 and "Joe" in rows()[0], message="the other cause")
    assert dash_duo.get_logs() == []
