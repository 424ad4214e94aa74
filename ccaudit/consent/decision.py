"""The one consent decision: may this request be counted for a consent category, and why (not).

Precedence, first match wins:

1. ``Sec-GPC: 1`` (Global Privacy Control) → deny, reason ``gpc``; unless the operator configured
   ``gpc_override``: then an explicit, valid on-site consent still counts (the W3C GPC
   specification lets a site honour a later, specific consent the person gave it) and the reason
   says so (``granted-over-gpc``);
2. ``DNT: 1`` → deny, reason ``dnt`` (unless the policy says not to honour DNT);
3. the consent managers' cookies, read by the configured adapters (``adapters/``), in their order:
   no cookie of any → deny, ``no-consent``; a cookie that holds no consent (malformed, truncated,
   dismissed, outside the manager's region) → ``malformed``; a consent the visitor is not shown to
   have given by acting (the manager calls it implied, or does not say) → ``implied``;
   a consent given under an older policy revision than configured for that manager →
   ``old-revision``; older than the maximum age (from its last update), dated in the future, or
   past the manager's own expiry → ``expired``;
4. among the valid consents, an explicit refusal of the category by any of them wins (the cautious
   reading of conflicting managers) → ``not-granted``; a grant → ``granted``; otherwise
   ``not-granted``.

Managers that record no consent time (Klaro, Osano, CookieYes) cannot be held to the maximum age
by the server: their own cookie lifetime bounds them; configure it no longer than the maximum age.

It never raises: any header can arrive from the internet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from ccaudit.consent.adapters import ConsentAdapter
from ccaudit.consent.adapters import ours as _ours
from ccaudit.consent.adapters.base import Consent
from ccaudit.consent.signals import cookie_value, header_flag, read_signals

ANALYTICS = "analytics"
_DAY_MS = 86_400_000

__all__ = ["ANALYTICS", "ConsentDecision", "ConsentPolicy", "cookie_value", "decide"]


class ConsentPolicy(NamedTuple):
    """What the decision needs from configuration."""

    cookie_name: str = _ours.COOKIE
    revision: int = 1  # of our own cookie (the policy revision our banner shows)
    max_age_days: int = 182
    honour_dnt: bool = True
    gpc_override: bool = False
    # The consent managers read, in order; default: our own cookie only.
    adapters: tuple[ConsentAdapter, ...] = ()
    # The minimum revision each other manager's consent must carry (by adapter name).
    revisions: Mapping[str, int] = {}

    def readers(self) -> tuple[ConsentAdapter, ...]:
        return self.adapters or (_default_adapter(self.cookie_name),)


_default_adapters: dict[str, ConsentAdapter] = {}


def _default_adapter(cookie_name: str) -> ConsentAdapter:
    adapter = _default_adapters.get(cookie_name)
    if adapter is None:
        adapter = _default_adapters[cookie_name] = _ours.adapter(cookie_name)
    return adapter


class ConsentDecision(NamedTuple):
    analytics: bool  # whether the category asked about is allowed
    reason: str
    consent_id: str = ""
    source: str = ""  # the consent manager whose cookie decided


def _invalid(policy: ConsentPolicy, adapter: str, consent: Consent, now_ms: int) -> str | None:
    """Why a parsed consent does not count, or None if it does."""
    if not consent.explicit:
        return "implied"
    minimum = policy.revision if adapter == _ours.NAME else policy.revisions.get(adapter)
    if minimum is not None and (consent.revision is None or consent.revision < minimum):
        return "old-revision"
    stamp = consent.updated_ms if consent.updated_ms is not None else consent.given_ms
    if stamp is not None and (now_ms - stamp > policy.max_age_days * _DAY_MS or stamp > now_ms + _DAY_MS):
        return "expired"  # a time in the future (beyond clock skew) is as untrustworthy as an old one
    if consent.expires_ms is not None and consent.expires_ms <= now_ms:
        return "expired"
    return None


def decide(
    policy: ConsentPolicy,
    now_ms: int,
    cookie_header: str | None,
    gpc: str | None,
    dnt: str | None,
    category: str = ANALYTICS,
) -> ConsentDecision:
    """Decide from the request's Cookie, Sec-GPC and DNT header values (None when absent) whether
    ``category`` (the processing register's consent category for the stream) is allowed."""
    gpc_on = header_flag(gpc)
    if gpc_on and not policy.gpc_override:
        return ConsentDecision(False, "gpc")
    if policy.honour_dnt and header_flag(dnt):
        return ConsentDecision(False, "dnt")
    first_problem: ConsentDecision | None = None
    granted: ConsentDecision | None = None
    for adapter, consent in read_signals(cookie_header, policy.readers()):
        if consent is None:
            first_problem = first_problem or ConsentDecision(False, "malformed", "", adapter)
            continue
        problem = _invalid(policy, adapter, consent, now_ms)
        if problem is not None:
            first_problem = first_problem or ConsentDecision(False, problem, consent.consent_id, adapter)
        elif category in consent.categories_denied:
            return ConsentDecision(False, "not-granted", consent.consent_id, adapter)
        elif category in consent.categories_granted and granted is None:
            reason = "granted-over-gpc" if gpc_on else "granted"
            granted = ConsentDecision(True, reason, consent.consent_id, adapter)
        else:
            first_problem = first_problem or ConsentDecision(False, "not-granted", consent.consent_id, adapter)
    return granted or first_problem or ConsentDecision(False, "no-consent")
