"""Each consent manager's cookie, in the exact format it writes, and each way it can be wrong."""

# fixed dates: cookies are parsed and decided against an injected clock (NOW); nothing is stored.

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, unquote

import pytest

from ccaudit.consent.adapters import (
    ANALYTICS,
    MARKETING,
    NECESSARY,
    PREFERENCES,
    AdapterConfig,
    Consent,
    build_adapters,
    cookiebot,
    cookieyes,
    klaro,
    orestbida,
    osano,
    ours,
)
from ccaudit.consent.cookie import ConsentRecord, encode_consent_cookie

NOW = 1_764_410_000_000
ISO_NOW = "2025-11-29T09:53:20.000Z"  # fixed date: cookies decided against the injected NOW
ISO_LATER = "2025-12-01T08:00:00.000Z"  # fixed date: relative to the injected NOW
LATER = 1_764_576_000_000
UUID = "0b9f3c1e-5a3d-4c1b-9a7e-3f2d1c0b9a8e"


def js_encode(text: str) -> str:
    """What JavaScript's encodeURIComponent writes."""
    return quote(text, safe="-_.!~*'()")


def compact(data: Any) -> str:
    """What JSON.stringify writes."""
    return json.dumps(data, separators=(",", ":"))


# --- orestbida CookieConsent ---------------------------------------------------------------------


def cc_v3(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "categories": ["necessary", "analytics"],
        "revision": 2,
        "data": None,
        "consentTimestamp": ISO_NOW,
        "consentId": UUID,
        "services": {"necessary": [], "analytics": ["matomo"]},
        "languageCode": "nl",
        "lastConsentTimestamp": ISO_LATER,
        "expirationTime": NOW + 182 * 86_400_000,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def cc_v2(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "level": ["necessary", "analytics"],
        "revision": 1,
        "data": None,
        "rfc_cookie": False,
        "consent_date": ISO_NOW,
        "consent_uuid": UUID,
        "last_consent_update": ISO_LATER,
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


def test_orestbida_v3() -> None:
    consent = orestbida.parse(js_encode(compact(cc_v3())))
    assert consent == Consent(
        categories_granted=frozenset({NECESSARY, ANALYTICS}),
        categories_denied=frozenset({PREFERENCES, MARKETING}),
        consent_id=UUID,
        revision=2,
        given_ms=NOW,
        updated_ms=LATER,
        expires_ms=NOW + 182 * 86_400_000,
        explicit=True,
    )


def test_orestbida_v2_raw_and_rfc_encoded() -> None:
    raw = compact(cc_v2())
    consent = orestbida.parse(raw)
    assert consent is not None
    assert (consent.categories_granted, consent.revision) == (frozenset({NECESSARY, ANALYTICS}), 1)
    assert (consent.given_ms, consent.updated_ms, consent.expires_ms) == (NOW, LATER, None)
    assert orestbida.parse(js_encode(compact(cc_v2(rfc_cookie=True)))) == consent


def test_orestbida_v2_against_v3_fields() -> None:
    # v3 fields in a v2 record (or the reverse) are not read as the other version's.
    assert orestbida.parse(compact(cc_v2(consent_uuid=..., consentId=...))) is None
    mixed = cc_v3(consentTimestamp=..., consent_date=ISO_NOW)
    assert orestbida.parse(js_encode(compact(mixed))) is None
    v3_with_level = cc_v3(categories=..., level=["analytics"])
    assert orestbida.parse(js_encode(compact(v3_with_level))) is None


def test_orestbida_rejected_and_mapped_categories() -> None:
    only_necessary = orestbida.parse(js_encode(compact(cc_v3(categories=["necessary"]))))
    assert only_necessary is not None
    assert ANALYTICS in only_necessary.categories_denied
    mapping = {"necessary": "necessary", "statistics": "analytics", "ads": "marketing"}
    mapped = orestbida.parse(js_encode(compact(cc_v3(categories=["necessary", "statistics", "x"]))), mapping)
    assert mapped is not None
    assert mapped.categories_granted == frozenset({NECESSARY, ANALYTICS})
    assert mapped.categories_denied == frozenset({PREFERENCES, MARKETING})
    identity = orestbida.parse(js_encode(compact(cc_v3(categories=["statistics"]))))
    assert identity is not None
    assert identity.categories_granted == frozenset({"statistics"})  # no mapping: their names as they are


def test_orestbida_revision_and_expiry_are_returned_for_the_decision() -> None:
    old = orestbida.parse(js_encode(compact(cc_v3(revision=0))))
    expired = orestbida.parse(js_encode(compact(cc_v3(expirationTime=NOW - 1))))
    assert old is not None
    assert old.revision == 0
    assert expired is not None
    assert expired.expires_ms == NOW - 1
    assert orestbida.parse(js_encode(compact(cc_v3(lastConsentTimestamp=...)))) is not None


@pytest.mark.parametrize(
    "record",
    [
        cc_v3(categories="analytics"),
        cc_v3(categories=[1]),
        cc_v3(consentId=""),
        cc_v3(consentId="a b"),
        cc_v3(consentTimestamp="yesterday"),
        cc_v3(consentTimestamp="2025-11-29T09:53:20"),  # no zone
        cc_v3(consentTimestamp=...),
        cc_v3(lastConsentTimestamp="2020-01-01T00:00:00Z"),  # before the first consent
        cc_v3(lastConsentTimestamp=12),
        cc_v3(expirationTime="soon"),
        cc_v3(expirationTime=True),
        cc_v3(expirationTime=-5),
        cc_v3(revision=-1),
        cc_v3(revision=1.5),
        cc_v3(revision="2"),
        cc_v2(level=None),
        cc_v2(consent_date=0),
        [1, 2],
        "cc_cookie",
    ],
)
def test_orestbida_malformed(record: object) -> None:
    assert orestbida.parse(js_encode(compact(record))) is None


def test_orestbida_truncated_double_encoded_oversized() -> None:
    good = js_encode(compact(cc_v3()))
    assert orestbida.parse(good[:-7]) is None
    assert orestbida.parse(js_encode(good)) is None
    assert orestbida.parse(compact(cc_v2())[:-1]) is None
    padded = js_encode(compact(cc_v3(data={"note": "x" * 5000})))
    assert orestbida.parse(padded) is not None  # the format allows it...
    assert orestbida.adapter().parse(padded) is None  # ...no browser keeps it
    assert orestbida.parse("%E0%A4%A") is None  # broken percent-encoding
    assert orestbida.parse("%FF%FE") is None  # not UTF-8
    assert orestbida.parse("[" * 3000) is None  # deeply nested


# --- Klaro! -------------------------------------------------------------------------------------

KLARO_SERVICES = {"matomo": "analytics", "plausible": "analytics", "youtube": "marketing", "session": "necessary"}


def klaro_value(consents: dict[str, Any]) -> str:
    return js_encode(compact(consents))


@pytest.mark.parametrize(
    ("consents", "granted", "denied"),
    [
        ({"matomo": True, "plausible": True, "youtube": False, "session": True}, {NECESSARY, ANALYTICS}, {MARKETING}),
        ({"matomo": True, "plausible": False, "youtube": True, "session": True}, {NECESSARY, MARKETING}, {ANALYTICS}),
        ({"matomo": True, "youtube": True, "session": True}, {NECESSARY, MARKETING}, {ANALYTICS}),  # one missing
        ({"matomo": True, "plausible": 1, "youtube": True, "session": True}, {NECESSARY, MARKETING}, {ANALYTICS}),
        ({"other": True}, set(), {NECESSARY, ANALYTICS, MARKETING}),
        ({}, set(), {NECESSARY, ANALYTICS, MARKETING}),
    ],
)
def test_klaro_all_services_of_a_category(consents: dict[str, Any], granted: set[str], denied: set[str]) -> None:
    consent = klaro.parse(klaro_value(consents), KLARO_SERVICES)
    assert consent is not None
    assert (consent.categories_granted, consent.categories_denied) == (frozenset(granted), frozenset(denied))
    assert (consent.consent_id, consent.revision, consent.given_ms, consent.explicit) == ("", None, None, True)


def test_klaro_raw_json_and_without_configured_services() -> None:
    consent = klaro.parse(compact({"matomo": True, "plausible": True}), KLARO_SERVICES)
    assert consent is not None
    assert ANALYTICS in consent.categories_granted
    unconfigured = klaro.adapter().parse(klaro_value({"matomo": True}))
    assert unconfigured is not None
    assert not unconfigured.categories_granted


@pytest.mark.parametrize(
    "raw",
    [
        klaro_value({"matomo": True})[:-4],  # truncated
        js_encode(klaro_value({"matomo": True})),  # double-encoded
        klaro_value([True]),  # type: ignore[arg-type]
        "true",
        "",
    ],
)
def test_klaro_malformed(raw: str) -> None:
    assert klaro.parse(raw, KLARO_SERVICES) is None


# --- Cookiebot ----------------------------------------------------------------------------------

STAMP = "-1x9FqM2ZfKt3n8Ue+0bXwq1Vd/2kLr4h7Q9cQm+pWzBn1sA4Yc8dQ=="


def cookiebot_value(**fields: str) -> str:
    values = {
        "stamp": f"'{STAMP}'",
        "necessary": "true",
        "preferences": "false",
        "statistics": "true",
        "marketing": "false",
        "method": "'explicit'",
        "ver": "1",
        "utc": str(NOW),
        "region": "'nl'",
    }
    values.update(fields)
    literal = "{" + ",".join(f"{k}:{v}" for k, v in values.items() if v) + "}"
    return js_encode(literal)


def test_cookiebot_explicit() -> None:
    assert cookiebot.parse(cookiebot_value()) == Consent(
        categories_granted=frozenset({NECESSARY, ANALYTICS}),
        categories_denied=frozenset({PREFERENCES, MARKETING}),
        consent_id=STAMP,
        revision=1,
        given_ms=NOW,
        updated_ms=NOW,
        expires_ms=None,
        explicit=True,
    )


def test_cookiebot_the_exact_cookie_text() -> None:
    # As it appears in Cookie headers: braces and colons as they are; quotes, commas and the stamp's
    # '+' '/' '=' percent-encoded. A fully encoded value reads the same.
    raw = (
        "{stamp:%27-1x9FqM2ZfKt3n8Ue%2B0bXwq1Vd%2F2kLr4h7Q9cQm%2BpWzBn1sA4Yc8dQ%3D%3D%27%2Cnecessary:true"
        "%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:1"
        "%2Cutc:1764410000000%2Cregion:%27nl%27}"
    )
    assert cookiebot.parse(raw) == cookiebot.parse(cookiebot_value()) == cookiebot.parse(quote(unquote(raw), safe=""))
    assert cookiebot.parse(raw) is not None


def test_cookiebot_not_consent() -> None:
    assert cookiebot.parse("-1") is None  # outside the targeted region
    assert cookiebot.parse(cookiebot_value(method="'unknown'")) is None
    assert cookiebot.parse(cookiebot_value(stamp="'-1'")) is None


@pytest.mark.parametrize("method", ["'implied'", ""])
def test_cookiebot_implied_or_without_method_is_not_explicit(method: str) -> None:
    consent = cookiebot.parse(cookiebot_value(method=method))
    assert consent is not None
    assert (consent.consent_id, consent.explicit) == (STAMP, False)


def test_cookiebot_all_categories_and_missing_ones() -> None:
    everything = cookiebot.parse(cookiebot_value(preferences="true", marketing="true"))
    assert everything is not None
    assert everything.categories_granted == frozenset({NECESSARY, PREFERENCES, ANALYTICS, MARKETING})
    no_statistics = cookiebot.parse(cookiebot_value(statistics=""))
    assert no_statistics is not None
    assert ANALYTICS in no_statistics.categories_denied
    quoted = cookiebot.parse(cookiebot_value(statistics="'true'"))  # a string is not a boolean
    assert quoted is not None
    assert ANALYTICS in quoted.categories_denied


def test_cookiebot_json_is_a_literal_too() -> None:
    consent = cookiebot.parse(compact({"stamp": STAMP, "necessary": True, "statistics": True, "method": "explicit"}))
    assert consent is not None
    assert (consent.revision, consent.given_ms) == (None, None)


def test_cookiebot_revision_is_ver() -> None:
    renewed = cookiebot.parse(cookiebot_value(ver="3"))
    assert renewed is not None
    assert renewed.revision == 3


def test_cookiebot_tolerates_spaces_quoted_keys_and_extra_fields() -> None:
    literal = (
        "{ 'stamp' : '" + STAMP + "' , necessary:true, preferences:false, statistics:true, marketing:false,"
        " method:'explicit', ver:1, utc:" + str(NOW) + ", iab2:'', gacm:'', region:\"nl\", score:0.5 }"
    )
    consent = cookiebot.parse(js_encode(literal))
    assert consent is not None
    assert ANALYTICS in consent.categories_granted


@pytest.mark.parametrize(
    "raw",
    [
        cookiebot_value()[:-3],  # truncated
        cookiebot_value()[:-12],
        js_encode(cookiebot_value()),  # double-encoded
        cookiebot_value(necessary="true,necessary:false"),  # a duplicate key
        cookiebot_value(statistics="!0"),  # JavaScript, but not a literal we read
        cookiebot_value(statistics="{a:1}"),
        cookiebot_value(statistics="[true]"),
        cookiebot_value(stamp="'a\\'b'"),
        cookiebot_value(ver="'1'"),
        cookiebot_value(utc="-5"),
        cookiebot_value(stamp=""),
        js_encode("{stamp:'x'}trailing"),
        "",
        "%7B%7D",
    ],
)
def test_cookiebot_malformed(raw: str) -> None:
    assert cookiebot.parse(raw) is None


# --- CookieYes ----------------------------------------------------------------------------------

CY_ID = "Y2RMNHRmUWR0dlVjTnVUQmZ1OGhQaFVXMmZGTTNCSEw"


def cookieyes_value(**changes: str) -> str:
    pairs = {
        "consentid": CY_ID,
        "consent": "yes",
        "action": "yes",
        "necessary": "yes",
        "functional": "no",
        "analytics": "yes",
        "performance": "no",
        "advertisement": "no",
        "other": "yes",
        "lastRenewedDate": str(NOW),
    }
    pairs.update(changes)
    return ",".join(f"{k}:{v}" for k, v in pairs.items() if v)


def test_cookieyes_accepted() -> None:
    assert cookieyes.parse(cookieyes_value()) == Consent(
        categories_granted=frozenset({NECESSARY, ANALYTICS}),
        categories_denied=frozenset({PREFERENCES, MARKETING}),
        consent_id=CY_ID,
        revision=NOW,
        given_ms=None,
        updated_ms=None,
        expires_ms=None,
        explicit=True,
    )


def test_cookieyes_rejected_overrides_categories() -> None:
    consent = cookieyes.parse(cookieyes_value(consent="no"))
    assert consent is not None
    assert consent.categories_granted == frozenset({NECESSARY})
    assert consent.categories_denied == frozenset({PREFERENCES, ANALYTICS, MARKETING})


def test_cookieyes_without_an_action_is_not_consent() -> None:
    assert cookieyes.parse(cookieyes_value(action="no")) is None
    assert cookieyes.parse(cookieyes_value(action="")) is None


def test_cookieyes_revision_and_encoding() -> None:
    consent = cookieyes.parse(cookieyes_value(lastRenewedDate=""))
    assert consent is not None
    assert consent.revision is None
    assert cookieyes.parse(js_encode(cookieyes_value())) == cookieyes.parse(cookieyes_value())
    assert cookieyes.parse(js_encode(js_encode(cookieyes_value()))) is None  # double-encoded


@pytest.mark.parametrize(
    "raw",
    [
        cookieyes_value()[:20],  # truncated
        cookieyes_value(consent="maybe"),
        cookieyes_value(consentid=""),
        cookieyes_value(consentid="a b"),
        cookieyes_value(lastRenewedDate="soon"),
        cookieyes_value(lastRenewedDate="²"),
        cookieyes_value() + ",analytics:yes",  # duplicate
        cookieyes_value() + ",",
        cookieyes_value() + ",x" * 100,
        "yes",
        "",
    ],
)
def test_cookieyes_malformed(raw: str) -> None:
    assert cookieyes.parse(raw) is None


def test_cookieyes_analytics_no() -> None:
    consent = cookieyes.parse(cookieyes_value(analytics="no"))
    assert consent is not None
    assert ANALYTICS in consent.categories_denied


# --- Osano cookieconsent ------------------------------------------------------------------------


def test_osano() -> None:
    allow = osano.parse("allow")
    deny = osano.parse("deny")
    assert allow is not None
    assert ANALYTICS in allow.categories_granted
    assert deny is not None
    assert ANALYTICS in deny.categories_denied
    assert deny.categories_granted == {NECESSARY}
    for value in ("dismiss", "Allow", "allow ", "", "allow;", "1"):
        assert osano.parse(value) is None, value


# --- our own cookie -----------------------------------------------------------------------------


def test_ours_through_the_adapter_interface() -> None:
    raw = encode_consent_cookie(ConsentRecord(UUID, 3, frozenset({NECESSARY, ANALYTICS}), NOW, LATER))
    assert ours.parse(raw) == Consent(
        frozenset({NECESSARY, ANALYTICS}), frozenset({PREFERENCES, MARKETING}), UUID, 3, NOW, LATER, None, True
    )
    assert ours.parse(quote(raw)) is None
    assert ours.parse(raw[:-3]) is None


# --- configuration ------------------------------------------------------------------------------


def test_default_config_reads_only_our_cookie() -> None:
    adapters = build_adapters(AdapterConfig())
    assert [(a.name, a.cookie_name) for a in adapters] == [("ccaudit", "ccaudit_consent")]


def test_config_builds_adapters_in_order_with_their_names_and_mappings() -> None:
    config = AdapterConfig(
        enabled=("klaro", "tcf", "cookiebot"),
        klaro_cookie="consents",
        klaro_services={"matomo": "analytics"},
        tcf_cookie="eupubconsent-v2",
        cookiebot_categories={"statistics": "analytics", "necessary": "necessary"},
    )
    klaro_adapter, tcf_adapter, cookiebot_adapter = build_adapters(config)
    assert (klaro_adapter.name, klaro_adapter.cookie_name) == ("klaro", "consents")
    assert tcf_adapter.cookie_name == "eupubconsent-v2"
    consent = klaro_adapter.parse(klaro_value({"matomo": True}))
    assert consent is not None
    assert consent.categories_granted == {ANALYTICS}
    bot = cookiebot_adapter.parse(cookiebot_value())
    assert bot is not None
    assert bot.categories_denied == frozenset()


def test_config_is_frozen_including_its_mappings() -> None:
    services = {"matomo": "analytics"}
    config = AdapterConfig(klaro_services=services)
    services["youtube"] = "marketing"
    assert dict(config.klaro_services) == {"matomo": "analytics"}
    with pytest.raises(TypeError):
        config.klaro_services["x"] = "y"  # type: ignore[index]
    with pytest.raises(AttributeError):
        config.enabled = ()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("config", "field"),
    [
        (AdapterConfig(enabled=("cookiebot", "onetrust")), "enabled"),
        (AdapterConfig(enabled=("tcf", "tcf")), "enabled"),
        (AdapterConfig(cache_size=0), "cache_size"),
        (AdapterConfig(klaro_cookie="klaro consent"), "klaro_cookie"),
        (AdapterConfig(tcf_cookie=""), "tcf_cookie"),
        (AdapterConfig(klaro_services={"matomo": "ana lytics"}), "klaro_services"),
        (AdapterConfig(orestbida_categories={"": "analytics"}), "orestbida_categories"),
    ],
)
def test_bad_config_names_its_field(config: AdapterConfig, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        build_adapters(config)


def test_each_adapter_instance_has_its_own_cache() -> None:
    value = klaro_value({"matomo": True})
    first = klaro.adapter(services={"matomo": "analytics"})
    second = klaro.adapter(services={"matomo": "marketing"})
    a, b = first.parse(value), second.parse(value)
    assert a is not None
    assert b is not None
    assert (a.categories_granted, b.categories_granted) == ({ANALYTICS}, {MARKETING})
    assert first.parse(value) is a
