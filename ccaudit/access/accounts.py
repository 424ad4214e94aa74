"""Local accounts: a username, a role, organisations and an argon2id password hash.

For the embedded default, where no identity provider is at hand. The first operator is made with
``ccaudit users create --role operator`` (or through the bootstrap credential); there is never a
default password. A password is at least 12 characters; it is stored only as its argon2id hash.
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from clickhouse_connect.driver.client import Client

from ccaudit.access.roles import ORG_SCOPED, Role
from ccaudit.store.client import insert_rows, query_rows

MIN_PASSWORD = 12
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,127}$")
_ORGANISATION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_COLUMNS = ("account_id", "username", "role", "organisations", "password_hash", "disabled", "created_at", "version")


class AccountError(ValueError):
    """An account cannot be made or changed as asked; the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    account_id: str
    username: str
    role: Role
    organisations: frozenset[str]
    disabled: bool
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "username": self.username, "role": self.role.value,
            "organisations": sorted(self.organisations), "disabled": self.disabled,
            "created_at": self.created_at.isoformat(),
        }  # fmt: skip


class AccountStore:
    """Rows of ``<db>.accounts``; passwords hashed with argon2id (argon2-cffi's defaults, RFC 9106)."""

    def __init__(self, client: Client, database: str) -> None:
        self._client = client
        self._db = database
        self._hasher = PasswordHasher()
        # Verifying against this when the username is unknown costs what a real check costs, so the
        # time of an answer does not tell which usernames exist.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))
        self._lock = threading.Lock()

    def create(self, username: str, role: str, organisations: Iterable[str], password: str) -> Account:
        """A new account; raises AccountError naming what is wrong."""
        username = username.strip().lower()
        if not _USERNAME.match(username):
            raise AccountError("username: lower-case letters, digits, '.', '_', '@' or '-' (at most 128)")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise AccountError(f"role: one of {', '.join(r.value for r in Role)}") from None
        orgs = frozenset(o.strip() for o in organisations if o.strip())
        for org in orgs:
            if not _ORGANISATION.match(org):
                raise AccountError(f"organisation: {org!r} is not an organisation id")
        if parsed_role in ORG_SCOPED and not orgs:
            raise AccountError(f"organisation: a {parsed_role.value} account needs at least one (--org)")
        if len(password) < MIN_PASSWORD:
            raise AccountError(f"password: at least {MIN_PASSWORD} characters")
        with self._lock:  # one process makes accounts at a time; the name check and the insert go together
            if self.by_username(username) is not None:
                raise AccountError(f"username: {username!r} is taken")
            account = Account(secrets.token_hex(8), username, parsed_role, orgs, False, datetime.now(UTC))
            self._write(account, self._hasher.hash(password))
        return account

    def verify_password(self, username: str, password: str) -> Account | None:
        """The account if ``password`` is its password and it is not disabled; None otherwise."""
        found = self._row_by_username(username.strip().lower())
        # An account of the identity provider has no password (an empty hash): it is checked against
        # the dummy, which fails, in the time a real check takes.
        digest = found[1] if found is not None and found[1] else self._dummy
        try:
            self._hasher.verify(digest, password)
        except (VerificationError, InvalidHashError):
            return None
        if found is None or found[0].disabled:
            return None
        return found[0]

    def get(self, account_id: str) -> Account | None:
        rows = self._select("account_id = {v:String}", account_id)
        return rows[0][0] if rows else None

    def by_username(self, username: str) -> Account | None:
        found = self._row_by_username(username)
        return found[0] if found else None

    def list_accounts(self) -> list[Account]:
        return [account for account, _ in self._select("1", None)]

    def disable(self, account_id: str) -> Account | None:
        rows = self._select("account_id = {v:String}", account_id)
        if not rows:
            return None
        account, digest = rows[0]
        disabled = Account(account.account_id, account.username, account.role, account.organisations, True,
                           account.created_at)  # fmt: skip
        self._write(disabled, digest)
        return disabled

    def save_external(self, account: Account) -> None:
        """Write an account that logs in through the identity provider (ccaudit.access.identities): no
        password, so the password login never opens it; its role and organisations come from claims."""
        self._write(account, "")

    def _row_by_username(self, username: str) -> tuple[Account, str] | None:
        rows = self._select("username = {v:String}", username)
        return rows[0] if rows else None

    def _select(self, where: str, value: str | None) -> list[tuple[Account, str]]:
        rows = query_rows(
            self._client,
            f"SELECT account_id, username, role, organisations, password_hash, disabled, created_at "
            f"FROM {self._db}.accounts FINAL WHERE {where} ORDER BY created_at",
            {"v": value} if value is not None else None,
        )
        return [
            (Account(str(a), str(u), Role(str(r)), frozenset(o), bool(d), c.replace(tzinfo=UTC)), str(h))
            for a, u, r, o, h, d, c in rows
        ]

    def _write(self, account: Account, password_hash: str) -> None:
        row = [account.account_id, account.username, account.role.value, sorted(account.organisations),
               password_hash, account.disabled, account.created_at, time.time_ns()]  # fmt: skip
        insert_rows(self._client, self._db, "accounts", [row], _COLUMNS)
