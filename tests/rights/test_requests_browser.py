"""The DPO's request forms in a real browser (headless Chromium, driven by playwright) against a real
``ccaudit serve`` process: register a request from the list page, be told to verify the identity
first, record the check, download the export (a real download, a zip), erase, close. Each page the
DPO sees (the list in English and Dutch, a request before and after verification, the refusal, the
erasure's result, the closed request) passes axe-core's WCAG 2.1 A and AA rules with no violation,
as the console's other pages do (tests/console/test_console_browser.py, whose fixtures this uses)."""

from __future__ import annotations

import io
import json
import secrets
import uuid
import zipfile

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import Service, wait_until
from tests.console.test_console_browser import TIMEOUT_MS, accessible, browser, log_in, menu
from tests.ingest.test_pipeline import batch, wire

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, used by name

SUBJECT = f"bea-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def dpo(service: Service) -> tuple[str, str]:
    """A DPO's account of this module's own (the console's browser tests make theirs by their run id)."""
    username, password = f"dpo-r-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(16)
    response = httpx.post(service.url + "/v1/admin/accounts", timeout=10,
                          json={"username": username, "role": "dpo", "organisations": [], "password": password},
                          headers={"Authorization": f"Bearer {service.token}"})  # fmt: skip
    assert response.status_code == 201, response.text
    return username, password


def test_a_dpo_answers_an_erasure_request_in_the_console(
    browser: Browser, service: Service, dpo: tuple[str, str]
) -> None:
    events = [wire(n, actor_account_id=SUBJECT, organisation="org-r") for n in range(3)]
    assert service.post_batch(batch(events)).status_code == 200
    context = browser.new_context(locale="en-GB", accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, service, dpo)
        menu(page).get_by_role("link", name="Subject requests").click()
        page.get_by_role("heading", level=2, name="Register a request").wait_for()
        accessible(page, "30-requests")
        page.get_by_label("Kind of request").select_option("erase")
        page.get_by_label("The requester's account id").fill(SUBJECT)
        page.get_by_label("Platform (empty: every platform)").fill("coop")
        page.get_by_role("button", name="Register the request").click()
        page.get_by_role("status").filter(has_text="registered").wait_for()
        request_id = page.url.split("/console/requests/")[1].split("?")[0]
        assert page.get_by_text("Verify the requester's identity first").is_visible()
        accessible(page, "31-request-registered")

        page.get_by_label("How it was checked").fill("identity card shown at the desk")
        page.get_by_role("button", name="Record the identity check").click()
        page.get_by_role("status").filter(has_text="identity check is recorded").wait_for()
        accessible(page, "32-request-verified")

        with page.expect_download() as waiting:
            page.get_by_role("button", name="Download the export (zip: JSON and CSV)").click()
        download = waiting.value
        assert download.suggested_filename == f"export-{request_id}.zip"
        archive = zipfile.ZipFile(io.BytesIO(download.path().read_bytes()))
        document = json.loads(archive.read("export.json"))
        assert {r["event_id"] for r in document["tables"]["audit_events"]} == {e["event_id"] for e in events}

        page.locator("#e-purpose").select_option("")
        page.get_by_role("button", name="Erase", exact=True).click()
        page.get_by_role("table", name="Erased. What was done, per table:").wait_for()
        accessible(page, "33-request-erased")
        wait_until(lambda: service.events(actor=SUBJECT) == [], 30)

        page.get_by_label("Answer given to the requester").fill("export sent, data erased")
        page.get_by_role("button", name="Close the request").click()
        page.get_by_text("This request is closed.").wait_for()
        accessible(page, "34-request-closed")

        page.goto(service.url + "/console/language/nl?next=/console/requests")
        page.get_by_role("heading", level=2, name="Een verzoek registreren").wait_for()
        assert request_id in page.get_by_role("table").inner_text()
        accessible(page, "35-requests-nl")
    finally:
        context.close()
