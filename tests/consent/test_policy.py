"""The consent settings are checked when the settings load: a mistake fails at start, naming its key."""

# fixed dates: an epoch-millisecond revision is a policy value here, compared with nothing.

from __future__ import annotations

import pytest

from ccaudit.consent.policy import adapter_config, policy_from_settings
from ccaudit.settings import Settings


@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        # Our banner writes consent_cookie; a second name for it here would make the adapter read another.
        ({"consent_cookies": {"ccaudit": "other"}}, r"consent_cookies: .*'ccaudit'"),
        ({"consent_cookies": {"onetrust": "OptanonConsent"}}, r"consent_cookies: .*'onetrust'"),
        ({"consent_cookies": {"Klaro": "klaro"}}, r"consent_cookies: .*'Klaro'"),
        # Our own minimum is consent_revision; Osano, Klaro and TCF record no revision to compare.
        ({"consent_revisions": {"ccaudit": 5}}, r"consent_revisions: .*'ccaudit'"),
        ({"consent_revisions": {"osano": 3}}, r"consent_revisions: .*'osano'"),
        ({"consent_revisions": {"klaro": 1}}, r"consent_revisions: .*'klaro'"),
        ({"consent_revisions": {"tcf": 1}}, r"consent_revisions: .*'tcf'"),
        ({"consent_revisions": {"cookiebott": 1}}, r"consent_revisions: .*'cookiebott'"),
        ({"consent_mappings": {"osano": {"a": "analytics"}}}, r"consent_mappings: .*'osano'"),
    ],
)
def test_bad_consent_settings_fail_naming_their_key(fields: dict[str, object], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        Settings(consent_adapters=("ccaudit", "cookiebot", "osano"), **fields)  # type: ignore[arg-type]


def test_an_unknown_manager_in_consent_cookies_is_a_value_error_naming_the_key() -> None:
    settings = Settings.model_construct(
        consent_adapters=("ccaudit",), consent_cookie="ccaudit_consent", consent_cookies={"onetrust": "x"}
    )
    with pytest.raises(ValueError, match=r"^consent_cookies: .*'onetrust'"):
        adapter_config(settings)


def test_good_consent_settings_are_used() -> None:
    settings = Settings(
        consent_adapters=("ccaudit", "klaro", "orestbida", "cookiebot", "cookieyes"),
        consent_cookie="site_consent",
        consent_cookies={"klaro": "consents", "cookiebot": "CookieConsentSite"},
        consent_mappings={"klaro": {"matomo": "analytics"}},
        consent_revisions={"orestbida": 2, "cookiebot": 3, "cookieyes": 1_764_410_000_000},
    )
    policy = policy_from_settings(settings)
    assert [(a.name, a.cookie_name) for a in policy.adapters] == [
        ("ccaudit", "site_consent"),
        ("klaro", "consents"),
        ("orestbida", "cc_cookie"),
        ("cookiebot", "CookieConsentSite"),
        ("cookieyes", "cookieyes-consent"),
    ]
    assert dict(policy.revisions) == {"orestbida": 2, "cookiebot": 3, "cookieyes": 1_764_410_000_000}
