"""The exports page in a real browser: for the issue's URL, the count it
shows is the number of products its zip link downloads (issue 12, defect 1)."""
from __future__ import annotations

import io
import re
import zipfile

import pytest
import requests
from dashboard_fixtures import wait_for
from selection_fixtures import ISSUE_QUERY, WANTED_EXPOSURES, fill_flagged_store
from selenium.webdriver.common.by import By

from dashboard import create_app

pytestmark = pytest.mark.browser


def test_exports_page_count_equals_the_zip_product_count(dash_duo, tmp_path):
    store = fill_flagged_store(f"sqlite:///{tmp_path / 'flagged.db'}")
    dash_duo.start_server(create_app(store, db_label="flagged.db", warm=False))
    dash_duo.driver.get(dash_duo.server_url + "/exports?" + ISSUE_QUERY)
    count = wait_for(lambda: re.fullmatch(r"(\d+) exposures in (\d+) observation products selected\.",
                                          dash_duo.find_element("#exp-count").text), message="the count")
    n_exposures, n_products = int(count.group(1)), int(count.group(2))
    assert (n_exposures, n_products) == (len(WANTED_EXPOSURES), 2)
    # the controls show the URL's selection, and the URL keeps it
    ticked = [box.get_attribute("value") for box in
              dash_duo.driver.find_elements(By.CSS_SELECTOR, "#exp-statuses input:checked")]
    assert ticked == ["WARN", "FAIL"]
    href = dash_duo.find_element("#exp-zip").get_attribute("href")
    archive = zipfile.ZipFile(io.BytesIO(requests.get(href, timeout=30).content))
    assert len(archive.namelist()) == n_products
    api = requests.get(dash_duo.server_url + "/api/exposures?" + ISSUE_QUERY, timeout=30).json()
    assert api["count"] == n_exposures
    command = dash_duo.driver.find_elements(By.CSS_SELECTOR, "pre.command")[0].text
    assert " ".join(command.split()) == ("relphot export --db flagged.db --out DIR --filter NIR_J,NIR_H "
                                         "--status WARN,FAIL --reviewed no --from 2025-02-01")
    # a change of the controls changes the count and the zip alike
    dash_duo.driver.find_element(By.XPATH, "//*[@id='exp-reviewed']//label[contains(., 'any')]").click()
    count = wait_for(lambda: (m := re.fullmatch(r"(\d+) exposures in (\d+) observation products selected\.",
                                                dash_duo.find_element("#exp-count").text))
                     and int(m.group(2)) != n_products and m, message="the new count")
    href = wait_for(lambda: (h := dash_duo.find_element("#exp-zip").get_attribute("href")) != "" and
                    "reviewed" not in h and h, message="the new zip link")
    archive = zipfile.ZipFile(io.BytesIO(requests.get(href, timeout=30).content))
    assert len(archive.namelist()) == int(count.group(2)) > n_products
    assert dash_duo.get_logs() == []
