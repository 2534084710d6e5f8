"""Drill-down in a real browser (dash_duo + headless chromium): the trend's
date axis and click-through, a pinned off-scale factor, the pair matrix and
focal plane as links, "next flagged" and the breadcrumb back to the view."""
from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlparse

import pytest
from dashboard_fixtures import BAD, fill_small_store, wait_for
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from dashboard import create_app
from relphot_core.qc.flags import next_flagged as next_flagged_in
from relphot_core.testing.synth import make_result

pytestmark = pytest.mark.browser

OBS, FILTER, DITHER = BAD
EXTREME = 1030
"""An observation added to the small store with a factor of 0.60 (dither 3)."""


@pytest.fixture()
def store(tmp_path):
    store = fill_small_store(f"sqlite:///{tmp_path / 'drill.db'}")
    store.save_results([make_result(EXTREME, FILTER, values=[1.0, 1.0, 0.60, 1.0], seed=99, mjd_start=60730.0)])
    return store


def start(dash_duo, store, path: str = "/"):
    app = create_app(store, db_label="drill.db", warm=False)
    dash_duo.start_server(app)
    if path != "/":
        dash_duo.driver.get(dash_duo.server_url + path)
    return app


def graph_state(dash_duo, selector: str, script: str):
    """``script`` run on the plotly graph div inside ``selector`` (as ``gd``)."""
    return dash_duo.driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "if (!gd || !gd._fullData) { return null; }" + script, selector)


def click_trace_point(dash_duo, selector: str, prefix: str, index: int = 0) -> None:
    """Click the ``index``-th marker of the first trace named ``prefix...``."""
    point = wait_for(lambda: dash_duo.driver.execute_script(
        "const gd = document.querySelector(arguments[0] + ' .js-plotly-plot');"
        "for (const tr of gd.querySelectorAll('.scatterlayer .trace')) {"
        "  const d = tr.__data__;"
        "  if (d && d[0] && d[0].trace && (d[0].trace.name || '').startsWith(arguments[1])) {"
        "    return tr.querySelectorAll('.point')[arguments[2]]; } }"
        "return null;", selector, prefix, index), message=f"a point of {prefix}")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", point)
    ActionChains(dash_duo.driver).move_to_element(point).pause(0.3).click().perform()


def click_heatmap_cell(dash_duo, selector: str, row: int, col: int, size: int, subplot: str = "xy") -> None:
    """Click cell (row, col) of a ``size`` x ``size`` heat map (row 0 at the top), at
    viewport coordinates (Selenium's offsets from an SVG rect's centre miss it)."""
    box = wait_for(lambda: dash_duo.driver.execute_script(
        "const r = document.querySelector(arguments[0] + ` .nsewdrag[data-subplot='${arguments[1]}']`);"
        "if (!r) { return null; } r.scrollIntoView({block: 'center'});"
        "const b = r.getBoundingClientRect(); return [b.left, b.top, b.width, b.height];", selector, subplot),
        message="the heat map")
    x, y = box[0] + (col + 0.5) / size * box[2], box[1] + (row + 0.5) / size * box[3]
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(int(x), int(y))
    actions.pointer_action.pause(0.3)
    actions.pointer_action.click()
    actions.perform()


def test_trend_has_a_date_axis_and_a_click_opens_the_observation_with_the_way_back(dash_duo, store):
    start(dash_duo, store, f"/?filter={FILTER},NIR_H&status=WARN,FAIL&trend={FILTER}")
    graph = "#ov-trend-graph"
    axis = wait_for(lambda: graph_state(dash_duo, graph, "return gd._fullLayout.xaxis.type;"), message="the trend")
    assert axis == "date"
    ticks = graph_state(dash_duo, graph,
                        "return Array.from(gd.querySelectorAll('.xtick text')).map(t => t.textContent);")
    assert any("Jan" in t or "Feb" in t for t in ticks)  # dates, not MJDs like 60700.0
    hover = graph_state(dash_duo, graph, "const t = gd._fullData.find(t => (t.name || '').startsWith('FAIL'));"
                                         "return t.text[0];")
    for part in ("UTC", "MJD", f"obs {OBS}", f"dither {DITHER}", "QPRELEX 0.9700 ±", "FAIL", "review: awaiting"):
        assert part in hover
    click_trace_point(dash_duo, graph, "FAIL")
    wait_for(lambda: f"/observation/{OBS}" in dash_duo.driver.current_url, message="the observation page")
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    back = dash_duo.find_element("#obs-back")
    href = urlparse(back.get_attribute("href"))
    assert href.path == "/" and parse_qs(href.query) == {"filter": [f"{FILTER},NIR_H"], "status": ["WARN,FAIL"]}
    # the selection survives the neighbours too
    assert "back=" in dash_duo.find_element("#obs-next").get_attribute("href")
    back.click()
    wait_for(lambda: urlparse(dash_duo.driver.current_url).path == "/", message="the overview")
    query = parse_qs(urlparse(dash_duo.driver.current_url).query)
    assert query["filter"] == [f"{FILTER},NIR_H"] and query["status"] == ["WARN,FAIL"]
    checked = lambda: sorted(dash_duo.driver.execute_script(  # noqa: E731
        "return Array.from(document.querySelectorAll('#ov-statuses input:checked')).map(i => i.value);"))
    wait_for(lambda: checked() == ["FAIL", "WARN"], message="the statuses of the selection ticked again")


def test_an_off_scale_factor_is_pinned_and_labelled_and_fit_all_takes_it_in(dash_duo, store):
    start(dash_duo, store, f"/?trend={FILTER}")
    graph = "#ov-trend-graph"
    state = ("const t = gd._fullData.find(t => (t.name || '').startsWith('off scale'));"
             "return t ? {name: t.name, text: Array.from(t.text), y: Array.from(t.y),"
             " range: gd._fullLayout.yaxis.range} : {none: true, range: gd._fullLayout.yaxis.range};")
    pinned = wait_for(lambda: graph_state(dash_duo, graph, state), message="the trend")
    assert pinned["name"] == "off scale (1)" and pinned["text"] == ["0.600"]
    low, high = pinned["range"]
    assert low > 0.9 and low < pinned["y"][0] < high  # drawn at the bottom edge, not squashing the rest
    label = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('#ov-trend-graph .textpoint text')).map(t => t.textContent);")
    assert "0.600" in label
    dash_duo.driver.find_element(By.XPATH, "//*[@id='ov-yrange']//label[contains(., 'fit all')]").click()
    fitted = wait_for(lambda: (lambda s: s if s and s.get("none") else None)(graph_state(dash_duo, graph, state)),
                      message="the fitted trend")
    assert fitted["range"][0] < 0.6


def test_pair_matrix_click_shows_that_pair_and_focal_plane_opens_the_detector(dash_duo, store):
    start(dash_duo, store, f"/observation/{OBS}?filter={FILTER}")
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    dropdown = f"[id*='obs-pair'][id*='{FILTER}']"
    first = wait_for(lambda: dash_duo.find_element(dropdown).text, message="the pair menu")
    assert "dither 1 − dither 2" not in first
    matrix = f"[id*='obs-matrix'][id*='{FILTER}']"
    hist = f"[id*='obs-hist'][id*='{FILTER}']"
    # row dither 1, column dither 2: a pair without the bad exposure
    click_heatmap_cell(dash_duo, matrix, 0, 1, 4)
    wait_for(lambda: "dither 1 − dither 2" in dash_duo.find_element(dropdown).text,
             message="the pair menu on 1-2")
    wait_for(lambda: "m(dither 1) − m(dither 2)" in (graph_state(
        dash_duo, hist, "return gd._fullLayout.title.text;") or ""), message="the histogram of pair 1-2")
    median_12 = graph_state(dash_duo, hist, "return gd._fullLayout.shapes.map(s => s.x0);")
    # the lower triangle: row dither 2, column dither 1 is m(2) - m(1), drawn with that sign
    click_heatmap_cell(dash_duo, matrix, 1, 0, 4)
    wait_for(lambda: "dither 2 − dither 1" in dash_duo.find_element(dropdown).text, message="the pair menu on 2-1")
    wait_for(lambda: "m(dither 2) − m(dither 1)" in (graph_state(
        dash_duo, hist, "return gd._fullLayout.title.text;") or ""), message="the histogram of pair 2-1")
    median_21 = graph_state(dash_duo, hist, "return gd._fullLayout.shapes.map(s => s.x0);")
    assert sorted(median_21) == pytest.approx(sorted(-x for x in median_12))
    # the focal plane: detector 23 of the first dither's panel opens its history
    plane = f"[id*='obs-focal'][id*='{FILTER}']"
    click_heatmap_cell(dash_duo, plane, 1, 2, 4)
    wait_for(lambda: urlparse(dash_duo.driver.current_url).path == "/detectors", message="the detector page")
    query = parse_qs(urlparse(dash_duo.driver.current_url).query)
    assert query["filter"] == [FILTER] and query["detector"] == ["23"]
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def test_next_flagged_and_next_in_the_queue(dash_duo, store):
    app = start(dash_duo, store, f"/observation/1001?filter={FILTER}")
    dash_duo.wait_for_text_to_equal("#obs-title", "Observation 1001")
    expected = next_flagged_in(app.server.config["RELPHOT_CACHE"].trend(FILTER), 1001)
    assert expected == OBS  # the only flagged observation of NIR_J after 1001 before the extreme one
    link = dash_duo.find_element("#obs-next-flagged")
    assert link.text == f"next flagged: {OBS} →"
    link.click()
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    assert f"filter={FILTER}" in dash_duo.driver.current_url
    dash_duo.wait_for_text_to_equal("#obs-next-flagged", f"next flagged: {EXTREME} →")
    # the queue, worst first: the 0.60 factor, then the 3 % FAIL, then the WARN
    queued = dash_duo.find_element("#obs-next-queued")
    assert queued.text == "next in the queue: 1023 NIR_H →"
    queued.click()
    dash_duo.wait_for_text_to_equal("#obs-title", "Observation 1023")
    assert "filter=NIR_H" in unquote(dash_duo.driver.current_url)


def test_all_filters_view_starts_with_a_summary_worst_filter_first(dash_duo, store):
    start(dash_duo, store, f"/observation/{OBS}")
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    summary = dash_duo.find_element("#obs-summary").text.splitlines()
    assert summary[0] == "Filters of this observation, worst first"
    rows = [line for line in summary if line.startswith("NIR_")]
    assert rows[0].startswith(FILTER) and f"dither {DITHER}: QPRELEX 0.9700" in rows[0]
    sections = dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.obs-section')).map(s => s.id);")
    assert sections[0] == f"obs-section-{FILTER}" and len(sections) == 3


def test_a_problem_queue_link_leads_back_to_the_queue(dash_duo, store):
    start(dash_duo, store, "/triage")
    row = wait_for(lambda: next((r for r in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-row") if f"obs {OBS}" in r.text), None),
        message="the bad exposure's problem")
    row.find_element(By.CSS_SELECTOR, ".ag-cell[col-id=what]").click()
    link = wait_for(lambda: next((a for a in dash_duo.driver.find_elements(By.CSS_SELECTOR,
                                                                           "#triage-exposures .ag-row a")
                                  if a.text == str(OBS)), None), message="the problem's link to the bad observation")
    link.click()
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {OBS}")
    back = dash_duo.find_element("#obs-back")
    assert back.text == "Problem queue"
    assert urlparse(back.get_attribute("href")).path == "/triage"
    back.click()
    wait_for(lambda: urlparse(dash_duo.driver.current_url).path == "/triage", message="the queue")


def test_a_nodata_exposure_page_draws_without_errors_and_shows_nodata_whole(dash_duo, store):
    """An observation whose dither has no factor and no detector statistics
    (the demo's 1071 NIR_J): no console error (its focal-plane panel is
    drawn grey, titled "no data") and the status cell reads
    NODATA, not "NODA..."."""
    obs_id, filter_name, dither = 1006, "NIR_Y", 2  # a middle dither, as 1071's
    result = make_result(obs_id, filter_name, values=[1.0, None, 1.0, 1.0], seed=5, mjd_start=60706.0)
    result.detectors = [d for d in result.detectors if d.exposure != dither]
    store.save_results([result])
    start(dash_duo, store, f"/observation/{obs_id}?filter={filter_name}")
    dash_duo.wait_for_text_to_equal("#obs-title", f"Observation {obs_id}")
    plane = f"[id*='obs-focal'][id*='{filter_name}']"
    notes = wait_for(lambda: graph_state(dash_duo, plane, "return gd._fullLayout.annotations.map(a => a.text);"),
                     message="the focal plane")
    assert f"dither {dither}: no data" in notes
    cells = wait_for(lambda: dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll(\".ag-cell[col-id='status']\"))"
        ".filter(c => c.textContent.trim() === 'NODATA').map(c => [c.scrollWidth, c.clientWidth]);"),
        message="the NODATA cell")
    assert cells and all(scroll <= client for scroll, client in cells), cells
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]


def test_the_overview_hover_of_an_observation_with_a_bad_detector_names_it(dash_duo, store):
    """The four dithers of an observation share a pixel: wherever the pointer
    lands on them, the hover names the bad detector of the one flagged."""
    result = make_result(1002, FILTER, values=[1.0, 1.0, 1.0, 1.0], seed=8, mjd_start=60702.0)
    flagged = result.exposures[0]
    flagged.detector_flag, flagged.detector_worst, flagged.detector_offset = "FAIL", 23, 0.05
    flagged.detector_reason = "1 of 16 detectors flagged (1 FAIL); worst detector 23: +50.0 mmag"
    store.save_results([result])
    start(dash_duo, store, f"/?filter={FILTER}")
    graph = "#ov-trend-graph"
    at = wait_for(lambda: graph_state(dash_duo, graph, (
        "const t = gd._fullData.find(t => (t.name || '').startsWith('other flag'));"
        "if (!t) { return null; }"
        "const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        "const box = gd.querySelector('.nsewdrag').getBoundingClientRect();"
        "return [box.x + xa.l2p(xa.d2l(t.x[0])), box.y + ya.l2p(t.y[0])];")), message="the ring")
    actions = ActionBuilder(dash_duo.driver)
    actions.pointer_action.move_to_location(int(at[0]), int(at[1]))
    actions.pointer_action.pause(0.5)
    actions.perform()
    hover = wait_for(lambda: dash_duo.driver.execute_script(
        "return Array.from(document.querySelectorAll('.hoverlayer .hovertext')).map(e => e.textContent).join(' ');"),
        message="the hover")
    assert "obs 1002" in hover and "worst detector 23" in hover
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]
