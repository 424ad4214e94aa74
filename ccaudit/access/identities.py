"""Accounts of the identity provider's users, linked by the provider's issuer and subject.

On each login through OpenID Connect the user's account is made, or brought up to date: its role
and organisations are those the claims map to at that login (the provider is the source of truth,
so a user moved to another group has the new role at the next login). An account an operator has
disabled stays disabled: the provider cannot switch it back on. The account has no password.

Also the ledger of login states already used (``oidc_used_states``), so that each state is accepted
once on every replica.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import UTC, datetime

from clickhouse_connect.driver.client import Client

from ccaudit.access.accounts import Account, AccountStore
from ccaudit.access.claims import MappedUser
from ccaudit.store.client import insert_rows, query_rows

_LINK_COLUMNS = ("issuer", "subject", "account_id", "linked_at", "last_login", "version")


class IdentityStore:
    def __init__(self, client: Client, database: str, accounts: AccountStore) -> None:
        self._client = client
        self._db = database
        self.accounts = accounts

    def account_for(self, issuer: str, subject: str) -> Account | None:
        rows = query_rows(
            self._client,
            f"SELECT account_id FROM {self._db}.account_identities FINAL "
            "WHERE issuer = {i:String} AND subject = {s:String}",
            {"i": issuer, "s": subject},
        )
        return self.accounts.get(str(rows[0][0])) if rows else None

    def login(self, user: MappedUser) -> Account:
        """The user's account, made or updated from ``user``; it may be disabled (the caller refuses)."""
        now = datetime.now(UTC)
        known = self.account_for(user.issuer, user.subject)
        if known is None:
            account = Account(secrets.token_hex(8), user.username, user.role, user.organisations, False, now)
            linked_at = now
        else:
            account = Account(known.account_id, user.username, user.role, user.organisations, known.disabled,
                              known.created_at)  # fmt: skip
            linked_at = known.created_at
        if known != account:
            self.accounts.save_external(account)
        row = [user.issuer, user.subject, account.account_id, linked_at, now, time.time_ns()]
        insert_rows(self._client, self._db, "account_identities", [row], _LINK_COLUMNS)
        return account

    def use_state(self, state: str) -> bool:
        """True the first time ``state`` is used, False after. Two callbacks racing with one state on
        two replicas could both pass here; the provider's authorization code, itself good for one
        exchange, stops the second."""
        digest = hashlib.sha256(state.encode()).hexdigest()
        seen = query_rows(
            self._client,
            f"SELECT count() FROM {self._db}.oidc_used_states WHERE state_sha256 = {{d:String}}",
            {"d": digest},
        )
        if seen and int(seen[0][0]) > 0:
            return False
        insert_rows(self._client, self._db, "oidc_used_states", [[digest, datetime.now(UTC)]],
                    ("state_sha256", "used_at"))  # fmt: skip
        return True
