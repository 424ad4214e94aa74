"""The console in-process, on the real engine: sessions (cookie flags, stored as a digest, logout
ends them server-side, idle and absolute timeouts with the clock moved by the test), CSRF refusal,
login throttling, organisation scoping of the search page, the pages' headers and languages."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import pytest
from starlette.applications import Starlette

from ccaudit.access import AccountStore, ApiTokenStore, Authenticator
from ccaudit.console import console_routes
from ccaudit.console.i18n import CATALOGUE, choose
from ccaudit.console.pages import CSP
from ccaudit.ingest import Ingestor
from ccaudit.service.app import create_app
from ccaudit.settings import Settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore
from tests.console.browser import Client
from tests.ingest.test_pipeline import batch, wire

PASSWORD = "a password long enough"


class Clock:
    """The sessions' clock, moved by the tests (no sleeping)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world(chdb_client: Any) -> dict[str, Any]:
    store = Store(chdb_client, f"console_{uuid.uuid4().hex[:10]}")
    store.migrate()
    accounts = AccountStore(store.client, store.database)
    users = {}
    for role, orgs in (("auditor", []), ("org_admin", ["org-a"]), ("operator", []), ("dpo", [])):
        name = f"{role.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        accounts.create(name, role, orgs, PASSWORD)
        users[role] = name
    ingestor = Ingestor(Settings(), store)
    for platform in ("coop", "library"):
        events = [
            wire(n, organisation=org, request_id=f"{platform}-{org}", subject_id=f"person-{org}")
            for n, org in enumerate(("org-a", "org-b"))
        ]
        ingestor.ingest(batch(events, platform=platform))
    return {"store": store, "users": users}


def console_app(store: Store, clock: Clock, **settings: Any) -> Starlette:
    config = Settings(**settings)
    authenticator = Authenticator(
        config, AccountStore(store.client, store.database), ApiTokenStore(store.client, store.database)
    )
    return Starlette(
        routes=console_routes(config, store, authenticator, TokenStore(store.client, store.database), clock)
    )


@pytest.fixture
def app(world: dict[str, Any]) -> tuple[Starlette, Clock]:
    clock = Clock()
    return console_app(world["store"], clock), clock


def test_login_sets_a_strict_httponly_cookie_whose_secret_is_stored_only_as_a_digest(
    world: dict[str, Any], app: tuple[Starlette, Clock]
) -> None:
    client = Client(app[0])
    response = client.login(world["users"]["auditor"], PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/console"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("ccaudit_console="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie  # plain HTTP, and the setting is off
    secret = cookie.split(";")[0].split("=", 1)[1]
    assert len(secret) == 43  # 256 random bits, URL-safe
    store: Store = world["store"]
    stored = {
        r[0] for r in store.client.query(f"SELECT session_sha256 FROM {store.database}.console_sessions").result_rows
    }
    assert hashlib.sha256(secret.encode()).hexdigest() in stored
    assert secret not in stored
    assert client.get("/console").status_code == 200


def test_the_cookie_is_secure_over_https_or_when_the_setting_says_so(world: dict[str, Any]) -> None:
    over_https = Client(console_app(world["store"], Clock()), base_url="https://service")
    response = over_https.login(world["users"]["auditor"], PASSWORD)
    assert "Secure" in next(h for h in response.headers.get_list("set-cookie") if h.startswith("ccaudit_console="))
    # Behind an HTTPS proxy the service sees plain HTTP: the setting marks the cookies Secure anyway
    # (here the login form's, since a client on plain HTTP rightly never sends a Secure cookie back).
    behind_proxy = Client(console_app(world["store"], Clock(), console_secure_cookies=True))
    response = behind_proxy.get("/console/login")
    assert "Secure" in next(
        h for h in response.headers.get_list("set-cookie") if h.startswith("ccaudit_console_login=")
    )


def test_logout_ends_the_session_on_the_server(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    client = Client(app[0])
    client.login(world["users"]["auditor"], PASSWORD)
    stolen = client.jar.get("ccaudit_console")
    token = client.csrf("/console")
    response = client.post("/console/logout", {"csrf": token})
    assert response.status_code == 200
    # A copy of the cookie taken before the logout opens nothing afterwards.
    replay = Client(app[0])
    replay.jar.set("ccaudit_console", stolen or "", domain="service", path="/console")
    assert replay.get("/console/search").status_code == 303
    # Nor does it on another replica (another app over the same store).
    other = Client(console_app(world["store"], app[1]))
    other.jar.set("ccaudit_console", stolen or "", domain="service", path="/console")
    assert other.get("/console").status_code == 303


def test_idle_and_absolute_timeouts(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    starlette, clock = app
    client = Client(starlette)
    client.login(world["users"]["auditor"], PASSWORD)
    clock.now += 29 * 60
    assert client.get("/console").status_code == 200  # within 30 idle minutes; this request counts as use
    clock.now += 29 * 60
    assert client.get("/console").status_code == 200
    clock.now += 30 * 60 + 1  # 30 minutes without a request
    response = client.get("/console/search?actor=x")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=%2Fconsole%2Fsearch%3Factor%3Dx"

    busy = Client(starlette)
    busy.login(world["users"]["auditor"], PASSWORD)
    for _ in range(12 * 2 - 1):  # a request every half hour minus a bit, for just under 12 hours
        clock.now += 29 * 60
        assert busy.get("/console").status_code == 200
    clock.now += 60 * 60
    assert busy.get("/console").status_code == 303  # 12 hours after login, however busy


def test_a_disabled_account_is_logged_out(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    store: Store = world["store"]
    accounts = AccountStore(store.client, store.database)
    name = f"leaving-{uuid.uuid4().hex[:6]}"
    account = accounts.create(name, "auditor", [], PASSWORD)
    client = Client(app[0])
    client.login(name, PASSWORD)
    assert client.get("/console").status_code == 200
    accounts.disable(account.account_id)
    assert client.get("/console").status_code == 303


def test_a_form_without_its_csrf_token_is_refused(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    client = Client(app[0])
    client.login(world["users"]["operator"], PASSWORD)
    made = f"csrf-{uuid.uuid4().hex[:6]}"
    form = {"username": made, "role": "auditor", "organisations": "", "password": PASSWORD}
    assert client.post("/console/accounts", form).status_code == 403
    assert client.post("/console/accounts", {**form, "csrf": "x" * 43}).status_code == 403
    # Another session's token is not this session's.
    other = Client(app[0])
    other.login(world["users"]["operator"], PASSWORD)
    assert client.post("/console/accounts", {**form, "csrf": other.csrf("/console/accounts")}).status_code == 403
    assert client.post("/console/logout", {}).status_code == 403
    store: Store = world["store"]
    assert AccountStore(store.client, store.database).by_username(made) is None
    # With its token the same form works.
    response = client.post("/console/accounts", {**form, "csrf": client.csrf("/console/accounts")})
    assert response.status_code == 201, response.text
    assert AccountStore(store.client, store.database).by_username(made) is not None
    # The login form has its own token, bound to a cookie.
    assert Client(app[0]).post("/console/login", {"username": made, "password": PASSWORD}).status_code == 403


def test_login_is_throttled_per_account_and_per_address(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    store: Store = world["store"]
    name = f"guessed-{uuid.uuid4().hex[:6]}"
    AccountStore(store.client, store.database).create(name, "auditor", [], PASSWORD)
    client = Client(app[0])
    for n in range(5):
        assert client.login(name, f"wrong-{n}", client_ip="198.51.100.1").status_code == 401
    # The right password, now from another address: the account waits out the window.
    assert client.login(name, PASSWORD, client_ip="198.51.100.2").status_code == 401
    # One address guessing at many accounts is stopped too.
    for n in range(5):
        assert client.login(f"nobody-{n}", "wrong", client_ip="198.51.100.3").status_code == 401
    assert client.login(world["users"]["dpo"], PASSWORD, client_ip="198.51.100.3").status_code == 401
    assert client.login(world["users"]["dpo"], PASSWORD, client_ip="198.51.100.4").status_code == 303


def rows_seen(client: Client, query: str) -> list[str]:
    response = client.get(f"/console/search?{query}")
    assert response.status_code in (200, 400), response.text
    return re.findall(r"<td>(org-[ab])</td>", response.text)


@pytest.mark.parametrize(
    "query",
    ["q=", "organisation=org-b", "platform=library", "request_id=coop-org-b", "subject=person-org-b",
     "organisation=org-b&organisation=org-a", "scope_organisations=org-b", "organisation=org-b%27%20OR%201%3D1",
     "cursor=AAAA", "limit=1000"],
)  # fmt: skip
def test_an_org_admin_never_sees_another_organisation_on_the_search_page(
    world: dict[str, Any], app: tuple[Starlette, Clock], query: str
) -> None:
    admin = Client(app[0])
    admin.login(world["users"]["org_admin"], PASSWORD)
    assert set(rows_seen(admin, query)) <= {"org-a"}
    auditor = Client(app[0])
    auditor.login(world["users"]["auditor"], PASSWORD)
    if query == "q=":
        assert set(rows_seen(auditor, query)) == {"org-a", "org-b"}
        assert set(rows_seen(admin, query)) == {"org-a"}


def test_an_org_admin_cannot_open_another_organisations_event(
    world: dict[str, Any], app: tuple[Starlette, Clock]
) -> None:
    auditor = Client(app[0])
    auditor.login(world["users"]["auditor"], PASSWORD)
    page = auditor.get("/console/search?organisation=org-b&platform=coop").text
    [link] = re.findall(r'href="(/console/events/[^"]+)"', page)
    detail = auditor.get(link)
    assert detail.status_code == 200
    assert "person-org-b" in detail.text
    assert "/console/search?request_id=coop-org-b" in detail.text  # "same request"
    admin = Client(app[0])
    admin.login(world["users"]["org_admin"], PASSWORD)
    assert admin.get(link).status_code == 404


def test_a_bad_filter_is_named_on_its_field(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    client = Client(app[0])
    client.login(world["users"]["auditor"], PASSWORD)
    response = client.get("/console/search?since=yesterday")
    assert response.status_code == 400
    assert 'aria-invalid="true"' in response.text
    assert 'aria-describedby="e-since h-since"' in response.text
    assert 'id="e-since"' in response.text


def test_every_page_sends_the_strict_headers(world: dict[str, Any], app: tuple[Starlette, Clock]) -> None:
    client = Client(app[0])
    for response in (client.get("/console/login"), client.get("/console/static/console.css")):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
    client.login(world["users"]["auditor"], PASSWORD)
    page = client.get("/console/search")
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["cache-control"] == "no-store"
    assert "<script" not in page.text
    assert "style=" not in page.text


def test_languages_from_accept_language_and_the_switch(app: tuple[Starlette, Clock]) -> None:
    assert set(CATALOGUE["nl"]) == set(CATALOGUE["en"]) == set(CATALOGUE["fr"])
    assert choose(None, "fr-BE,fr;q=0.9,en;q=0.8") == "fr"
    assert choose(None, "de-DE, nl;q=0.5, en;q=0.4") == "nl"
    assert choose(None, "de") == "en"
    assert choose("nl", "fr") == "nl"
    client = Client(app[0])
    assert '<html lang="fr">' in client.get("/console/login", headers={"Accept-Language": "fr-BE"}).text
    switched = client.get("/console/language/nl?next=/console/login")
    assert switched.status_code == 303
    assert switched.headers["location"] == "/console/login"
    page = client.get("/console/login", headers={"Accept-Language": "fr-BE"}).text
    assert '<html lang="nl">' in page
    assert "Aanmelden" in page
    # The switch sends nowhere but the console.
    assert client.get("/console/language/en?next=//elsewhere.example/").headers["location"] == "/console"


def test_the_service_serves_the_console(world: dict[str, Any]) -> None:
    client = Client(create_app(Settings(), world["store"]))
    client.login(world["users"]["operator"], PASSWORD)
    assert client.get("/console/accounts").status_code == 200
    assert client.get("/console/search").status_code == 403  # an operator reads no personal data
    # The router's own answers under /console carry the console's headers too.
    for response in (client.get("/console/nothing-here"), client.get("/console/logout")):
        assert response.status_code in (404, 405)
        assert response.headers["content-security-policy"] == CSP
    assert "content-security-policy" not in client.get("/health").headers  # the API is left as it is
