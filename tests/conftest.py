"""Shared pytest set-up. Engineers append fixtures here; keep it small."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # tests/synthetic.py and friends


# --- dashboard browser tests (dash_duo with Debian's headless chromium) -----
def pytest_setup_options():
    """Selenium options for dash_duo: headless chromium at a fixed size."""
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000"):
        options.add_argument(arg)
    return options


def pytest_configure(config):
    """``RELPHOT_TEST_DASH_PORT``: the first port dash_duo's servers take
    (58050 by default), so that two checkouts can run browser tests at once."""
    import os

    port = os.environ.get("RELPHOT_TEST_DASH_PORT")
    if port:
        from dash.testing.application_runners import BaseDashRunner

        BaseDashRunner._next_port = int(port)
