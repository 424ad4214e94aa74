"""The console in a real browser: headless Chromium (Debian's) driven by playwright, against a real
``ccaudit serve`` process.

An auditor logs in with a local account, searches with the search box's qualifiers (and is pointed at a
bad one), opens an event, follows its "same request" search, exports it (a download), saves the search
and logs out; a DPO reads the access log, which shows those reads; another user logs in through a real
OpenID Connect provider (oidc-provider-mock, run by the test) on another site, and a user the provider
knows but whose claims map to no role is refused; an org_admin's search shows its own organisation
only; an operator's form posted without its CSRF token is refused and
changes nothing; a learning_manager reads a learner's progress and eligibility tree and grants a
waiver; an auditor reads the seals and runs a verification. Every console page (each page, an error
page, a refused filter, another language)
passes axe-core's WCAG 2.1 A and AA rules with no violation; axe-core's script comes from the
axe-playwright-python wheel and is handed to the page by the test (the page's CSP allows no script
of its own), nothing is fetched. Screenshots of each step go to test-output/console/.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.chromium import assert_accessible, launched, skip_without_chromium
from tests.conftest import ROOT, Service, clean_env, free_port, start_process, stop_process, wait_until
from tests.ingest.test_pipeline import batch, wire
from tests.learning.events import learning

pytestmark = pytest.mark.e2e

skip_without_chromium()

from oidc_provider_mock import run_server_in_thread  # noqa: E402
from playwright.sync_api import Browser, Locator, Page, Route  # noqa: E402

SHOTS = ROOT / "test-output" / "console"
TIMEOUT_MS = 15_000
RUN = uuid.uuid4().hex[:8]
ORG_A, ORG_B = f"gemeente-a-{RUN}", f"gemeente-b-{RUN}"
ACTOR = f"anna-{RUN}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with launched(SHOTS) as b:
        yield b


@pytest.fixture(scope="module")
def people(service: Service) -> dict[str, tuple[str, str]]:
    """Accounts made through the API with the bootstrap credential, and events of two organisations."""
    made = {}
    for role, orgs in (("auditor", []), ("org_admin", [ORG_A]), ("operator", []), ("dpo", [])):
        username, password = f"{role.replace('_', '-')}-{RUN}", secrets.token_urlsafe(16)
        response = httpx.post(
            service.url + "/v1/admin/accounts",
            json={"username": username, "role": role, "organisations": orgs, "password": password},
            headers={"Authorization": f"Bearer {service.token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        made[role] = (username, password)
    events = [
        wire(n, organisation=org, actor_account_id=ACTOR, request_id=f"req-{RUN}-{n}", subject_id=f"person-{RUN}",
             trace_id="4bf92f3577b34da6a3ce929d0e0e4736")
        for n, org in enumerate((ORG_A, ORG_B, ORG_A))
    ]  # fmt: skip
    assert service.post_batch(batch(events)).status_code == 200
    wait_until(lambda: len(service.events(actor=ACTOR)) == 3)
    return made


def accessible(page: Page, name: str) -> None:
    assert_accessible(page, SHOTS, name)


def menu(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Main menu")


def log_in(page: Page, service: Service, who: tuple[str, str]) -> None:
    page.goto(service.url + "/console")
    assert "/console/login" in page.url
    page.get_by_label("Username").fill(who[0])
    page.get_by_label("Password").fill(who[1])
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", level=1, name="Start").wait_for()


def test_an_auditor_logs_in_searches_opens_an_event_and_logs_out(
    browser: Browser, service: Service, people: dict[str, tuple[str, str]]
) -> None:
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(service.url + "/console/login")
        accessible(page, "01-login")
        log_in(page, service, people["auditor"])
        accessible(page, "02-start")

        menu(page).get_by_role("link", name="Audit search").click()
        accessible(page, "03-search-form")
        box = page.get_by_label("Search box")
        box.fill(f"actor:{ACTOR} ip:10.0.0.0/33")
        page.get_by_role("button", name="Search", exact=True).click()
        error = page.locator("#e-q")
        error.wait_for()
        assert "ip:10.0.0.0/33" in error.inner_text()
        assert "e-q" in (box.get_attribute("aria-describedby") or "")
        accessible(page, "03-search-box-refused")
        box.fill(f"actor:{ACTOR} action:http.* org:{ORG_A}")
        page.get_by_role("button", name="Search", exact=True).click()
        table = page.get_by_role("table", name="Audit events, newest first")
        table.wait_for()
        assert table.locator("tbody tr").count() == 2
        page.get_by_label("Search box").fill(f"actor:{ACTOR}")
        page.get_by_role("button", name="Search", exact=True).click()
        table.wait_for()
        assert table.locator("tbody tr").count() == 3
        accessible(page, "03-search")

        table.locator("tbody tr").first.get_by_role("link").click()
        page.get_by_role("heading", level=1, name="Audit event").wait_for()
        fields = page.get_by_role("table", name="Every field of the event")
        assert ACTOR in fields.inner_text()
        assert f"person-{RUN}" in fields.inner_text()
        request_id = fields.locator("tr", has=page.locator("code", has_text="request_id")).locator("td").inner_text()
        accessible(page, "04-event")
        page.get_by_role("link", name="Same request").click()
        results = page.get_by_role("table", name="Audit events, newest first")
        results.wait_for()
        assert results.locator("tbody tr").count() == 1
        assert page.get_by_label("Request id").input_value() == request_id

        with page.expect_download() as started:
            page.get_by_role("link", name="Export these results as CSV").click()
        download = started.value
        assert download.suggested_filename.endswith(".csv")
        exported = Path(download.path()).read_text().splitlines()
        assert len(exported) == 2  # the header and the one event
        assert request_id in exported[1]

        page.get_by_label("Name of this search").fill(f"request {RUN}")
        page.get_by_role("button", name="Save this search").click()
        page.get_by_text(f"Search request {RUN} saved.").wait_for()
        accessible(page, "04-saved")
        page.get_by_role("link", name=f"request {RUN}").click()
        assert page.get_by_role("table", name="Audit events, newest first").locator("tbody tr").count() == 1
        menu(page).get_by_role("link", name="Audit search").click()
        page.get_by_label("Subject (affected person's id)").fill(f"person-{RUN}")
        page.get_by_role("button", name="Search", exact=True).click()
        assert page.get_by_role("table", name="Audit events, newest first").locator("tbody tr").count() == 3

        page.get_by_role("button", name="Log out").click()
        page.get_by_text("You are logged out.").wait_for()
        accessible(page, "05-logged-out")
        page.goto(service.url + "/console/search")
        assert "/console/login" in page.url  # the session is over on the server
    finally:
        context.close()


def test_an_org_admin_sees_its_own_organisation_only(
    browser: Browser, service: Service, people: dict[str, tuple[str, str]]
) -> None:
    context = browser.new_context(locale="nl-BE")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(service.url + "/console/login")
        assert page.locator("html").get_attribute("lang") == "nl"
        page.get_by_label("Gebruikersnaam").fill(people["org_admin"][0])
        page.get_by_label("Wachtwoord").fill(people["org_admin"][1])
        page.get_by_role("button", name="Aanmelden").click()
        # Whatever the address bar asks for, the other organisation's rows stay out.
        page.goto(f"{service.url}/console/search?actor={ACTOR}&organisation={ORG_B}")
        table_or_none = page.locator("table.results tbody tr")
        assert table_or_none.count() == 0
        page.goto(f"{service.url}/console/search?actor={ACTOR}")
        rows = page.locator("table.results tbody tr")
        assert rows.count() == 2
        assert ORG_B not in page.locator("table.results").inner_text()
        accessible(page, "06-search-nl")
        page.goto(f"{service.url}/console/search?since=gisteren")
        page.locator("#e-since").wait_for()
        accessible(page, "07-refused-filter")
        page.goto(f"{service.url}/console/accounts")
        assert page.get_by_role("heading", level=1, name="Niet toegestaan").is_visible()
        accessible(page, "08-forbidden")
        page.get_by_role("link", name="Français").click()
        assert page.locator("html").get_attribute("lang") == "fr"
        accessible(page, "09-start-fr")
    finally:
        context.close()


def test_an_operators_form_without_its_csrf_token_is_refused(
    browser: Browser, service: Service, people: dict[str, tuple[str, str]]
) -> None:
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, service, people["operator"])
        menu(page).get_by_role("link", name="Accounts").click()
        accessible(page, "10-accounts")
        newcomer = f"newcomer-{RUN}"
        page.get_by_label("Username").fill(newcomer)
        page.get_by_label("Role").select_option("auditor")
        page.get_by_label("Password", exact=True).fill(secrets.token_urlsafe(16))
        # What a forged form would send: the same fields without the session's token.
        page.evaluate("document.querySelector('form[action=\"/console/accounts\"] input[name=csrf]').remove()")
        page.get_by_role("button", name="Make the account").click()
        page.get_by_role("heading", level=1, name="Form refused").wait_for()
        accessible(page, "11-csrf-refused")
        page.goto(service.url + "/console/accounts")
        assert newcomer not in page.get_by_role("table").inner_text()

        page.get_by_label("Username").fill(newcomer)
        page.get_by_label("Password", exact=True).fill("short")
        page.get_by_role("button", name="Make the account").click()
        page.locator("#e-password").wait_for()
        accessible(page, "12-account-refused")
        page.get_by_label("Password", exact=True).fill(secrets.token_urlsafe(16))
        page.get_by_role("button", name="Make the account").click()
        page.get_by_text(f"Account {newcomer} made.").wait_for()
        assert newcomer in page.get_by_role("table").inner_text()

        # Its own platform's token: the other tests' platforms keep theirs.
        token_id = service.ingest_token(f"console-{RUN}").split("_")[1]
        menu(page).get_by_role("link", name="Ingest tokens").click()
        accessible(page, "13-tokens")
        page.get_by_role("button", name=f"Revoke {token_id}").click()
        page.get_by_text("revoked.").wait_for()
        accessible(page, "14-token-revoked")
    finally:
        context.close()


def test_an_auditor_verifies_the_sealed_trail(
    browser: Browser, service: Service, people: dict[str, tuple[str, str]]
) -> None:
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, service, people["auditor"])
        menu(page).get_by_role("link", name="Tamper evidence").click()
        page.get_by_role("heading", level=1, name="Tamper evidence: seals and verification").wait_for()
        wait_until(lambda: page.reload() and page.get_by_role("table", name="The latest seal of each chain").count(),
                   timeout=60, interval=1)  # fmt: skip
        accessible(page, "30-seals")
        page.get_by_label("Stream").select_option("audit")
        page.get_by_role("button", name="Verify", exact=True).click()
        page.get_by_role("heading", level=3, name="Counted").wait_for()
        accessible(page, "31-verified")
        page.get_by_label("Trusted heads").fill("coop/audit:not-a-head")
        page.get_by_role("button", name="Verify", exact=True).click()
        page.get_by_text("Nothing was verified: the parameter heads is not accepted.").wait_for()
        accessible(page, "32-verify-refused")
    finally:
        context.close()


def test_a_dpo_reads_the_access_log(browser: Browser, service: Service, people: dict[str, tuple[str, str]]) -> None:
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        # A read by the auditor, so that the log has one whatever ran before.
        auditor = people["auditor"]
        reader = httpx.get(service.url + "/v1/audit/events", params={"actor": ACTOR}, auth=auditor, timeout=10)
        assert reader.status_code == 200, reader.text
        log_in(page, service, people["dpo"])
        menu(page).get_by_role("link", name="Access log").click()
        page.get_by_label("Reader (username)").fill(auditor[0])
        page.get_by_label("Kind of read").select_option("search")
        page.get_by_role("button", name="Search", exact=True).click()
        table = page.get_by_role("table", name="Reads of the audit trail, newest first")
        table.wait_for()
        assert auditor[0] in table.inner_text()
        assert ACTOR in table.inner_text()
        accessible(page, "15-access-log")
        page.goto(service.url + "/console/access?kind=delete")
        page.locator("#e-kind").wait_for()
        accessible(page, "16-access-log-refused")
        page.goto(service.url + "/console/search")
        assert page.get_by_role("heading", level=1, name="Not allowed").is_visible()  # a DPO reads no audit rows
    finally:
        context.close()


@pytest.fixture(scope="module")
def oidc_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A ``ccaudit serve`` whose console logs in through an OpenID Connect provider run here: (the
    service's address, the provider's). The two are different sites (127.0.0.1 and localhost), as a
    service and its organisation's provider are."""
    folder = tmp_path_factory.mktemp("oidc-service")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with run_server_in_thread(port=0, require_nonce=True) as provider:
        issuer = f"http://localhost:{provider.server_port}"
        env = clean_env(
            CCAUDIT_DATA_DIR=str(folder / "data"), CCAUDIT_PORT=str(port), CCAUDIT_ADMIN_TOKEN=secrets.token_urlsafe(16),
            CCAUDIT_OIDC_ISSUER=issuer, CCAUDIT_OIDC_CLIENT_ID="ccaudit-console",
            CCAUDIT_OIDC_CLIENT_SECRET=secrets.token_urlsafe(24), CCAUDIT_OIDC_REDIRECT_BASE=url,
            CCAUDIT_OIDC_ROLE_MAP=json.dumps({"audit-team": "auditor", "library-admins": "org_admin"}),
            CCAUDIT_OIDC_ROLES_CLAIM="groups", CCAUDIT_OIDC_PROVIDER_NAME="Example ID",
        )  # fmt: skip
        proc = start_process([sys.executable, "-m", "ccaudit", "serve"], env, url, folder / "log", "/health")
        try:
            yield url, issuer
        finally:
            assert stop_process(proc) == 0, proc.output()


def provider_user(issuer: str, **claims: object) -> str:
    sub = f"user-{RUN}-{uuid.uuid4().hex[:6]}"
    httpx.put(f"{issuer}/users/{sub}", json=claims, timeout=10).raise_for_status()
    return sub


def at_provider(page: Page, oidc: tuple[str, str], sub: str) -> None:
    """From the console's login page, through the provider's form, as far as the provider sends back."""
    url, issuer = oidc
    page.goto(url + "/console/login")
    page.get_by_role("link", name="Log in with Example ID").click()
    page.wait_for_url(issuer + "/**")
    # The login's cookie, as the browser keeps it: Lax (it must come back on the provider's redirect).
    kept = {c["name"]: c for c in page.context.cookies(url + "/console/login/oidc/callback")}["ccaudit_console_oidc"]
    assert (kept["sameSite"], kept["httpOnly"], kept["path"]) == ("Lax", True, "/console/login/oidc")
    page.locator("input[name=sub]").fill(sub)
    page.get_by_role("button", name="Authorize").click()


def test_a_user_logs_in_through_the_openid_provider_and_one_without_a_role_is_refused(
    browser: Browser, oidc_service: tuple[str, str]
) -> None:
    url, issuer = oidc_service
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(url + "/console/login")
        accessible(page, "20-login-with-provider")

        # The page the callback answers moves on to the console by itself at once. The test holds that
        # move (the request for /console) until it has read the page, then lets it go; axe checks the
        # page afterwards, as served, with its refresh taken out so that it stays on screen.
        held: list[Route] = []

        def to_console(address: str) -> bool:
            return urlparse(address).path == "/console"

        def hold(route: Route) -> None:
            held.append(route)

        page.route(to_console, hold)
        with page.expect_response(lambda r: "/console/login/oidc/callback" in r.url) as answered:
            at_provider(
                page, oidc_service, provider_user(issuer, preferred_username=f"eva-{RUN}", groups=["audit-team"])
            )
        done = answered.value.text()
        assert '<meta http-equiv="refresh" content="0; url=/console">' in done
        for _ in range(150):  # the refresh's request reaches the handler while playwright serves events
            if held:
                break
            page.wait_for_timeout(100)
        assert len(held) == 1
        held[0].continue_()
        page.unroute(to_console)
        # The new SameSite=Strict session cookie went along with the page's own move.
        page.get_by_role("heading", level=1, name="Start").wait_for()
        assert f"oidc:eva-{RUN}" in page.locator(".who").inner_text()
        assert "(auditor)" in page.locator(".who").inner_text()
        page.set_content(done.replace('<meta http-equiv="refresh"', '<meta name="held-refresh"'))
        page.get_by_role("heading", level=1, name="Login through the identity provider").wait_for()
        accessible(page, "21-provider-login-done")
        page.get_by_role("link", name="Continue to the console").click()
        page.get_by_role("heading", level=1, name="Start").wait_for()
        session = {c["name"]: c for c in context.cookies(url + "/console")}["ccaudit_console"]
        assert (session["sameSite"], session["httpOnly"]) == ("Strict", True)
        assert "ccaudit_console_oidc" not in {c["name"] for c in context.cookies(url + "/console/login/oidc/callback")}
        menu(page).get_by_role("link", name="Audit search").click()
        page.get_by_role("heading", level=1, name="Search the audit trail").wait_for()
        page.get_by_role("button", name="Log out").click()
        page.get_by_text("You are logged out.").wait_for()
        page.goto(url + "/console/search")
        assert "/console/login" in page.url

        at_provider(page, oidc_service, provider_user(issuer, groups=["visitors"]))
        page.get_by_role("heading", level=1, name="Login through the identity provider").wait_for()
        assert "none of your roles" in page.locator("main").inner_text()
        accessible(page, "22-provider-no-role")
        page.goto(url + "/console")
        assert "/console/login" in page.url
    finally:
        context.close()


LEARNING = {
    f"basics-{RUN}": {"lessons": [{"id": "intro"}, {"id": "quiz", "move_on": "Passed"}]},
    f"advanced-{RUN}": {"lessons": [{"id": "a1"}], "rule": {"kind": "all", "of": [
        {"kind": "module", "module": f"basics-{RUN}"},
        {"kind": "any", "of": [{"kind": "profession", "any_of": ["teacher"]}, {"kind": "waiver"}]}]}},
}  # fmt: skip


def test_a_learning_manager_reads_a_learners_progress_and_grants_a_waiver(
    browser: Browser, service: Service, people: dict[str, tuple[str, str]]
) -> None:
    """The learning page empty, with the progress table and the whole tree, in Dutch, and after a waiver."""
    operator = {"Authorization": f"Bearer {service.personal_token('operator')}"}
    current = httpx.get(service.url + "/v1/learning/catalogue", headers=operator, timeout=10).json()
    published = httpx.put(service.url + "/v1/learning/catalogue", headers=operator, timeout=10,
                          json={"version": current["version"] + 1, "modules": {**current["modules"], **LEARNING}})  # fmt: skip
    assert published.status_code == 201, published.text
    learner, basics = f"learner-{RUN}", f"basics-{RUN}"
    events = [learning("completed", 1, learner=learner, organisation=ORG_A, module=basics, lesson="intro",
                       profession="student"),
              learning("passed", 2, learner=learner, organisation=ORG_A, module=basics, lesson="quiz",
                       profession="student")]  # fmt: skip
    assert service.post_batch(batch(events)).status_code == 200
    username, password = f"learning-manager-{RUN}", secrets.token_urlsafe(16)
    made = httpx.post(service.url + "/v1/admin/accounts", headers={"Authorization": f"Bearer {service.token}"},
                      json={"username": username, "role": "learning_manager", "organisations": [ORG_A],
                            "password": password}, timeout=10)  # fmt: skip
    assert made.status_code == 201, made.text
    context = browser.new_context(locale="en-GB")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        log_in(page, service, (username, password))
        menu(page).get_by_role("link", name="Learning").click()
        page.get_by_role("heading", level=1, name="A learner's progress and eligibility").wait_for()
        accessible(page, "17-learning")
        page.get_by_label("Platform", exact=True).fill("coop")
        page.get_by_label("Learner (account on the platform)").fill(learner)
        page.get_by_label("Follow-up module (optional)").fill(f"advanced-{RUN}")
        page.get_by_role("button", name="Show").click()
        page.get_by_role("table", name="Progress per module and lesson").wait_for()
        assert "profession student is not one of teacher" in page.inner_text("main")
        accessible(page, "18-learning-tree")
        page.get_by_label("Reason").fill("followed an equivalent course")
        page.get_by_role("button", name="Grant").click()
        page.get_by_role("status").wait_for()
        assert "Waiver granted" in page.get_by_role("status").inner_text()
        accessible(page, "19-learning-waived")
        dutch = browser.new_context(locale="nl-NL")
        try:
            dutch.add_cookies(context.cookies())  # the same session, asking in Dutch
            other = dutch.new_page()
            other.goto(f"{service.url}/console/learning?platform=coop&learner={learner}&module=advanced-{RUN}")
            other.get_by_role("heading", level=1, name="Voortgang en toegang van een cursist").wait_for()
            accessible(other, "20-learning-nl")
        finally:
            dutch.close()
    finally:
        context.close()
