"""The consent banner in a real browser: headless Chromium (Debian's) driven by playwright, against the
Starlette kit shipping to a real service.

The banner shows; the keyboard reaches its three equal buttons; rejecting leaves the next page view
uncounted; accepting analytics gets it counted and the receipt stored; changing one's choices back to
reject is stored as a withdrawal and page views stop being counted. Screenshots of each step go to
test-output/banner/.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from ccaudit.consent import ConsentRecord, encode_consent_cookie
from tests.chromium import launched, skip_without_chromium
from tests.conftest import ROOT, Proc, Service, wait_until

pytestmark = pytest.mark.e2e

skip_without_chromium()

from playwright.sync_api import Browser, Page  # noqa: E402

SHOTS = ROOT / "test-output" / "banner"
TIMEOUT_MS = 15_000
BUTTONS = ["Alles accepteren", "Alles weigeren", "Zelf kiezen"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched(SHOTS) as b:
        yield b


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def focused_text(page: Page) -> str:
    return str(page.evaluate("document.activeElement && document.activeElement.textContent"))


def consent_cookie(page: Page) -> dict[str, Any] | None:
    for cookie in page.context.cookies():
        if cookie["name"] == "ccaudit_consent":
            value: dict[str, Any] = json.loads(unquote(cookie["value"]))
            return value
    return None


def views(service: Service, host: str) -> int:
    return int(service.usage_summary(platform="coop", referrer=host)["page_views"])


def fence(kit: Proc, service: Service, run: str) -> None:
    """A page view that is counted, made after the ones under test: once it is stored, they would be too
    (the kit ships its page views in order)."""
    now = time.time_ns() // 1_000_000
    cookie = encode_consent_cookie(ConsentRecord(str(uuid.uuid4()), 1, frozenset({"necessary", "analytics"}), now, now))
    host = f"fence-{run}-{uuid.uuid4().hex[:6]}.example"
    response = httpx.get(
        kit.url + "/about", headers={"Referer": f"https://{host}/"}, cookies={"ccaudit_consent": cookie}, timeout=10
    )
    assert response.status_code == 200
    wait_until(lambda: views(service, host) == 1)


def shown_text_sha256(page: Page) -> str:
    text = page.evaluate(
        "Array.from(document.querySelectorAll('#ccaudit-dialog [data-ccaudit-text]')).map(e => e.textContent).join('\\n')"
    )
    return hashlib.sha256(str(text).encode()).hexdigest()


def test_banner_reject_accept_withdraw(browser: Browser, kit: Proc, service: Service) -> None:
    run = uuid.uuid4().hex[:8]
    hosts = {name: f"{name}-{run}.example" for name in ("rejected", "accepted", "withdrawn")}
    context = browser.new_context(locale="nl-BE")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(kit.url + "/about")
        dialog = page.get_by_role("dialog", name="Cookies en gebruiksstatistieken")
        dialog.wait_for(state="visible")
        assert dialog.get_attribute("aria-modal") == "true"
        shot(page, "01-banner-shown")

        # Focus is in the dialog; Tab walks the three buttons and cycles; Shift+Tab goes back.
        assert page.evaluate("document.activeElement.id") == "ccaudit-dialog"
        for label in [*BUTTONS, BUTTONS[0]]:
            page.keyboard.press("Tab")
            assert focused_text(page) == label
        page.keyboard.press("Shift+Tab")
        assert focused_text(page) == BUTTONS[2]
        assert page.evaluate("document.activeElement.tagName") == "BUTTON"
        shot(page, "02-keyboard-focus")
        # Equal prominence: the three buttons look the same.
        looks = page.evaluate(
            """Array.from(document.querySelectorAll('.ccaudit-actions button')).map(b => {
                const s = getComputedStyle(b), r = b.getBoundingClientRect();
                return [s.fontSize, s.fontWeight, s.color, s.backgroundColor, s.borderTopWidth, s.paddingTop,
                        Math.round(r.height)].join('|'); })"""
        )
        assert len(looks) == 3
        assert len(set(looks)) == 1, looks
        # Escape accepts nothing and, before any choice, does not dismiss the question.
        page.keyboard.press("Escape")
        assert dialog.is_visible()
        assert consent_cookie(page) is None
        text_sha = shown_text_sha256(page)

        # Reject: our cookie without analytics; the next page view is not counted.
        page.get_by_role("button", name="Alles weigeren").click()
        dialog.wait_for(state="hidden")
        cookie = consent_cookie(page)
        assert cookie is not None
        assert cookie["cats"] == ["necessary"]
        assert cookie["rev"] == 1
        consent_id = cookie["id"]
        shot(page, "03-rejected")
        page.goto(kit.url + "/about", referer=f"https://{hosts['rejected']}/")
        assert not dialog.is_visible()
        change = page.get_by_role("button", name="Mijn keuzes wijzigen")
        change.wait_for(state="visible")
        wait_until(lambda: [r["action"] for r in service.consent_history(consent_id)] == ["reject_all"])

        # Accept analytics through "Zelf kiezen": the next page view is counted, the receipt stored.
        change.click()
        dialog.wait_for(state="visible")
        page.get_by_role("button", name="Zelf kiezen").click()
        analytics = page.get_by_role("switch", name="Gebruiksstatistieken")
        assert not analytics.is_checked()
        assert page.get_by_role("switch", name="Noodzakelijk").is_disabled()
        analytics.check()
        shot(page, "04-customise")
        page.get_by_role("button", name="Keuze bewaren").click()
        dialog.wait_for(state="hidden")
        accepted = consent_cookie(page)
        assert accepted is not None
        assert accepted["id"] == consent_id  # the same consent, changed
        assert accepted["cats"] == ["analytics", "necessary"]
        assert accepted["given"] == cookie["given"]
        assert accepted["updated"] >= cookie["updated"]
        page.goto(kit.url + "/about", referer=f"https://{hosts['accepted']}/")
        shot(page, "05-accepted")
        wait_until(lambda: views(service, hosts["accepted"]) == 1)
        receipts = wait_until(lambda: (h := service.consent_history(consent_id)) and len(h) == 2 and h)
        assert [r["action"] for r in receipts] == ["reject_all", "custom"]
        latest = receipts[-1]
        assert latest["categories_accepted"] == ["analytics", "necessary"]
        assert latest["categories_rejected"] == []
        assert (latest["method"], latest["language"], latest["policy_revision"]) == ("banner", "nl", 1)
        assert latest["banner_text_sha256"] == text_sha  # the hash of exactly the text shown
        assert latest["consent_id"] == consent_id
        assert latest["account_id"] == ""  # not logged in
        assert not {"client_ip", "peer_ip", "user_agent", "ip"} & set(latest)
        assert "127.0.0.1" not in json.dumps(receipts)

        # Withdraw as easily: change my choices, reject all. A withdraw receipt; no more counting.
        page.get_by_role("button", name="Mijn keuzes wijzigen").click()
        dialog.wait_for(state="visible")
        shot(page, "06-change-my-choices")
        page.get_by_role("button", name="Alles weigeren").click()
        dialog.wait_for(state="hidden")
        withdrawn = consent_cookie(page)
        assert withdrawn is not None
        assert withdrawn["cats"] == ["necessary"]
        page.goto(kit.url + "/about", referer=f"https://{hosts['withdrawn']}/")
        shot(page, "07-withdrawn")
        receipts = wait_until(lambda: (h := service.consent_history(consent_id)) and len(h) == 3 and h)
        assert [r["action"] for r in receipts] == ["reject_all", "custom", "withdraw"]
        assert receipts[-1]["categories_rejected"] == ["analytics"]
        fence(kit, service, run)
        assert views(service, hosts["rejected"]) == 0
        assert views(service, hosts["accepted"]) == 1
        assert views(service, hosts["withdrawn"]) == 0
    finally:
        context.close()


def test_banner_speaks_the_pages_language(browser: Browser, kit: Proc) -> None:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()

    def french(route: Any) -> None:
        response = route.fetch()
        route.fulfill(
            response=response, body=response.text().replace("<!doctype html>", '<!doctype html><html lang="fr-BE">')
        )

    try:
        page.route("**/about", french)
        page.goto(kit.url + "/about")
        dialog = page.get_by_role("dialog", name="Cookies et statistiques d’utilisation")  # noqa: RUF001
        dialog.wait_for(state="visible")
        for label in ("Tout accepter", "Tout refuser", "Choisir moi-même"):
            assert page.get_by_role("button", name=label).is_visible()
        shot(page, "08-french")
    finally:
        context.close()
