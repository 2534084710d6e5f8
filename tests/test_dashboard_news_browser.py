"""What is new since last night, in a real browser, on the demo: its
second batch ("last night") brings a new FAIL (obs 1080 NIR_J dither 1)
and grows the drift of NIR_H dither 4. The overview's news line names
them, the What's new page lists them with links into the queue, the
moments are switched by links, and the queue's "new" view holds exactly
the problems of the last batch."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard_fixtures import wait_for as shared_wait_for
from relphot_core.demo import build_demo

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo's season (100 observations, two batches), fewer sources per detector."""
    return build_demo(tmp_path_factory.mktemp("news"), n_observations=100, sources_per_detector=100, workers=2)


def wait_for(predicate, timeout: float = 15.0, message: str = "condition"):
    return shared_wait_for(predicate, timeout, message)


def body_text(dash_duo) -> str:
    return dash_duo.driver.find_element(By.TAG_NAME, "body").text


def test_since_last_night_on_the_demo(dash_duo, demo):
    news = demo.news("batch")
    assert news.new_fails[["obs_id", "filter", "exposure"]].values.tolist() == [[1080, "NIR_J", 1]]
    events = dict(zip(news.problems["title"] + " (" + news.problems["filter"] + ")", news.problems["event"]))
    assert events == {"exposure 1080 dither 1 (NIR_J)": "opened", "drift of dither 4 (NIR_H)": "grew"}
    app = create_app(demo, db_label="demo.db", warm=False)
    dash_duo.start_server(app)

    # the overview's line: what last night brought
    dash_duo.driver.get(dash_duo.server_url + "/")
    dash_duo.wait_for_element("#news-strip-text")
    strip = dash_duo.find_element("#news-strip-text").text
    assert strip == news.summary()
    assert f"{news.sets} sets processed, 1 new problem, 1 grown, 0 regressed, 1 new FAIL" in strip

    # the What's new page, opened from it
    dash_duo.find_element("#news-strip-link").click()
    dash_duo.wait_for_element("#news-problems")
    assert dash_duo.driver.current_url.endswith("/news?since=batch")
    items = [li.text for li in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#news-problems li")]
    assert items[0].startswith("new exposure 1080 dither 1 (NIR_J): +")
    assert items[1].startswith("grew drift of dither 4 (NIR_H): -") and "%/day" in items[1]
    fails = [li.text for li in dash_duo.driver.find_elements(By.CSS_SELECTOR, "#news-fails li")]
    assert len(fails) == 1 and fails[0].startswith("obs 1080 NIR_J dither 1: QPRELEX 1.0")
    assert "pill-active" in dash_duo.find_element("#news-since-batch").get_attribute("class")

    # a click on the new problem opens it in the queue
    dash_duo.driver.find_element(By.LINK_TEXT, "exposure 1080 dither 1 (NIR_J)").click()
    new_id = int(news.problems.loc[news.problems["event"] == "opened", "problem_id"].iloc[0])
    wait_for(lambda: f"problem={new_id}" in dash_duo.driver.current_url, message="the queue's URL")
    wait_for(lambda: "1080" in dash_duo.find_element("#triage-detail").text, message="the problem's detail")

    # the last 24 hours hold both batches: every set of the season
    dash_duo.driver.get(dash_duo.server_url + "/news?since=batch")
    dash_duo.wait_for_element("#news-since-day").click()
    day = demo.news("day")
    wait_for(lambda: dash_duo.find_element("#news-summary").text == day.summary(), message="the 24-hour news")
    assert day.sets == 300 and len(day.batches) == 2
    assert "Batches (2)" in body_text(dash_duo)

    # an unknown moment is said, not ignored
    dash_duo.driver.get(dash_duo.server_url + "/news?since=someday")
    wait_for(lambda: "since must be one of batch, day, visit" in body_text(dash_duo), message="the refusal")

    # the queue's "new" view: exactly the problems of the last batch
    dash_duo.driver.get(dash_duo.server_url + "/triage?view=new")
    dash_duo.wait_for_element("#triage-count")
    assert dash_duo.find_element("#triage-count").text.startswith("2 problems new since the last batch (")
    whats = wait_for(lambda: [c.text for c in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-cell[col-id=what]")] or None,
        message="the queue's rows")
    assert sorted(whats) == ["dither 4", "obs 1080 dither 1"]
    # ... and since 24 hours ago: every problem the two batches opened
    dash_duo.find_element("#triage-since-day").click()
    n_day = len(demo.news("day").problems)
    wait_for(lambda: dash_duo.find_element("#triage-count").text.startswith(
        f"{n_day} problems new since 24 hours ago"), message="the queue since 24 hours ago")
    assert n_day == len(demo.problems(current=None))
    assert dash_duo.get_logs() == []
