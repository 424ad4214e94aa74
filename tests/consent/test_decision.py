"""The consent decision: each signal and each way a cookie can be wrong, and properties over garbage."""

# fixed dates: decisions are made against an injected clock (NOW); nothing is stored.

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccaudit.consent import ConsentPolicy, ConsentRecord, decide, encode_consent_cookie, parse_consent_cookie
from ccaudit.consent.decision import cookie_value

NOW = 1_764_410_000_000
DAY = 86_400_000
POLICY = ConsentPolicy(cookie_name="ccaudit_consent", revision=3, max_age_days=182)
CONSENT_ID = "0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e"


def cookie(categories: tuple[str, ...] = ("necessary", "analytics"), revision: int = 3, age_days: int = 1) -> str:
    record = ConsentRecord(CONSENT_ID, revision, frozenset(categories), NOW - 400 * DAY, NOW - age_days * DAY)
    return f"theme=dark; ccaudit_consent={encode_consent_cookie(record)}; other=1"


@pytest.mark.parametrize(
    ("header", "gpc", "dnt", "allowed", "reason"),
    [
        (cookie(), None, None, True, "granted"),
        (cookie(), "1", None, False, "gpc"),
        (cookie(), None, "1", False, "dnt"),
        (cookie(), "0", "0", True, "granted"),
        (None, None, None, False, "no-consent"),
        ("theme=dark", None, None, False, "no-consent"),
        ("ccaudit_consent=%7Bnot-json", None, None, False, "malformed"),
        ("ccaudit_consent=" + quote(json.dumps({"v": 1, "id": CONSENT_ID})), None, None, False, "malformed"),
        (cookie(revision=2), None, None, False, "old-revision"),
        (cookie(revision=4), None, None, True, "granted"),
        (cookie(age_days=183), None, None, False, "expired"),
        (cookie(age_days=-5), None, None, False, "expired"),  # from the future
        (cookie(categories=("necessary",)), None, None, False, "not-granted"),
    ],
)
def test_decision_table(header: str | None, gpc: str | None, dnt: str | None, allowed: bool, reason: str) -> None:
    decision = decide(POLICY, NOW, header, gpc, dnt)
    assert (decision.analytics, decision.reason) == (allowed, reason)


def test_dnt_can_be_configured_not_to_count() -> None:
    assert decide(POLICY._replace(honour_dnt=False), NOW, cookie(), None, "1").analytics


def test_cookie_round_trip_and_cached_parse() -> None:
    record = ConsentRecord(CONSENT_ID, 1, frozenset({"analytics"}), NOW, NOW)
    raw = encode_consent_cookie(record)
    assert parse_consent_cookie(raw) == record
    assert parse_consent_cookie(raw) is parse_consent_cookie(raw)  # the parse is cached by raw value


@pytest.mark.parametrize(
    "data",
    [
        {"v": 2, "id": CONSENT_ID, "rev": 1, "cats": [], "given": 1, "updated": 1},
        {"v": 1, "id": "x", "rev": 1, "cats": [], "given": 1, "updated": 1},
        {"v": 1, "id": CONSENT_ID, "rev": True, "cats": [], "given": 1, "updated": 1},
        {"v": 1, "id": CONSENT_ID, "rev": 1, "cats": "analytics", "given": 1, "updated": 1},
        {"v": 1, "id": CONSENT_ID, "rev": 1, "cats": [1], "given": 1, "updated": 1},
        {"v": 1, "id": CONSENT_ID, "rev": 1, "cats": [], "given": 5, "updated": 1},
        [1, 2, 3],
    ],
)
def test_malformed_records(data: object) -> None:
    assert parse_consent_cookie(quote(json.dumps(data))) is None


def test_oversized_and_double_encoded_values_are_not_consent() -> None:
    assert parse_consent_cookie("%7B" + "a" * 5000) is None
    good = encode_consent_cookie(ConsentRecord(CONSENT_ID, 3, frozenset({"analytics"}), NOW, NOW))
    assert parse_consent_cookie(quote(good)) is None


def test_cookie_value_finds_the_first_exact_name() -> None:
    assert cookie_value("xccaudit_consent=1; ccaudit_consent=2; ccaudit_consent=3", "ccaudit_consent") == "2"
    assert cookie_value("a=1;;; =; ccaudit_consent", "ccaudit_consent") is None


@given(st.one_of(st.none(), st.text(max_size=600)), st.one_of(st.none(), st.text(max_size=5)),
       st.one_of(st.none(), st.text(max_size=5)), st.integers(min_value=-(2**63), max_value=2**63))  # fmt: skip
def test_decision_never_raises(header: str | None, gpc: str | None, dnt: str | None, now: int) -> None:
    decision = decide(POLICY, now, header, gpc, dnt)
    assert decision.analytics is (decision.reason == "granted")


@given(st.text(max_size=300))
def test_any_cookie_value_parses_or_is_refused(raw: str) -> None:
    record = parse_consent_cookie(raw)
    assert record is None or isinstance(record, ConsentRecord)


def test_gpc_may_yield_to_an_explicit_consent_only_where_configured() -> None:
    assert decide(POLICY, NOW, cookie(), "1", None).reason == "gpc"
    overridden = decide(POLICY._replace(gpc_override=True), NOW, cookie(), "1", None)
    assert (overridden.analytics, overridden.reason) == (True, "granted-over-gpc")
    assert decide(POLICY._replace(gpc_override=True), NOW, None, "1", None).reason == "no-consent"


def test_the_category_comes_from_the_register() -> None:
    assert decide(POLICY, NOW, cookie(categories=("statistics",)), None, None, "statistics").analytics
    assert not decide(POLICY, NOW, cookie(categories=("statistics",)), None, None).analytics


def test_consent_from_real_managers_through_the_settings() -> None:
    from ccaudit.consent.policy import policy_from_settings
    from ccaudit.settings import Settings
    from tests.consent.test_adapters import STAMP, cookiebot_value

    settings = Settings(consent_adapters=("cookiebot", "cookieyes", "ccaudit"), consent_revisions={"cookiebot": 1})
    policy = policy_from_settings(settings)
    bot = f"CookieConsent={cookiebot_value()}"
    yes = "cookieyes-consent=consentid:abc123,consent:yes,action:yes,necessary:yes,analytics:yes"
    no = "cookieyes-consent=consentid:abc123,consent:yes,action:yes,necessary:yes,analytics:no"
    now = 1_764_410_000_000 + DAY
    granted = decide(policy, now, bot, None, None)
    assert (granted.analytics, granted.reason, granted.source) == (True, "granted", "cookiebot")
    assert decide(policy, now, yes, None, None).source == "cookieyes"
    # Consent assumed from browsing on, or a record that does not say how it was given, does not count.
    implied, unsaid, unknown = (f"CookieConsent={cookiebot_value(method=m)}" for m in ("'implied'", "", "'other'"))
    assert decide(policy, now, implied, None, None) == (False, "implied", STAMP, "cookiebot")
    assert decide(policy, now, unsaid, None, None).reason == "implied"
    assert decide(policy, now, unknown, None, None).reason == "malformed"
    assert decide(policy, now, f"CookieConsent={cookiebot_value(ver='0')}", None, None).reason == "old-revision"
    # Two managers disagree: the explicit refusal wins.
    assert decide(policy, now, f"{bot}; {no}", None, None) == (False, "not-granted", "abc123", "cookieyes")
    # Our own cookie still works beside them.
    assert decide(policy._replace(revision=3), NOW, cookie(), None, None).reason == "granted"


def test_unknown_consent_manager_is_a_setting_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from ccaudit.errors import ConfigurationError
    from ccaudit.settings import load_settings

    monkeypatch.setenv("CCAUDIT_CONSENT_ADAPTERS", "tcf,onetrust")
    with pytest.raises(ConfigurationError, match=r"^CCAUDIT_CONSENT_ADAPTERS: .*onetrust"):
        load_settings()
