"""Consent: the signals a request carries and the one decision drawn from them."""

from ccaudit.consent.cookie import ConsentRecord, encode_consent_cookie, parse_consent_cookie
from ccaudit.consent.decision import ConsentDecision, ConsentPolicy, decide

__all__ = [
    "ConsentDecision",
    "ConsentPolicy",
    "ConsentRecord",
    "decide",
    "encode_consent_cookie",
    "parse_consent_cookie",
]
