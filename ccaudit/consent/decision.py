"""The one consent decision: may this request be counted for analytics, and why (or why not).

Precedence, first match wins:

1. ``Sec-GPC: 1`` (Global Privacy Control) → deny, reason ``gpc``; unless the operator configured
   ``gpc_override``: then an explicit, valid on-site consent still counts (W3C GPC §: a site may
   honour a later, specific consent the person gave it) and the reason says so (``granted-over-gpc``);
2. ``DNT: 1`` → deny, reason ``dnt`` (unless the policy says not to honour DNT);
3. no consent cookie → deny, ``no-consent``; a malformed one → deny, ``malformed``;
4. consent given under an older policy revision → deny, ``old-revision``;
5. consent older than the maximum age (counted from its last update) → deny, ``expired``;
6. analytics not among the accepted categories → deny, ``not-granted``;
7. otherwise → allow, ``granted``.

It never raises: any header can arrive from the internet.
"""

from __future__ import annotations

from typing import NamedTuple

from ccaudit.consent.cookie import parse_consent_cookie

ANALYTICS = "analytics"
_DAY_MS = 86_400_000


class ConsentPolicy(NamedTuple):
    """What the decision needs from configuration."""

    cookie_name: str = "ccaudit_consent"
    revision: int = 1
    max_age_days: int = 182
    honour_dnt: bool = True
    gpc_override: bool = False


class ConsentDecision(NamedTuple):
    analytics: bool
    reason: str
    consent_id: str = ""


def cookie_value(cookie_header: str, name: str) -> str | None:
    """The value of cookie ``name`` in a Cookie header, tolerant of garbage; the first one wins.

    Searched with ``str.find`` rather than split into pairs: it runs on every page view.
    """
    key = name + "="
    at = cookie_header.find(key)
    while at != -1:
        if at == 0 or cookie_header[at - 1] in "; \t":  # a whole name, not the tail of another
            start = at + len(key)
            end = cookie_header.find(";", start)
            return (cookie_header[start:] if end == -1 else cookie_header[start:end]).strip().strip('"')
        at = cookie_header.find(key, at + 1)
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
    gpc_on = gpc is not None and gpc.strip() == "1"
    if gpc_on and not policy.gpc_override:
        return ConsentDecision(False, "gpc")
    if policy.honour_dnt and dnt is not None and dnt.strip() == "1":
        return ConsentDecision(False, "dnt")
    raw = cookie_value(cookie_header, policy.cookie_name) if cookie_header else None
    if raw is None:
        return ConsentDecision(False, "no-consent")
    record = parse_consent_cookie(raw)
    if record is None:
        return ConsentDecision(False, "malformed")
    if record.revision < policy.revision:
        return ConsentDecision(False, "old-revision", record.consent_id)
    if now_ms - record.updated_ms > policy.max_age_days * _DAY_MS or record.updated_ms > now_ms + _DAY_MS:
        # A timestamp in the future (beyond clock skew) is as untrustworthy as an old one.
        return ConsentDecision(False, "expired", record.consent_id)
    if category not in record.categories:
        return ConsentDecision(False, "not-granted", record.consent_id)
    return ConsentDecision(True, "granted-over-gpc" if gpc_on else "granted", record.consent_id)
