"""From an identity provider's claims to a ccaudit role and organisations, as the settings say.

The provider decides who a user is; the settings decide what that user may do here:

- ``oidc_role_map`` maps values of the roles claim (``oidc_roles_claim``, e.g. groups) to roles; the
  first entry of the map that the user holds wins, so its order is the precedence. A user who holds
  none gets no access: there is no default role.
- ``oidc_organisations_claim`` names the organisations an ``org_admin`` or ``learning_manager`` may
  see; such a role without any organisation gets no access either (it would see nothing, and an
  empty list must never read as "every organisation").
- ``oidc_email_domains`` and ``oidc_required_claims`` narrow who may log in at all.

A claim name may be a dotted path into nested claims (Keycloak's ``realm_access.roles``). A claim's
value may be a string or a list of strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccaudit.access.accounts import _ORGANISATION
from ccaudit.access.roles import ORG_SCOPED, Role
from ccaudit.settings import Settings

USERNAME_PREFIX = "oidc:"  # never a local username (those have no ':'), so the two kinds never collide
_MAX_VALUES = 256  # values of one claim looked at; a provider sends a handful


class NoAccess(Exception):
    """The user is known to the provider but may not use ccaudit; ``reason`` is the console's message
    key, the text says why for the service's log."""

    def __init__(self, reason: str, text: str) -> None:
        super().__init__(text)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MappedUser:
    issuer: str
    subject: str
    username: str
    role: Role
    organisations: frozenset[str]


def claim(claims: Mapping[str, Any], name: str) -> Any:
    """The value at ``name`` (a dotted path), or None."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    """The claim as a list of strings: a string is one value; anything else that is not a string or a
    list of strings counts as no value."""
    value = claim(claims, name)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value[:_MAX_VALUES] if isinstance(v, str)]
    return []


def map_claims(settings: Settings, claims: Mapping[str, Any]) -> MappedUser:
    """The role and organisations of the user these verified claims describe; raises NoAccess."""
    issuer, subject = str(claims.get("iss", "")), claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise NoAccess("oidc_failed", "the ID token has no subject")
    for name, wanted in settings.oidc_required_claims.items():
        if wanted not in claim_values(claims, name):
            raise NoAccess("oidc_no_access", f"claim {name!r} is not {wanted!r}")
    email = claims.get("email")
    if settings.oidc_email_domains:
        domain = email.rpartition("@")[2].lower() if isinstance(email, str) and "@" in email else None
        # An address the provider has not verified proves nothing about the domain.
        if claims.get("email_verified") is not True or domain not in {d.lower() for d in settings.oidc_email_domains}:
            raise NoAccess("oidc_no_access", "no verified email address in an allowed domain")
    held = set(claim_values(claims, settings.oidc_roles_claim))
    role = next((Role(r) for value, r in settings.oidc_role_map.items() if value in held), None)
    if role is None:
        raise NoAccess("oidc_no_role", f"no value of claim {settings.oidc_roles_claim!r} is in the role map")
    organisations = frozenset(
        o for o in claim_values(claims, settings.oidc_organisations_claim) if _ORGANISATION.match(o)
    )
    if role in ORG_SCOPED and not organisations:
        raise NoAccess(
            "oidc_no_role", f"a {role.value} needs organisations in claim {settings.oidc_organisations_claim!r}"
        )
    shown = claim(claims, settings.oidc_username_claim)
    if not isinstance(shown, str) or not shown:
        shown = email if isinstance(email, str) and email else subject
    # Shown in pages and logs: printable characters only (a claim is the provider's text, not ours).
    name = "".join(c for c in shown.strip().lower() if c.isprintable())
    return MappedUser(issuer, subject, (USERNAME_PREFIX + name)[:128], role,
                      organisations if role in ORG_SCOPED else frozenset())  # fmt: skip
