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
