"""Accounts, API tokens and principals, in the real engine."""

from __future__ import annotations

import secrets

import pytest

from ccaudit.access import AccountError, AccountStore, ApiTokenStore, Authenticator, Permission, Role, TokenError
from ccaudit.access.roles import BOOTSTRAP, ROLE_PERMISSIONS
from ccaudit.settings import Settings
from ccaudit.store import Store

PASSWORD = "correct horse battery"


@pytest.fixture
def accounts(store: Store) -> AccountStore:
    return AccountStore(store.client, store.database)


@pytest.fixture
def tokens(store: Store) -> ApiTokenStore:
    return ApiTokenStore(store.client, store.database)


def test_a_password_is_stored_as_an_argon2id_hash_and_checked(accounts: AccountStore, store: Store) -> None:
    made = accounts.create("Anna", "auditor", [], PASSWORD)
    stored = store.client.command(f"SELECT password_hash FROM {store.database}.accounts FINAL")
    assert str(stored).startswith("$argon2id$")
    assert PASSWORD not in str(stored)
    checked = accounts.verify_password("anna", PASSWORD)
    assert checked is not None
    assert (checked.account_id, checked.role, checked.username) == (made.account_id, Role.AUDITOR, "anna")
    assert accounts.verify_password("anna", PASSWORD + "!") is None
    assert accounts.verify_password("nobody", PASSWORD) is None
    accounts.disable(made.account_id)
    assert accounts.verify_password("anna", PASSWORD) is None


@pytest.mark.parametrize(
    ("username", "role", "orgs", "password", "named"),
    [
        ("anna", "superuser", [], PASSWORD, "role"),
        ("anna", "org_admin", [], PASSWORD, "organisation"),
        ("anna", "auditor", [], "short", "password"),
        ("Anna Smith", "auditor", [], PASSWORD, "username"),
        ("anna", "org_admin", ["bad org'"], PASSWORD, "organisation"),
    ],
)
def test_a_bad_account_is_refused_naming_what_is_wrong(
    accounts: AccountStore, username: str, role: str, orgs: list[str], password: str, named: str
) -> None:
    with pytest.raises(AccountError, match=named):
        accounts.create(username, role, orgs, password)


def test_a_username_is_taken_once(accounts: AccountStore) -> None:
    accounts.create("anna", "dpo", [], PASSWORD)
    with pytest.raises(AccountError, match="taken"):
        accounts.create("ANNA", "auditor", [], PASSWORD)


def test_personal_tokens_carry_their_accounts_role_narrowed_by_scopes(
    accounts: AccountStore, tokens: ApiTokenStore
) -> None:
    admin_token = secrets.token_urlsafe(24)
    auth = Authenticator(Settings(admin_token=admin_token), accounts, tokens)
    anna = accounts.create("anna", "org_admin", ["gemeente-a"], PASSWORD)
    full, _ = tokens.create_personal(anna.account_id, ROLE_PERMISSIONS[Role.ORG_ADMIN])
    narrow, _ = tokens.create_personal(anna.account_id, frozenset({Permission.USAGE_READ}))
    principal = auth.principal(f"Bearer {full}")
    assert principal is not None
    assert principal.may(Permission.AUDIT_READ)
    assert principal.organisations == frozenset({"gemeente-a"})
    narrowed = auth.principal(f"Bearer {narrow}")
    assert narrowed is not None
    assert not narrowed.may(Permission.AUDIT_READ)
    # The bootstrap credential makes accounts and tokens, and reads nothing.
    bootstrap = auth.principal(f"Bearer {admin_token}")
    assert bootstrap is not None
    assert bootstrap.permissions == BOOTSTRAP
    assert not bootstrap.may(Permission.AUDIT_READ)
    for wrong in (None, "", "Bearer", f"Basic {full}", f"Bearer {full}x", f"Bearer {full[:-1]}", "Bearer ccp_x_y"):
        assert auth.principal(wrong) is None


def test_a_revoked_expired_or_disabled_token_reads_nothing(accounts: AccountStore, tokens: ApiTokenStore) -> None:
    auth = Authenticator(Settings(), accounts, tokens)
    anna = accounts.create("anna", "auditor", [], PASSWORD)
    token, info = tokens.create_personal(anna.account_id, ROLE_PERMISSIONS[Role.AUDITOR])
    assert auth.principal(f"Bearer {token}") is not None
    tokens.revoke(info.token_id, account_id="someone-else")  # not theirs: nothing happens
    assert auth.principal(f"Bearer {token}") is not None
    tokens.revoke(info.token_id, account_id=anna.account_id)
    assert auth.principal(f"Bearer {token}") is None
    other, _ = tokens.create_personal(anna.account_id, ROLE_PERMISSIONS[Role.AUDITOR])
    accounts.disable(anna.account_id)
    assert Authenticator(Settings(), accounts, tokens).principal(f"Bearer {other}") is None
    with pytest.raises(TokenError, match="days"):
        tokens.create_personal(anna.account_id, frozenset(), days=400)


def test_a_token_made_by_another_replica_works_at_once(accounts: AccountStore, store: Store) -> None:
    reader, writer = ApiTokenStore(store.client, store.database), ApiTokenStore(store.client, store.database)
    anna = accounts.create("anna", "auditor", [], PASSWORD)
    first, _ = writer.create_personal(anna.account_id, ROLE_PERMISSIONS[Role.AUDITOR])
    assert reader.verify(first) is not None  # the reader has now loaded every token
    second, info = writer.create_personal(anna.account_id, ROLE_PERMISSIONS[Role.AUDITOR])
    found = reader.verify(second)  # unknown to the reader's cache: looked up by its id
    assert found is not None
    assert found.token_id == info.token_id
    assert reader.verify(second[:-1] + ("A" if second[-1] != "A" else "B")) is None  # a wrong secret
    assert reader.verify("ccp_0123456789abcdef_" + "x" * 43) is None  # an id nobody made


def test_a_platform_read_token_reads_its_platform_within_its_scopes(
    accounts: AccountStore, tokens: ApiTokenStore
) -> None:
    auth = Authenticator(Settings(), accounts, tokens)
    token, _ = tokens.create_platform_read("learning", ["usage:read"])
    principal = auth.principal(f"Bearer {token}")
    assert principal is not None
    assert principal.platforms == frozenset({"learning"})
    assert principal.permissions == frozenset({Permission.USAGE_READ})
    with pytest.raises(TokenError, match="scope"):
        tokens.create_platform_read("learning", ["accounts:admin"])
    with pytest.raises(TokenError, match="scope"):
        tokens.create_platform_read("learning", [])
