"""The principal a read runs as: an account, a token, or the bootstrap credential.

Every read goes through a principal, and the query layer turns it into mandatory predicates
(organisations, platforms) before any filter from the request is added, so that no parameter can
widen what a principal sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ccaudit.access.roles import BOOTSTRAP, ORG_SCOPED, ROLE_PERMISSIONS, Permission, Role

Kind = Literal["account", "personal_token", "platform_read", "bootstrap"]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who reads, and what bounds their reads.

    ``organisations`` None means every organisation; an empty set means none (an org-scoped account
    without organisations sees nothing). ``platforms`` None means every platform.
    """

    kind: Kind
    subject: str  # the account id, or the token id for a platform read token, or "bootstrap"
    permissions: frozenset[Permission]
    role: Role | None = None
    organisations: frozenset[str] | None = None
    platforms: frozenset[str] | None = None

    def may(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def label(self) -> str:
        """How the access log names the principal."""
        return f"{self.kind}:{self.subject}"


BOOTSTRAP_PRINCIPAL = Principal("bootstrap", "bootstrap", BOOTSTRAP)


def account_principal(
    account_id: str, role: Role, organisations: frozenset[str], scopes: frozenset[Permission] | None = None
) -> Principal:
    """An account's principal (``scopes``: a personal token's narrowing, within the role's)."""
    permissions = ROLE_PERMISSIONS[role] if scopes is None else ROLE_PERMISSIONS[role] & scopes
    return Principal(
        "account" if scopes is None else "personal_token",
        account_id,
        permissions,
        role,
        organisations if role in ORG_SCOPED else None,
    )


def platform_read_principal(token_id: str, platform: str, scopes: frozenset[Permission]) -> Principal:
    return Principal("platform_read", token_id, scopes, None, None, frozenset({platform}))
