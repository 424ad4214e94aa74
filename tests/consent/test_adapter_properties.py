"""Properties of every adapter over generated input: never raises, returns immutable values, caches."""

from __future__ import annotations

import json
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from ccaudit.consent.adapters import ADAPTER_NAMES, ANALYTICS, AdapterConfig, CachedAdapter, Consent, build_adapters
from ccaudit.consent.adapters import tcf as tcf_adapter
from tests.consent.tcfstrings import Core, disclosed_vendors_bits, encode, publisher_bits, tc_string

ADAPTERS = build_adapters(
    AdapterConfig(
        enabled=ADAPTER_NAMES,
        klaro_services={"matomo": "analytics", "youtube": "marketing"},
        orestbida_categories={"analytics": "analytics", "statistics": "analytics", "necessary": "necessary"},
    )
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=20,
)
known_keys = st.sampled_from(
    ["categories", "level", "revision", "consentId", "consent_uuid", "consentTimestamp", "consent_date",
     "lastConsentTimestamp", "last_consent_update", "expirationTime", "matomo", "youtube", "data"]
)  # fmt: skip
json_records = st.dictionaries(known_keys, json_values, max_size=8).map(lambda d: json.dumps(d))
js_literals = st.text(alphabet="{}:,'\" \\tru efalsn0123456789.-stampmethodexplicitimpliedverutc", max_size=120)
pairs = st.text(alphabet="consetid:yaction,nlr0123456789%", max_size=120)
base64ish = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", max_size=300)
anything = st.one_of(
    st.text(max_size=300),
    json_records,
    json_records.map(lambda s: quote(s, safe="")),
    js_literals,
    js_literals.map(lambda s: quote(s, safe="")),
    pairs,
    base64ish,
    st.sampled_from(["-1", "allow", "deny", "dismiss", "", "%", "%%", "%7B", "{", "[" * 2000]),
)


def check(adapter: CachedAdapter, raw: str) -> None:
    consent = adapter.parse(raw)
    if consent is not None:
        assert isinstance(consent, Consent)
        assert isinstance(consent.categories_granted, frozenset)
        assert isinstance(consent.categories_denied, frozenset)
        assert not consent.categories_granted & consent.categories_denied
        for ms in (consent.given_ms, consent.updated_ms, consent.expires_ms):
            assert ms is None or ms >= 0
    assert adapter.parse(raw) is consent  # cached: the same object back


@settings(max_examples=400)
@given(anything)
def test_no_adapter_raises_on_any_value(raw: str) -> None:
    for adapter in ADAPTERS:
        check(adapter, raw)


@given(st.binary(max_size=200), st.integers(min_value=0, max_value=3))
def test_no_adapter_raises_on_bytes_decoded_any_way(data: bytes, how: int) -> None:
    raw = [data.decode("latin-1"), quote(data, safe=""), data.decode("utf-8", "replace"), data.hex()][how]
    for adapter in ADAPTERS:
        check(adapter, raw)


@given(st.text(alphabet="01", max_size=600), st.lists(st.text(alphabet="01", max_size=120), max_size=3))
def test_tcf_never_raises_on_any_bits(core: str, segments: list[str]) -> None:
    raw = ".".join([encode(core), *(encode(s) for s in segments)])
    consent = tcf_adapter.parse(raw)
    assert consent is None or isinstance(consent, Consent)


purposes = st.lists(st.integers(min_value=1, max_value=24), max_size=24, unique=True).map(tuple)


@given(
    purposes,
    purposes,
    purposes,
    st.lists(st.integers(min_value=1, max_value=3000), max_size=40, unique=True).map(tuple),
    st.booleans(),
    st.integers(min_value=0, max_value=2**36 - 1),
)
def test_tcf_analytics_is_publisher_consent_to_1_and_8_or_9(
    consents: tuple[int, ...],
    li: tuple[int, ...],
    vendor_purposes: tuple[int, ...],
    vendors: tuple[int, ...],
    ranges: bool,
    created: int,
) -> None:
    core = Core(
        created_ds=created,
        purposes_consent=vendor_purposes,
        purposes_li=vendor_purposes,
        vendor_consents=vendors,
        vendor_li=vendors[:5],
        ranges=ranges,
    )
    consent = tcf_adapter.parse(tc_string(core, disclosed_vendors_bits(), publisher_bits(consents, li)))
    assert consent is not None
    expected = 1 in consents and (8 in consents or 9 in consents)
    assert (ANALYTICS in consent.categories_granted) is expected
    assert consent.given_ms == created * 100


@given(st.text(max_size=60))
def test_every_prefix_and_mutation_of_a_real_value_is_safe(noise: str) -> None:
    real = [
        quote(
            # fixed date: parsed for safety only, the outcome is not checked
            json.dumps({"categories": ["analytics"], "consentId": "abc", "consentTimestamp": "2025-01-01T00:00:00Z"})
        ),
        "%7Bstamp%3A%27x%27%2Cnecessary%3Atrue%2Cstatistics%3Atrue%2Cmethod%3A%27explicit%27%7D",
        "consentid:abc,consent:yes,action:yes,analytics:yes",
        tc_string(Core(), publisher_bits((1, 8))),
    ]
    for value in real:
        cut = len(noise) % (len(value) + 1)
        for raw in (value[:cut], value[:cut] + noise + value[cut:], noise + value):
            for adapter in ADAPTERS:
                check(adapter, raw)
