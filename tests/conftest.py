"""The fixture shared by the browser tests (test_site.py, test_jupyterlab.py)."""

import pytest
from test_site import CHROMIUM, CHROMIUM_ARGS, _require


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright."""
    _require(
        CHROMIUM.exists(),
        f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y "
        "chromium` (or set CHROMIUM_PATH).",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
