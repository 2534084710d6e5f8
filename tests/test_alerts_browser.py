"""The What's new page shows the alerts that could not be delivered (a real
failed delivery to a closed port, in headless chromium)."""
from __future__ import annotations

import pytest
from dashboard_fixtures import fill_small_store, wait_for

from dashboard import create_app
from relphot_core import alerts
from relphot_core.config import Alerts
from relphot_core.store import Store

from alert_fixtures import free_port

pytestmark = pytest.mark.browser


def test_the_news_page_shows_an_undelivered_alert_and_not_a_delivered_one(dash_duo, tmp_path):
    url = f"sqlite:///{tmp_path / 'browser.db'}"
    with Store.open(url) as empty:
        batch = empty.start_batch(command="compute", sets_planned=90)
    store = fill_small_store(url)  # the batch's runs and problems
    store.finish_batch(batch, new_runs=90, exit_status=0)
    closed = free_port()
    report = alerts.alert_batches(store, Alerts(targets=(f"json://127.0.0.1:{closed}/hook",)))
    assert report.failed and report.events  # the three exposure problems of the small store
    dash_duo.start_server(create_app(store, db_label="browser.db", warm=False))
    dash_duo.driver.get(dash_duo.server_url + "/news?since=batch")
    card = wait_for(lambda: dash_duo.find_element("#news-alert-failures").text, message="the card")
    assert "Alerts not delivered (1)" in card and f"json://127.0.0.1:{closed}/hook" in card
    assert "retried by the next run after 1 attempt" in card and "relphot QC: 3 new problems" in card
    assert not [e for e in dash_duo.get_logs() if e.get("level") == "SEVERE"]
    # delivered at last: no card
    (pending,) = store.pending_alert_deliveries([alerts.target_id(f"json://127.0.0.1:{closed}/hook")])
    assert store.claim_alert_delivery(pending) and not store.claim_alert_delivery(pending)  # taken once
    store.record_alert_delivery(pending.id, None, max_attempts=5)
    dash_duo.driver.get(dash_duo.server_url + "/news?since=batch")
    wait_for(lambda: dash_duo.find_element("#news-summary").text, message="the page")
    assert not dash_duo.driver.find_elements("css selector", "#news-alert-failures")
