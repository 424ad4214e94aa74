"""Authorization, generated from the access table: every route, every kind of principal.

For each route in ``ccaudit.access.roles.ROUTES`` and each principal (no credential, the bootstrap
credential, an account of each role by password and by personal token, a narrowed personal token, a
platform read token): no credential is 401, a principal without the route's permission is 403, and one
with it gets through. A route the service answers that the table does not list fails the build.
Organisation and platform bounds are checked on the rows themselves, for any combination of filters.
"""

from __future__ import annotations

import base64
import itertools
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from ccaudit.access import AccountStore, ApiTokenStore, Permission, Role
from ccaudit.access.roles import BOOTSTRAP, CONSOLE, INGEST, PUBLIC, ROLE_PERMISSIONS, ROUTES
from ccaudit.ingest import Ingestor
from ccaudit.service.app import create_app
from ccaudit.service.auth import protect
from ccaudit.settings import Settings
from ccaudit.store import Store
from tests.console.browser import Client
from tests.ingest.test_pipeline import batch, wire
from tests.service.test_observability import call

ADMIN = secrets.token_urlsafe(24)
PASSWORD = "a password long enough"


class World:
    """A service in-process on the real engine, with one principal of each kind and rows of two
    organisations on two platforms; console sessions of each role are made on first use."""

    def __init__(self, store: Store, folder: Path) -> None:
        self.store = store
        # The data folder holds the service's own spool (eligibility grants, waivers): a temporary one.
        self.app: Starlette = create_app(Settings(admin_token=ADMIN, data_dir=folder), store)
        accounts = AccountStore(store.client, store.database)
        tokens = ApiTokenStore(store.client, store.database)
        self.headers: dict[str, dict[str, str]] = {"none": {}, "bootstrap": {"Authorization": f"Bearer {ADMIN}"}}
        self.permissions: dict[str, frozenset[Permission]] = {"none": frozenset(), "bootstrap": BOOTSTRAP}
        self.usernames: dict[str, str] = {}
        for role in Role:
            orgs = ["org-a"] if role in (Role.ORG_ADMIN, Role.LEARNING_MANAGER) else []
            account = accounts.create(f"{role.value}-{uuid.uuid4().hex[:6]}", role.value, orgs, PASSWORD)
            self.usernames[role.value] = account.username
            token, _ = tokens.create_personal(account.account_id, ROLE_PERMISSIONS[role])
            self.headers[f"{role.value}:token"] = {"Authorization": f"Bearer {token}"}
            basic = base64.b64encode(f"{account.username}:{PASSWORD}".encode()).decode()
            self.headers[f"{role.value}:password"] = {"Authorization": f"Basic {basic}"}
            self.permissions[f"{role.value}:token"] = self.permissions[f"{role.value}:password"] = ROLE_PERMISSIONS[
                role
            ]
        narrow_account = accounts.create(f"narrow-{uuid.uuid4().hex[:6]}", "auditor", [], PASSWORD)
        narrow, _ = tokens.create_personal(narrow_account.account_id, frozenset({Permission.USAGE_READ}))
        self.headers["auditor:narrowed"] = {"Authorization": f"Bearer {narrow}"}
        self.permissions["auditor:narrowed"] = frozenset({Permission.USAGE_READ})
        read, _ = tokens.create_platform_read("coop", ["audit:read", "usage:read"])
        self.headers["platform_read"] = {"Authorization": f"Bearer {read}"}
        self.permissions["platform_read"] = frozenset({Permission.AUDIT_READ, Permission.USAGE_READ})
        ingestor = Ingestor(Settings(), store)
        for platform in ("coop", "library"):
            events = [
                wire(n, organisation=org, request_id=f"{platform}-{org}") for n, org in enumerate(("org-a", "org-b"))
            ]
            ingestor.ingest(batch(events, platform=platform))


@pytest.fixture(scope="module")
def world(chdb_client: Any, tmp_path_factory: pytest.TempPathFactory) -> World:
    store = Store(chdb_client, f"authz_{uuid.uuid4().hex[:10]}")
    store.migrate()
    return World(store, tmp_path_factory.mktemp("authz"))


CATALOGUE_VERSIONS = itertools.count(1)

# A request per route that a principal with the permission can make successfully.
SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/v1/audit/events"): {},
    ("GET", "/v1/audit/events/{event_id}"): {
        "path": "/v1/audit/events/0b7e4a2e-3f51-4b8e-9d3c-6f1a2b3c4d5e",
        "ok": {404},
    },
    ("GET", "/v1/audit/export"): {},
    ("GET", "/v1/access/events"): {},
    ("GET", "/v1/verify"): {},
    ("GET", "/v1/usage/summary"): {},
    # A platform read token holds usage:read but no console role: it opens no dashboard (403).
    ("GET", "/v1/dashboards"): {},
    ("GET", "/v1/dashboards/{key}"): {"path": "/v1/dashboards/overview", "ok": {403}},
    ("GET", "/v1/dashboards/{key}/{panel}.csv"): {"path": "/v1/dashboards/overview/top_pages.csv", "ok": {403}},
    ("GET", "/v1/consent/{consent_id}"): {"path": "/v1/consent/0b7e4a2e-3f51-4b8e-9d3c-6f1a2b3c4d5e", "ok": {404}},
    ("GET", "/v1/admin/tokens"): {},
    ("POST", "/v1/admin/tokens"): {"json": {"platform": "authz"}},
    ("POST", "/v1/admin/tokens/rotate"): {"json": {"platform": "authz"}},
    ("DELETE", "/v1/admin/tokens/{token_id}"): {"path": "/v1/admin/tokens/nope", "ok": {404}},
    ("GET", "/v1/admin/accounts"): {},
    ("POST", "/v1/admin/accounts"): {
        "json": lambda: {"username": f"u-{uuid.uuid4().hex[:8]}", "role": "dpo", "password": PASSWORD}
    },
    ("DELETE", "/v1/admin/accounts/{account_id}"): {"path": "/v1/admin/accounts/nope", "ok": {404}},
    ("POST", "/v1/admin/read-tokens"): {"json": {"platform": "coop", "scopes": ["usage:read"]}},
    ("GET", "/v1/me/tokens"): {},
    ("POST", "/v1/me/tokens"): {"json": {"days": 1}},
    ("DELETE", "/v1/me/tokens/{token_id}"): {"path": "/v1/me/tokens/nope", "ok": {404}},
    ("GET", "/v1/eligibility/{learner}/{module}"): {"path": "/v1/eligibility/learner-1/m1?platform=coop", "ok": {404}},
    ("POST", "/v1/eligibility/waivers"): {
        "json": {"platform": "coop", "learner": "learner-1", "module": "m1", "reason": "r", "organisation": "org-a"},
        "ok": {404},
    },
    ("POST", "/v1/eligibility/waivers/revocations"): {
        "json": {"platform": "coop", "learner": "learner-1", "module": "m1", "reason": "r"},
        "ok": {404},
    },
    ("GET", "/v1/learning/eligible/{module}"): {
        "path": "/v1/learning/eligible/m1?platform=coop&organisation=org-a",
        "ok": {404},
    },
    ("GET", "/v1/learning/stats/{module}"): {"path": "/v1/learning/stats/m1?platform=coop", "ok": {404}},
    ("GET", "/v1/learning/catalogue"): {},
    # Each publication a version above the last.
    ("PUT", "/v1/learning/catalogue"): {
        "json": lambda: {"version": next(CATALOGUE_VERSIONS), "modules": {"m1": {"lessons": [{"id": "l1"}]}}}
    },
    ("GET", "/v1/subjects/requests"): {},
    ("POST", "/v1/subjects/requests"): {"json": {"step": "receive", "kind": "export", "account_id": "nobody"}},
    ("POST", "/v1/subjects/{action}"): {"path": "/v1/subjects/export", "json": {"account_id": "nobody"}},
    ("GET", "/v1/retention/holds"): {},
    ("POST", "/v1/retention/holds"): {"json": {"platform": "coop", "account_id": "nobody", "lift": True}},
    ("POST", "/v1/retention/run"): {"json": {"dry_run": True}},
    ("POST", "/v1/retention/apply"): {"json": {"dry_run": True}},
}
GUARDED = [r for r in ROUTES if r.permission not in (PUBLIC, INGEST) and not r.path.startswith("/console")]
PRINCIPALS = ["none", "bootstrap", *[f"{r.value}:{how}" for r in Role for how in ("token", "password")],
              "auditor:narrowed", "platform_read"]  # fmt: skip


def test_every_route_the_service_answers_is_in_the_table_and_no_other(world: World) -> None:
    routes = [*world.app.routes, *world.app.state.console_routes]
    answered = {(m, r.path) for r in routes if isinstance(r, Route) for m in (r.methods or set()) - {"HEAD"}}
    assert answered == {(r.method, r.path) for r in ROUTES}
    assert set(SAMPLES) == {(r.method, r.path) for r in GUARDED}
    with pytest.raises(LookupError, match="not in the access table"):
        protect(Route("/v1/new-thing", lambda request: PlainTextResponse("x"), methods=["GET"]), None)  # type: ignore[arg-type]


@pytest.mark.parametrize("rule", GUARDED, ids=[f"{r.method} {r.path}" for r in GUARDED])
@pytest.mark.parametrize("who", PRINCIPALS)
def test_each_route_lets_through_exactly_the_principals_the_table_names(world: World, rule: Any, who: str) -> None:
    sample = SAMPLES[(rule.method, rule.path)]
    body = sample.get("json")
    response = call(world.app, rule.method, sample.get("path", rule.path), json=body() if callable(body) else body,
                    headers=world.headers[who])  # fmt: skip
    if who == "none":
        assert response.status_code == 401
    elif rule.permission in world.permissions[who]:
        assert response.status_code < 400 or response.status_code in sample.get("ok", set()), response.text
    else:
        assert response.status_code == 403, response.text


# The console: a request per route that a session with the route's permission can make successfully.
# ``form`` is posted with the session's CSRF token; the login form with its own.
CONSOLE_SAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/console/login"): {},
    ("POST", "/console/login"): {"form": lambda world: {"username": world.usernames["auditor"], "password": PASSWORD}},
    # OpenID Connect is not configured here: both answer 404 (tests/console/test_oidc.py runs them).
    ("GET", "/console/login/oidc"): {"ok": {404}},
    ("GET", "/console/login/oidc/callback"): {"ok": {404}},
    ("GET", "/console/language/{lang}"): {"path": "/console/language/nl"},
    ("GET", "/console/static/{name}"): {"path": "/console/static/console.css"},
    ("GET", "/console"): {},
    ("POST", "/console/logout"): {"form": lambda world: {}},
    ("GET", "/console/search"): {},
    ("GET", "/console/events/{event_id}"): {"path": f"/console/events/{uuid.uuid4()}", "ok": {404}},
    ("GET", "/console/export"): {"path": "/console/export?format=jsonl&organisation=org-a"},
    ("GET", "/console/saved"): {},
    ("POST", "/console/saved"): {"form": lambda world: {"name": "mine", "query": "q=action%3Aperson.%2A"}},
    ("POST", "/console/saved/{search_id}/delete"): {
        "path": "/console/saved/nope/delete",
        "ok": {404},
        "form": lambda world: {},
    },
    ("GET", "/console/access"): {},
    ("GET", "/console/accounts"): {},
    ("POST", "/console/accounts"): {
        "form": lambda world: {"username": f"c-{uuid.uuid4().hex[:8]}", "role": "dpo", "password": PASSWORD}
    },
    ("POST", "/console/accounts/{account_id}/disable"): {
        "path": "/console/accounts/nope/disable",
        "ok": {404},
        "form": lambda world: {},
    },
    ("GET", "/console/tokens"): {},
    ("GET", "/console/requests"): {},
    ("POST", "/console/tokens/{token_id}/revoke"): {
        "path": "/console/tokens/nope/revoke",
        "ok": {404},
        "form": lambda world: {},
    },
}
CONSOLE_SAMPLES[("GET", "/console/learning")] = {"path": "/console/learning?platform=coop&learner=learner-1"}
CONSOLE_SAMPLES[("POST", "/console/learning/waivers")] = {
    "form": lambda world: {"platform": "coop", "learner": "learner-1", "module": "m1", "reason": "r"},
    "ok": {404},
}
CONSOLE_SAMPLES[("GET", "/console/verify")] = {}
CONSOLE_SAMPLES[("GET", "/console/dashboards")] = {}
CONSOLE_SAMPLES[("GET", "/console/dashboards/{key}")] = {"path": "/console/dashboards/overview"}
CONSOLE_SAMPLES[("GET", "/console/dashboards/{key}/{panel}.csv")] = {"path": "/console/dashboards/overview/totals.csv"}
CONSOLE_SAMPLES[("POST", "/console/requests")] = {
    "form": lambda world: {
        "kind": "export",
        "received": "",
        "account_id": "acct-x",
        "platform": "",
        "by": "",
        "how": "",
    }
}
CONSOLE_SAMPLES[("GET", "/console/requests/{request_id}")] = {"path": "/console/requests/nope", "ok": {404}}
for _step, _form in (("verify", {"how": "h"}), ("extend", {"months": "1", "reason": "r"}), ("export", {}),
                     ("erase", {"purpose": "P5"}), ("restrict", {}), ("object", {"purpose": "P5"}),
                     ("rectify", {"field": "learning_state.profession", "value": "v"}),
                     ("close", {"outcome": "done", "answer": "a"})):  # fmt: skip
    CONSOLE_SAMPLES[("POST", f"/console/requests/{{request_id}}/{_step}")] = {
        "path": f"/console/requests/nope/{_step}",
        "ok": {404},
        "form": lambda world, _form=_form: dict(_form),
    }
CONSOLE_RULES = [r for r in ROUTES if r.path.startswith("/console")]
# Who asks: no session, a forged session cookie, the bootstrap credential (a bearer header opens no
# console page), and a logged-in session of each role.
CONSOLE_VISITORS = ["none", "forged", "bootstrap", *[r.value for r in Role]]


def console_client(world: World, who: str) -> Client:
    client = Client(world.app)
    if who == "forged":
        client.jar.set("ccaudit_console", secrets.token_urlsafe(32), domain="service", path="/console")
    elif who in {r.value for r in Role}:
        assert client.login(world.usernames[who], PASSWORD).status_code == 303
    return client


@pytest.mark.parametrize("rule", CONSOLE_RULES, ids=[f"{r.method} {r.path}" for r in CONSOLE_RULES])
@pytest.mark.parametrize("who", CONSOLE_VISITORS)
def test_each_console_page_lets_through_exactly_the_sessions_the_table_names(world: World, rule: Any, who: str) -> None:
    assert set(CONSOLE_SAMPLES) == {(r.method, r.path) for r in CONSOLE_RULES}
    sample = CONSOLE_SAMPLES[(rule.method, rule.path)]
    client = console_client(world, who)
    headers = world.headers["bootstrap"] if who == "bootstrap" else {}
    path = sample.get("path", rule.path)
    if rule.method == "POST":
        form = sample["form"](world)
        source = "/console/login" if rule.permission == PUBLIC or who not in {r.value for r in Role} else "/console"
        page = client.get(source)
        if rule.permission == PUBLIC and page.status_code == 303:  # logged in already: log in again anew
            client.jar.delete("ccaudit_console")
            page = client.get(source)
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        form["csrf"] = found.group(1) if found else ""
        response = client.post(path, form, headers=headers)
    else:
        response = client.get(path, headers=headers)
    allowed = rule.permission == PUBLIC or (
        who in {r.value for r in Role}
        and (rule.permission == CONSOLE or rule.permission in ROLE_PERMISSIONS[Role(who)])
    )
    if allowed:
        assert response.status_code < 400 or response.status_code in sample.get("ok", set()), response.text
    elif rule.permission == PUBLIC or who in {r.value for r in Role}:
        assert response.status_code == 403, response.text
    elif rule.method == "GET":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/console/login?next=")
    else:
        assert response.status_code == 401, response.text


def rows(world: World, who: str, **params: str) -> list[dict[str, Any]]:
    response = call(world.app, "GET", "/v1/audit/events", params=params, headers=world.headers[who])
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(
        st.sampled_from(["organisation", "platform", "actor", "request_id", "outcome", "limit"]),
        st.sampled_from(["org-a", "org-b", "coop", "library", "acct-1", "coop-org-b", "library-org-a", "success", "5"]),
        max_size=4,
    )
)
def test_no_filter_widens_what_an_org_admin_or_a_platform_token_sees(world: World, params: dict[str, str]) -> None:
    if "outcome" in params and params["outcome"] != "success":
        params["outcome"] = "success"
    if "limit" in params and not params["limit"].isdigit():
        params["limit"] = "5"
    for event in rows(world, "org_admin:token", **params):
        assert event["organisation"] == "org-a"
    for event in rows(world, "platform_read", **params):
        assert event["platform"] == "coop"


def test_an_org_admin_sees_its_organisation_on_every_platform(world: World) -> None:
    seen = {(e["platform"], e["organisation"]) for e in rows(world, "org_admin:token")}
    assert seen == {("coop", "org-a"), ("library", "org-a")}
    every = {(e["platform"], e["organisation"]) for e in rows(world, "auditor:token")}
    assert {("coop", "org-b"), ("library", "org-b")} <= every


def test_password_guessing_is_throttled_per_account(world: World) -> None:
    username = f"throttled-{uuid.uuid4().hex[:6]}"
    AccountStore(world.store.client, world.store.database).create(username, "auditor", [], PASSWORD)

    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}

    answers = [call(world.app, "GET", "/v1/me/tokens", headers=basic(f"wrong-{n}")).status_code for n in range(5)]
    assert answers == [401] * 5
    # Now even the right password waits for the window to pass.
    assert call(world.app, "GET", "/v1/me/tokens", headers=basic(PASSWORD)).status_code == 401


def test_the_docs_show_the_table() -> None:
    from ccaudit.access.roles import role_table_markdown

    page = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text()
    assert role_table_markdown() in page, "regenerate the table in docs/access.md: python -m ccaudit.access.roles"
