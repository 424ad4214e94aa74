"""From a request's credential to its principal: the bootstrap token, an API token, or an account's
username and password (HTTP Basic: what ``ccaudit login`` sends once to get a personal token),
throttled per account and per client address."""

from __future__ import annotations

import base64
import binascii
import hmac
import time

from ccaudit.access.accounts import Account, AccountStore
from ccaudit.access.api_tokens import ApiTokenStore
from ccaudit.access.principal import BOOTSTRAP_PRINCIPAL, Principal, account_principal, platform_read_principal
from ccaudit.access.throttle import LoginThrottle
from ccaudit.settings import Settings


class Authenticator:
    """Turns ``Authorization: Bearer <credential>`` into a Principal, or None."""

    REFRESH = 10.0  # seconds an account's row is trusted: a disabled account stops within this

    def __init__(self, settings: Settings, accounts: AccountStore, tokens: ApiTokenStore) -> None:
        self._bootstrap = settings.admin_token.get_secret_value().encode() if settings.admin_token else None
        self.accounts = accounts
        self.tokens = tokens
        self._seen: dict[str, tuple[float, Account | None]] = {}
        self.throttle = LoginThrottle()

    def principal(self, authorization: str | None, client: str = "") -> Principal | None:
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() == "basic" and credential:
            return self._password(credential, client)
        if scheme.lower() != "bearer" or not credential:
            return None
        if self._bootstrap is not None and hmac.compare_digest(credential.encode(), self._bootstrap):
            return BOOTSTRAP_PRINCIPAL
        token = self.tokens.verify(credential)
        if token is None:
            return None
        if token.kind == "platform_read":
            return platform_read_principal(token.token_id, token.platform, token.scopes)
        account = self._account(token.account_id)
        if account is None or account.disabled:
            return None
        return account_principal(account.account_id, account.role, account.organisations, token.scopes)

    def _password(self, credential: str, client: str) -> Principal | None:
        try:
            username, sep, password = base64.b64decode(credential, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        keys = (f"account:{username.strip().lower()}", f"client:{client}")
        if not sep or self.throttle.blocked(*keys):
            return None
        account = self.accounts.verify_password(username, password)
        if account is None:
            self.throttle.failed(*keys)
            return None
        self.throttle.succeeded(keys[0])
        return account_principal(account.account_id, account.role, account.organisations)

    def _account(self, account_id: str) -> Account | None:
        seen = self._seen.get(account_id)
        if seen is None or time.monotonic() - seen[0] > self.REFRESH:
            if len(self._seen) > 10_000:
                self._seen.clear()  # bounded: the next lookups read the store again
            seen = (time.monotonic(), self.accounts.get(account_id))
            self._seen[account_id] = seen
        return seen[1]
