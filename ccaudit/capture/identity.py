"""Who acts: the identity a resolver finds on a request, or app code sets."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, NamedTuple


class Identity(NamedTuple):
    """The actor of a request.

    ``account_id`` is the platform-local account; ``profile_id`` the global profile that serves
    several platforms, where the platform knows it. ``role`` is free text; "admin" and "user" are
    the usual values. A NamedTuple: resolvers build one per audited request, so it must be cheap.
    """

    account_id: str = ""
    profile_id: str = ""
    organisation: str = ""
    role: str = ""

    @property
    def authenticated(self) -> bool:
        return bool(self.account_id or self.profile_id)


# A resolver is called once per audited request, after the app has handled it, with the ASGI scope
# (for WSGI, the environ). It may read what the app's auth layer left there, e.g. scope["user"].
Resolver = Callable[[MutableMapping[str, Any]], Identity | None]


def starlette_user_resolver(scope: MutableMapping[str, Any]) -> Identity | None:
    """Resolver for Starlette's ``AuthenticationMiddleware``: ``scope["user"].identity``."""
    user = scope.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return Identity(account_id=str(getattr(user, "identity", "") or ""))
