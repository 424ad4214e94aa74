"""Login to the console through a real OpenID Connect provider run inside the test.

The provider is oidc-provider-mock: a Flask application built on Authlib's server side that signs
its ID tokens with its own RSA key, publishes discovery and JWKS, and lets a test choose a user's
claims (``PUT /users/<sub>``) and then "log in" as that user by posting the subject on its
authorization form. Nothing of ccaudit's own client is mocked: the test's client follows the whole
redirect dance (the console → the provider's form → the console's callback) over HTTP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oidc_provider_mock import run_server_in_thread
from starlette.applications import Starlette

from ccaudit.access import AccountStore, ApiTokenStore, Authenticator
from ccaudit.access.accounts import _ORGANISATION
from ccaudit.access.claims import USERNAME_PREFIX, NoAccess, map_claims
from ccaudit.access.identities import IdentityStore
from ccaudit.access.oidc import OidcClient, OidcError
from ccaudit.access.roles import Role
from ccaudit.console import console_routes
from ccaudit.console.oidc_login import STATE_COOKIE, STATE_SECONDS, StateSeal
from ccaudit.errors import ConfigurationError
from ccaudit.ingest import Ingestor
from ccaudit.settings import Settings, load_settings
from ccaudit.store import Store
from ccaudit.store.tokens import TokenStore
from tests.console.browser import Client
from tests.ingest.test_pipeline import batch, wire

SERVICE = "http://service"
SECRET = "a-client-secret-of-the-console"
ROLE_MAP = {"audit-team": "auditor", "library-admins": "org_admin", "ops": "operator"}


@pytest.fixture(scope="module")
def provider() -> Iterator[str]:
    """The provider's issuer URL (its address; the provider names itself after the Host it is asked at)."""
    with run_server_in_thread(port=0, require_nonce=True) as server:
        yield f"http://localhost:{server.server_port}"


def user(provider: str, **claims: Any) -> str:
    """A new user at the provider with these claims; their subject."""
    sub = f"user-{uuid.uuid4().hex[:8]}"
    httpx.put(f"{provider}/users/{sub}", json=claims, timeout=10).raise_for_status()
    return sub


def oidc_settings(provider: str, **extra: Any) -> dict[str, Any]:
    return {
        "oidc_issuer": provider, "oidc_client_id": "ccaudit-console", "oidc_client_secret": SECRET,
        "oidc_redirect_base": SERVICE, "oidc_role_map": ROLE_MAP, "oidc_provider_name": "Example ID",
        "oidc_roles_claim": "groups", "oidc_organisations_claim": "libraries", **extra,
    }  # fmt: skip


@pytest.fixture(scope="module")
def store(chdb_client: Any) -> Store:
    store = Store(chdb_client, f"oidc_{uuid.uuid4().hex[:10]}")
    store.migrate()
    events = [wire(n, organisation=org, request_id=f"coop-{org}") for n, org in enumerate(("org-a", "org-b"))]
    Ingestor(Settings(), store).ingest(batch(events, platform="coop"))
    return store


def console_app(store: Store, **settings: Any) -> Starlette:
    config = Settings(**settings)
    authenticator = Authenticator(
        config, AccountStore(store.client, store.database), ApiTokenStore(store.client, store.database)
    )
    return Starlette(routes=console_routes(config, store, authenticator, TokenStore(store.client, store.database)))


@pytest.fixture(scope="module")
def app(store: Store, provider: str) -> Starlette:
    return console_app(store, **oidc_settings(provider))


def at_provider(location: str, sub: str) -> str:
    """The user logs in at the provider (its form: the subject, posted to the authorization address);
    the provider's redirect back to the console (its Location)."""
    form = httpx.get(location, timeout=10)
    assert form.status_code == 200
    assert 'name="sub"' in form.text
    answer = httpx.post(location, data={"sub": sub}, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def start(client: Client, next_page: str = "/console") -> httpx.Response:
    response = client.get(f"/console/login/oidc?{urlencode({'next': next_page})}")
    assert response.status_code == 303, response.text
    return response


def callback_path(location: str) -> str:
    back = urlparse(location)
    assert f"{back.scheme}://{back.netloc}" == SERVICE
    return f"{back.path}?{back.query}"


def login(client: Client, sub: str, next_page: str = "/console") -> httpx.Response:
    """The whole dance; the callback's response."""
    return client.get(callback_path(at_provider(start(client, next_page).headers["location"], sub)))


def cookie_header(response: httpx.Response, name: str) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))


def cookie_payload(value: str) -> dict[str, Any]:
    body = value.split(".")[0]
    loaded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return loaded


def sessions_of(store: Store) -> int:
    return int(store.client.query(f"SELECT count() FROM {store.database}.console_sessions").result_rows[0][0])


# --- the dance ---------------------------------------------------------------------------------------


def test_an_org_admin_logs_in_through_the_provider_with_the_role_and_organisations_its_claims_map_to(
    app: Starlette, store: Store, provider: str
) -> None:
    sub = user(provider, preferred_username="Lies", groups=["staff", "library-admins"], libraries=["org-a"])
    client = Client(app)
    done = login(client, sub, "/console/search")
    assert done.status_code == 200, done.text
    assert 'http-equiv="refresh" content="0; url=/console/search"' in done.text
    home = client.get("/console")
    assert home.status_code == 200
    assert f"{USERNAME_PREFIX}lies" in home.text
    assert "org_admin" in home.text
    account = IdentityStore(store.client, store.database, AccountStore(store.client, store.database)).account_for(
        provider, sub
    )
    assert account is not None
    assert (account.role, account.organisations, account.username) == (Role.ORG_ADMIN, {"org-a"}, "oidc:lies")
    # The principal is bounded by the mapped organisation: the search shows org-a's row only.
    page = client.get("/console/search", params={"q": ""})  # an empty box: every event it may see
    assert page.status_code == 200
    assert "org-a" in page.text
    assert "org-b" not in page.text


def test_the_login_cookie_is_lax_httponly_short_lived_and_the_session_cookie_strict(
    app: Starlette, provider: str
) -> None:
    sub = user(provider, groups=["audit-team"])
    client = Client(app)
    started = start(client)
    state_cookie = cookie_header(started, STATE_COOKIE)
    attributes = {a.strip().lower() for a in state_cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "max-age=600", "path=/console/login/oidc"} <= attributes
    done = client.get(callback_path(at_provider(started.headers["location"], sub)))
    session = cookie_header(done, "ccaudit_console")
    assert {"httponly", "samesite=strict", "path=/console"} <= {a.strip().lower() for a in session.split(";")[1:]}
    # The login cookie is spent: the callback deletes it.
    assert "max-age=0" in cookie_header(done, STATE_COOKIE).lower()
    assert client.jar.get(STATE_COOKIE) is None


def test_the_authorization_request_carries_state_nonce_and_an_s256_pkce_challenge_of_the_cookies_verifier(
    app: Starlette,
) -> None:
    client = Client(app)
    started = start(client)
    asked = {k: v[0] for k, v in parse_qs(urlparse(started.headers["location"]).query).items()}
    pending = cookie_payload(client.jar[STATE_COOKIE])
    assert asked["response_type"] == "code"
    assert asked["client_id"] == "ccaudit-console"
    assert asked["redirect_uri"] == f"{SERVICE}/console/login/oidc/callback"
    assert asked["scope"].split() == ["openid", "email", "profile"]
    assert asked["state"] == pending["s"]
    assert asked["nonce"] == pending["n"]
    assert asked["code_challenge_method"] == "S256"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending["v"].encode()).digest()).rstrip(b"=").decode()
    assert asked["code_challenge"] == challenge
    # Each login has its own secrets.
    other = Client(app)
    start(other)
    assert cookie_payload(other.jar[STATE_COOKIE])["s"] != pending["s"]


# --- what is refused ----------------------------------------------------------------------------------


def test_a_callback_whose_state_is_not_the_cookies_is_refused(app: Starlette, store: Store, provider: str) -> None:
    sub = user(provider, groups=["audit-team"])
    client = Client(app)
    back = urlparse(at_provider(start(client).headers["location"], sub))
    query = parse_qs(back.query)
    state = query["state"][0]
    query["state"] = [("y" if state[0] == "x" else "x") + state[1:]]  # one character changed
    before = sessions_of(store)
    refused = client.get(f"{back.path}?{urlencode({k: v[0] for k, v in query.items()})}")
    assert refused.status_code == 400
    assert "did not succeed" in refused.text
    assert "ccaudit_console=" not in refused.headers.get("set-cookie", "").replace(STATE_COOKIE, "")
    assert sessions_of(store) == before
    assert client.get("/console").status_code == 303  # still logged out


def test_a_callback_without_the_login_cookie_or_with_a_forged_one_is_refused(app: Starlette, provider: str) -> None:
    sub = user(provider, groups=["audit-team"])
    client = Client(app)
    path = callback_path(at_provider(start(client).headers["location"], sub))
    genuine = client.jar[STATE_COOKIE]
    elsewhere = Client(app)  # another browser: the attacker's code in the victim's browser
    assert elsewhere.get(path).status_code == 400
    forged = Client(app)
    payload = cookie_payload(genuine)
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    forged.jar.set(STATE_COOKIE, body + "." + genuine.split(".")[1][::-1], domain="service", path="/console/login/oidc")
    assert forged.get(path).status_code == 400
    assert forged.get("/console").status_code == 303


def test_a_replayed_callback_is_refused_even_with_its_cookie(app: Starlette, store: Store, provider: str) -> None:
    sub = user(provider, groups=["audit-team"])
    client = Client(app)
    started = start(client)
    cookie = client.jar[STATE_COOKIE]
    path = callback_path(at_provider(started.headers["location"], sub))
    assert client.get(path).status_code == 200
    before = sessions_of(store)
    replay = Client(app)
    replay.jar.set(STATE_COOKIE, cookie, domain="service", path="/console/login/oidc")
    refused = replay.get(path)
    assert refused.status_code == 400
    assert sessions_of(store) == before
    assert replay.get("/console").status_code == 303


def test_a_code_issued_for_another_login_is_refused_by_its_nonce(
    app: Starlette, store: Store, provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Code injection: the code of one login presented with another login's state and cookie. (This
    provider does not check PKCE, so the nonce is what stops it here; a provider that does would
    refuse the code exchange first.)"""
    sub = user(provider, groups=["audit-team"])
    victim = Client(app)
    stolen = parse_qs(urlparse(at_provider(start(victim).headers["location"], sub)).query)["code"][0]
    attacker = Client(app)
    state = parse_qs(urlparse(start(attacker).headers["location"]).query)["state"][0]
    before = sessions_of(store)
    with caplog.at_level(logging.WARNING, logger="ccaudit.console"):
        refused = attacker.get(f"/console/login/oidc/callback?{urlencode({'code': stolen, 'state': state})}")
    assert refused.status_code == 401
    assert "nonce" in caplog.text
    assert sessions_of(store) == before


def test_a_user_whose_claims_map_to_no_role_gets_no_access_and_no_account(
    app: Starlette, store: Store, provider: str
) -> None:
    for claims in ({"groups": ["staff"]}, {}, {"groups": "library-admins"}):  # the last: org_admin, no organisation
        sub = user(provider, **claims)
        client = Client(app)
        before = sessions_of(store)
        refused = login(client, sub)
        assert refused.status_code == 403, claims
        assert "none of your roles" in refused.text
        assert sessions_of(store) == before
        accounts = AccountStore(store.client, store.database)
        assert IdentityStore(store.client, store.database, accounts).account_for(provider, sub) is None
        assert client.get("/console").status_code == 303


def test_the_provider_decides_the_role_at_each_login_but_cannot_enable_a_disabled_account(
    app: Starlette, store: Store, provider: str
) -> None:
    sub = user(provider, groups=["audit-team"])
    assert login(Client(app), sub).status_code == 200
    accounts = AccountStore(store.client, store.database)
    identities = IdentityStore(store.client, store.database, accounts)
    first = identities.account_for(provider, sub)
    assert first is not None
    assert first.role == Role.AUDITOR
    httpx.put(f"{provider}/users/{sub}", json={"groups": ["ops"]}, timeout=10).raise_for_status()
    assert login(Client(app), sub).status_code == 200
    second = identities.account_for(provider, sub)
    assert second is not None
    assert (second.account_id, second.role) == (first.account_id, Role.OPERATOR)
    accounts.disable(first.account_id)
    client = Client(app)
    refused = login(client, sub)
    assert refused.status_code == 403
    assert client.get("/console").status_code == 303
    third = identities.account_for(provider, sub)
    assert third is not None
    assert third.disabled


def test_an_account_of_the_provider_has_no_password_that_opens_it(app: Starlette, store: Store, provider: str) -> None:
    sub = user(provider, preferred_username="nopass", groups=["audit-team"])
    assert login(Client(app), sub).status_code == 200
    accounts = AccountStore(store.client, store.database)
    assert accounts.by_username("oidc:nopass") is not None
    for guess in ("", "a password long enough", "oidc:nopass"):
        assert accounts.verify_password("oidc:nopass", guess) is None


def test_logout_ends_the_session_here_and_with_the_setting_at_the_provider_too(
    app: Starlette, store: Store, provider: str
) -> None:
    sub = user(provider, groups=["audit-team"])
    here_only = Client(app)
    assert login(here_only, sub).status_code == 200
    answer = here_only.post("/console/logout", {"csrf": here_only.csrf("/console")})
    assert answer.status_code == 200
    assert "You are logged out." in answer.text
    assert here_only.get("/console").status_code == 303

    both = console_app(store, **oidc_settings(provider, oidc_logout_at_provider=True))
    client = Client(both)
    assert login(client, sub).status_code == 200
    stolen = client.jar["ccaudit_console"]
    answer = client.post("/console/logout", {"csrf": client.csrf("/console")})
    assert answer.status_code == 303
    away = urlparse(answer.headers["location"])
    assert f"{away.scheme}://{away.netloc}{away.path}" == f"{provider}/oauth2/end_session"
    asked = {k: v[0] for k, v in parse_qs(away.query).items()}
    assert asked == {"client_id": "ccaudit-console", "post_logout_redirect_uri": f"{SERVICE}/console/login"}
    # The session is over here before the provider is even asked.
    replay = Client(both)
    replay.jar.set("ccaudit_console", stolen, domain="service", path="/console")
    assert replay.get("/console").status_code == 303
    # The provider's logout page, confirmed, sends the browser back to the login page.
    confirm = httpx.post(f"{provider}/oauth2/end_session/confirm", timeout=10,
                         data={"redirect_uri": asked["post_logout_redirect_uri"]})  # fmt: skip
    assert confirm.headers["location"] == f"{SERVICE}/console/login"
    assert httpx.get(answer.headers["location"], timeout=10).status_code == 200
    # A local account's logout stays here, whatever the setting.
    accounts = AccountStore(store.client, store.database)
    name = f"local-{uuid.uuid4().hex[:6]}"
    accounts.create(name, "auditor", [], "a password long enough")
    local = Client(both)
    assert local.login(name, "a password long enough").status_code == 303
    assert local.post("/console/logout", {"csrf": local.csrf("/console")}).status_code == 200


def test_an_email_domain_or_a_required_claim_narrows_who_may_log_in(store: Store, provider: str) -> None:
    narrowed = console_app(
        store, **oidc_settings(provider, oidc_email_domains="example.org", oidc_required_claims={"tenant": "cc"})
    )
    ok = user(provider, email="an@example.org", email_verified=True, tenant="cc", groups=["audit-team"])
    assert login(Client(narrowed), ok).status_code == 200
    for claims in (
        {"email": "an@elsewhere.org", "email_verified": True, "tenant": "cc"},
        {"email": "an@example.org", "email_verified": False, "tenant": "cc"},
        {"email": "an@example.org", "email_verified": True, "tenant": "other"},
    ):
        refused = login(Client(narrowed), user(provider, groups=["audit-team"], **claims))
        assert refused.status_code == 403, claims
        assert "may not use ccaudit" in refused.text


def test_an_unreachable_provider_gives_a_page_that_says_so(store: Store) -> None:
    from tests.conftest import free_port

    down = console_app(store, **oidc_settings(f"http://127.0.0.1:{free_port()}"))
    page = Client(down).get("/console/login/oidc")
    assert page.status_code == 503
    assert "cannot be reached" in page.text


def test_the_login_page_offers_the_provider_in_each_language(app: Starlette, store: Store) -> None:
    for lang, words in (("en", "Log in with Example ID"), ("nl", "Aanmelden met Example ID"),
                        ("fr", "Se connecter avec Example ID")):  # fmt: skip
        page = Client(app).get("/console/login?next=/console/search", headers={"Accept-Language": lang})
        assert words in page.text
        assert 'href="/console/login/oidc?next=/console/search"' in page.text
    plain = Client(console_app(store)).get("/console/login")
    assert "/console/login/oidc" not in plain.text
    assert Client(console_app(store)).get("/console/login/oidc").status_code == 404


# --- the ID token's checks, on tokens the provider really issued ----------------------------------------


def provider_token(provider: str, client_id: str, nonce: str, sub: str) -> dict[str, Any]:
    """A token response of the provider for ``client_id`` (the whole code flow, by hand)."""
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": "http://elsewhere/cb",
             "scope": "openid", "state": "s", "nonce": nonce}  # fmt: skip
    location = at_provider(f"{provider}/oauth2/authorize?{urlencode(query)}", sub)
    code = parse_qs(urlparse(location).query)["code"][0]
    answer = httpx.post(f"{provider}/oauth2/token", timeout=10, auth=(client_id, "whatever"), data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://elsewhere/cb",
    })  # fmt: skip
    answer.raise_for_status()
    token: dict[str, Any] = answer.json()
    return token


def test_an_id_token_for_another_client_or_issuer_with_another_nonce_or_altered_is_refused(provider: str) -> None:
    client = OidcClient(Settings(**oidc_settings(provider)))
    sub = user(provider, groups=["audit-team"])
    mine = provider_token(provider, "ccaudit-console", "n-1", sub)
    claims = asyncio.run(client.verify_id_token(mine["id_token"], "n-1", mine["access_token"]))
    assert (claims["sub"], claims["iss"], claims["aud"]) == (sub, provider, ["ccaudit-console"])
    with pytest.raises(OidcError, match="nonce"):
        asyncio.run(client.verify_id_token(mine["id_token"], "n-2"))
    # The same provider under another name (its address by IP): same keys, another issuer.
    by_ip = OidcClient(Settings(**oidc_settings(provider.replace("localhost", "127.0.0.1"))))
    with pytest.raises(OidcError, match="iss"):
        asyncio.run(by_ip.verify_id_token(mine["id_token"], "n-1"))
    theirs = provider_token(provider, "another-app", "n-1", sub)
    with pytest.raises(OidcError, match="aud"):
        asyncio.run(client.verify_id_token(theirs["id_token"], "n-1"))
    head, body, signature = mine["id_token"].split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "someone-else"
    altered = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(OidcError):
        asyncio.run(client.verify_id_token(f"{head}.{altered}.{signature}", "n-1"))
    with pytest.raises(OidcError):
        asyncio.run(client.verify_id_token(f"{head}.{body}.", "n-1"))


def test_an_expired_id_token_or_one_of_another_provider_is_refused(provider: str) -> None:
    with run_server_in_thread(port=0, access_token_max_age=timedelta(hours=-1)) as old:
        stale_provider = f"http://localhost:{old.server_port}"
        sub = user(stale_provider, groups=["audit-team"])
        stale = provider_token(stale_provider, "ccaudit-console", "n", sub)
        with pytest.raises(OidcError, match="exp"):
            asyncio.run(OidcClient(Settings(**oidc_settings(stale_provider))).verify_id_token(stale["id_token"], "n"))
        # The same token presented to a client of the other provider: not its keys, not its issuer.
        with pytest.raises(OidcError):
            asyncio.run(OidcClient(Settings(**oidc_settings(provider))).verify_id_token(stale["id_token"], "n"))


# --- settings and mapping -----------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_redirect_base",
                                     "oidc_role_map"])  # fmt: skip
def test_a_provider_configured_in_part_fails_at_start_naming_a_missing_key(
    missing: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = oidc_settings("https://id.example.org")
    for key, value in full.items():
        if key != missing:
            monkeypatch.setenv(f"CCAUDIT_{key.upper()}", json.dumps(value) if isinstance(value, dict) else value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert raised.value.key == f"CCAUDIT_{missing.upper()}"


def test_a_role_map_naming_no_role_of_ccaudit_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCAUDIT_OIDC_ROLE_MAP", '{"admins": "superuser"}')
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert raised.value.key == "CCAUDIT_OIDC_ROLE_MAP"
    assert "superuser" in str(raised.value)


def test_the_issuer_is_kept_as_written_and_the_redirect_base_without_its_last_slash() -> None:
    written = Settings(**oidc_settings("https://tenant.example.org/", oidc_redirect_base="https://audit.example.org/"))
    assert written.oidc_issuer == "https://tenant.example.org/"  # as such providers name themselves in tokens
    assert OidcClient(written).redirect_uri == "https://audit.example.org/console/login/oidc/callback"


def test_no_oidc_setting_leaves_it_off() -> None:
    assert not Settings().oidc_enabled
    assert Settings(**oidc_settings("https://id.example.org")).oidc_enabled


MAPPING = Settings(**oidc_settings("https://id.example.org", oidc_roles_claim="realm_access.roles"))


@given(st.lists(st.text(max_size=12), max_size=6), st.lists(st.text(max_size=12), max_size=4))
def test_a_role_comes_only_from_the_map_and_the_maps_order_decides(groups: list[str], libraries: list[str]) -> None:
    claims = {"iss": "https://id.example.org", "sub": "s", "realm_access": {"roles": groups}, "libraries": libraries}
    mapped = [ROLE_MAP[g] for g in ROLE_MAP if g in groups]
    valid = [o for o in libraries if _ORGANISATION.match(o)]
    if not mapped or (mapped[0] == "org_admin" and not valid):
        with pytest.raises(NoAccess) as refused:
            map_claims(MAPPING, claims)
        assert refused.value.reason == "oidc_no_role"
        return
    found = map_claims(MAPPING, claims)
    assert found.role.value == mapped[0]
    assert found.organisations <= set(libraries)
    assert (found.role == Role.ORG_ADMIN) == bool(found.organisations)


@given(st.text(max_size=300))
def test_a_login_cookie_not_sealed_here_never_opens(value: str) -> None:
    seal = StateSeal(SECRET)
    assert seal.open(value, time.time()) is None
    made = seal.seal({"s": value, "n": "n", "v": "v", "next": "/console", "at": int(time.time())})
    assert seal.open(made, time.time()) is not None
    assert StateSeal(SECRET + "x").open(made, time.time()) is None  # another deployment's secret
    assert seal.open(made, time.time() + STATE_SECONDS) is None  # ten minutes on: too late


CALLBACK_NOISE = st.dictionaries(
    st.sampled_from(["state", "code", "error", "error_description", "iss", "session_state"]),
    st.text(max_size=80) | st.sampled_from(["", "access_denied", "x" * 5000, "'; DROP TABLE accounts; --", "\x00"]),
    max_size=4,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CALLBACK_NOISE, st.booleans())
def test_whatever_comes_back_to_the_callback_it_is_refused_with_a_page_never_a_5xx(
    app: Starlette, store: Store, query: dict[str, str], with_cookie: bool
) -> None:
    client = Client(app)
    if with_cookie:
        start(client)  # a genuine login cookie, whose state the noise does not know
    before = sessions_of(store)
    answer = client.get("/console/login/oidc/callback", params=query)
    assert answer.status_code in (400, 401)
    assert "did not succeed" in answer.text
    assert sessions_of(store) == before


@given(st.text(max_size=200))
def test_the_accounts_name_is_printable_prefixed_and_bounded(name: str) -> None:
    claims = {
        "iss": "https://id.example.org",
        "sub": "s",
        "realm_access": {"roles": ["ops"]},
        "preferred_username": name,
    }
    found = map_claims(MAPPING, claims)
    assert found.username.startswith(USERNAME_PREFIX)
    assert found.username.isprintable()
    assert len(found.username) <= 128
