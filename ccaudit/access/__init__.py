"""Who may see what: roles, principals, accounts and API tokens (see ``roles.py`` for the table)."""

from ccaudit.access.accounts import Account, AccountError, AccountStore
from ccaudit.access.api_tokens import ApiToken, ApiTokenStore, TokenError
from ccaudit.access.authenticate import Authenticator
from ccaudit.access.principal import Principal
from ccaudit.access.roles import ROUTES, Permission, Role, Rule

__all__ = [
    "ROUTES",
    "Account",
    "AccountError",
    "AccountStore",
    "ApiToken",
    "ApiTokenStore",
    "Authenticator",
    "Permission",
    "Principal",
    "Role",
    "Rule",
    "TokenError",
]
