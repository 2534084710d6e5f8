"""Identity in a real browser (issue 19, headless chromium): sign in,
review, sign out; a viewer's review callback refused by the server; a
reviewer cannot revoke another's batch, a lead can; a review from a stale
page refused naming who changed the exposure; in mode none the name field
starts empty on every visit."""
from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By

from dashboard import create_app
from dashboard_fixtures import wait_for
from identity_fixtures import PASSWORD, SECRET, fill_store, triage_review_body
from relphot_core import reviews
from relphot_core.identity import AuthMode, AuthSettings, Identity, Role

pytestmark = pytest.mark.browser

KEY = (1052, "NIR_H", 3)


@pytest.fixture
def accounts(tmp_path):
    store = fill_store(f"sqlite:///{tmp_path / 'store.db'}")
    settings = AuthSettings.from_mapping({"mode": "accounts", "secret_key": SECRET, "cookie_secure": False})
    yield create_app(store, cache_ttl=0, warm=False, auth_settings=settings), store
    store.close()


def start(dash_duo, app) -> None:
    """Start the server without waiting for a Dash page at / (it redirects to /login)."""
    dash_duo.start_server(app, navigate=False)
    dash_duo._url = dash_duo.server.url.rstrip("/")


def sign_in(dash_duo, name: str, then: str = "/triage") -> None:
    dash_duo.driver.delete_all_cookies()
    dash_duo.driver.get(dash_duo.server_url + then)
    wait_for(lambda: "/login" in dash_duo.driver.current_url, message="the sign-in page")
    dash_duo.driver.find_element(By.ID, "login-username").send_keys(name)
    dash_duo.driver.find_element(By.ID, "login-password").send_keys(PASSWORD)
    dash_duo.driver.find_element(By.ID, "login-submit").click()
    dash_duo.wait_for_text_to_equal("#nav-user-name", name)


def press(dash_duo, selector: str) -> None:
    element = dash_duo.find_element(selector)
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def tick_fail_row(dash_duo) -> None:
    """Open the problem of 1052 NIR_H dither 3 (FAIL) below the problem queue."""
    cell = wait_for(lambda: next((c for c in dash_duo.driver.find_elements(
        By.CSS_SELECTOR, "#triage-table .ag-center-cols-container .ag-row .ag-cell[col-id=what]")
        if c.text == "obs 1052 dither 3"), None), message="the FAIL problem")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    cell.click()
    dash_duo.wait_for_contains_text("#triage-detail-title", "exposure 1052 dither 3")


def test_sign_in_review_sign_out(dash_duo, accounts):
    app, store = accounts
    start(dash_duo, app)
    sign_in(dash_duo, "alice")
    assert "reviewer" in dash_duo.find_element("#nav-user").text
    tick_fail_row(dash_duo)
    assert not dash_duo.driver.find_elements(By.CSS_SELECTOR, "#triage-reviewer[type=text]")  # no name field
    assert "as alice" in dash_duo.find_element(".reviewer-as").text
    press(dash_duo, "#triage-confirm")
    dash_duo.wait_for_contains_text("#triage-notice", "Stored: confirmed by alice for problem")
    assert store.reviews()[["reviewer", "auth_mode"]].values.tolist() == [["alice", "accounts"]]
    press(dash_duo, "#nav-signout")
    wait_for(lambda: "/login" in dash_duo.driver.current_url, message="signed out")
    dash_duo.driver.get(dash_duo.server_url + "/triage")
    wait_for(lambda: "/login" in dash_duo.driver.current_url, message="the sign-in page again")
    assert dash_duo.get_logs() == []


def test_a_viewers_review_callback_is_refused_by_the_server(dash_duo, accounts):
    app, store = accounts
    start(dash_duo, app)
    sign_in(dash_duo, "vic")
    tick_fail_row(dash_duo)
    assert dash_duo.find_element("#triage-confirm").get_attribute("disabled") is not None
    assert "may look but not review" in dash_duo.find_element("#triage-may-not").text
    # the button is only a courtesy: the same request sent from the page is refused by the server
    body = triage_review_body(app, [{"id": "1052|NIR_H|3", "obs": 1052, "filter": "NIR_H", "exposure": 3,
                                      "review_id": None}])
    status, text = dash_duo.driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch('/_dash-update-component', {method: 'POST', headers: {'Content-Type': 'application/json'},"
        " body: JSON.stringify(arguments[0])}).then(r => r.text().then(t => done([r.status, t])));", body)
    assert status == 403 and "vic (viewer) may not review" in text
    assert store.reviews().empty


def revoke_in_page(dash_duo, batch: int) -> None:
    dash_duo.driver.get(dash_duo.server_url + "/reviews")
    press(dash_duo, "#reviews-batch")
    option = wait_for(lambda: [o for o in dash_duo.driver.find_elements(By.CSS_SELECTOR, ".dash-dropdown-option")
                               if o.text.startswith(f"batch {batch}:")], message="the batch")[0]
    option.click()
    press(dash_duo, "#reviews-revoke")
    wait_for(lambda: dash_duo.driver.switch_to.alert, message="the confirmation").accept()


def test_a_reviewer_cannot_revoke_anothers_batch_a_lead_can(dash_duo, accounts):
    app, store = accounts
    batch = reviews.submit(store, [KEY], "confirmed", "", identity=Identity("alice", Role.REVIEWER,
                                                                            AuthMode.ACCOUNTS, True))
    start(dash_duo, app)
    sign_in(dash_duo, "bob", "/reviews")
    revoke_in_page(dash_duo, batch)
    dash_duo.wait_for_contains_text("#reviews-result", "bob (reviewer) may not revoke another's batch (alice's)")
    assert store.review_batches()["revoked_at"].isna().all()
    sign_in(dash_duo, "lea", "/reviews")
    revoke_in_page(dash_duo, batch)
    dash_duo.wait_for_contains_text("#reviews-result", f"Revoked batch {batch}")
    wait_for(lambda: "revoked by lea" in dash_duo.find_element("#reviews-table").text, message="revoked by lea")
    assert store.review_batches()["revoked_by"].tolist() == ["lea"]


def test_a_review_from_a_stale_page_is_refused_naming_who_changed_it(dash_duo, accounts):
    app, store = accounts
    start(dash_duo, app)
    sign_in(dash_duo, "bob")
    tick_fail_row(dash_duo)
    # alice reviews the exposure after bob's page was loaded
    reviews.submit(store, [KEY], "confirmed", "", identity=Identity("alice", Role.REVIEWER, AuthMode.ACCOUNTS,
                                                                     True))
    dash_duo.find_element("#triage-comment").send_keys("not a FAIL")
    press(dash_duo, "#triage-overrule")
    dash_duo.wait_for_contains_text("#triage-notice", "1052 NIR_H dither 3 was confirmed by alice at")
    link = dash_duo.find_element("#triage-notice a.reload-link")
    assert link.text == "Reload the page"
    assert store.reviews()["reviewer"].tolist() == ["alice"]
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
    link.click()
    wait_for(lambda: "obs 1052 dither 3" not in dash_duo.driver.page_source, message="the queue reloaded")


def test_mode_none_does_not_offer_the_previous_persons_name(dash_duo, tmp_path):
    store = fill_store(f"sqlite:///{tmp_path / 'store.db'}")
    app = create_app(store, cache_ttl=0, warm=False)
    dash_duo.start_server(app)
    dash_duo.driver.get(dash_duo.server_url + "/triage")
    who = dash_duo.wait_for_element("#nav-user")
    assert who.text == "not signed in" and "reviews are marked unauthenticated" in who.get_attribute("title")
    tick_fail_row(dash_duo)
    dash_duo.find_element("#triage-reviewer").send_keys("Alice")
    press(dash_duo, "#triage-confirm")
    dash_duo.wait_for_contains_text("#triage-notice", "confirmed by Alice")
    dash_duo.driver.get(dash_duo.server_url + "/triage?view=open")
    tick_fail_row(dash_duo)
    assert dash_duo.wait_for_element("#triage-reviewer").get_attribute("value") == ""
    dash_duo.driver.get(dash_duo.server_url + "/reviews")
    wait_for(lambda: "Alice (unauthenticated)" in dash_duo.find_element("#reviews-table").text,
             message="the unauthenticated mark")
    store.close()
