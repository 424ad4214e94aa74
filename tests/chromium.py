"""Headless Chromium for the browser tests: Debian's package (``make install`` installs it), driven
by playwright, never a downloaded browser. A browser test module calls ``skip_without_chromium()``
before it imports playwright's page types, and gets its module-scoped browser from ``launched``.

Without Chromium such a module is skipped, unless ``CCAUDIT_TEST_REQUIRE_BROWSER`` is set (CI sets
it): then every test in it fails, naming what is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = "CCAUDIT_TEST_REQUIRE_BROWSER"
MISSING = "Debian's chromium is not installed (/usr/bin/chromium): `make install` installs it"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
# axe-core's WCAG 2.1 A and AA rules.
WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def skip_without_chromium() -> None:
    if not CHROMIUM.exists() and not os.environ.get(REQUIRE_BROWSER):
        pytest.skip(MISSING, allow_module_level=True)


@contextmanager
def launched(shots: Path) -> Iterator[Browser]:
    """A browser for one module's tests, its screenshots going to ``shots``."""
    if not CHROMIUM.exists():  # and REQUIRE_BROWSER is set: every test here fails
        pytest.fail(f"{MISSING} ({REQUIRE_BROWSER} is set)", pytrace=False)
    from playwright.sync_api import sync_playwright

    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


def assert_accessible(page: Page, shots: Path, name: str) -> None:
    """axe-core's WCAG 2.1 A and AA rules find nothing on the page as it is now; a screenshot for the record."""
    from axe_playwright_python.sync_playwright import Axe

    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    results = Axe().run(page, options=WCAG)
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"
