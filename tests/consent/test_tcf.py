"""TCF TC strings: a hand-built string checked bit by bit, one written by a real CMP, and each rule."""

# fixed dates: TCF strings are parsed against an injected clock; no engine or TTL reads them.

from __future__ import annotations

import pytest

from ccaudit.consent.adapters import ANALYTICS, NECESSARY, tcf
from tests.consent.tcfstrings import Core, decode_bits, disclosed_vendors_bits, encode, publisher_bits, tc_string

# Every field of a core segment, written out. Created = LastUpdated = 2025-11-29T09:53:20Z =
# 1764410000 s = 17644100000 deciseconds.
HAND_BUILT_CORE = (
    "000010"  # Version 2
    "010000011011101010111001100110100000"  # Created 17644100000 ds
    "010000011011101010111001100110100000"  # LastUpdated, the same
    "000100101100"  # CmpId 300
    "000000000010"  # CmpVersion 2
    "000001"  # ConsentScreen 1
    "001101"  # ConsentLanguage "NL": N = 13 (A = 0)...
    "001011"  # ...L = 11
    "000001111000"  # VendorListVersion 120
    "000101"  # TcfPolicyVersion 5 (TCF v2.3)
    "1"  # IsServiceSpecific
    "0"  # UseNonStandardTexts
    "000000000000"  # SpecialFeatureOptIns: none
    "100000011000000000000000"  # PurposesConsent 1, 8, 9 (the vendors' side: must not count for us)
    "010000100000000000000000"  # PurposesLITransparency 2, 7
    "0"  # PurposeOneTreatment
    "001101"  # PublisherCC "NL": N...
    "001011"  # ...L
    "0000000000000011"  # vendor consents: MaxVendorId 3
    "0"  # IsRangeEncoding 0: a bit field follows
    "101"  # vendors 1 and 3
    "0000000000000000"  # vendor legitimate interests: MaxVendorId 0
    "0"  # an empty bit field
    "000000000000"  # NumPubRestrictions 0
)
HAND_BUILT_DISCLOSED = (
    "001"  # SegmentType 1: disclosed vendors
    "0000000000000011"  # MaxVendorId 3
    "0"  # a bit field
    "101"  # vendors 1 and 3
)
HAND_BUILT_PUBLISHER = (
    "011"  # SegmentType 3: publisher TC
    "100000010000000000000000"  # PubPurposesConsent 1 and 8
    "000000001000000000000000"  # PubPurposesLITransparency 9 (never counts)
    "000000"  # NumCustomPurposes 0
)
# The three segments padded to whole bytes and base64url-encoded without '=', joined by '.'.
HAND_BUILT = "CQbq5mgQbq5mgEsACBNLB4FgAIGAAEIAABpYABqAAAAA.IABq.cCAAABAAAAA"

# A TC string as a CMP wrote it in the wild (CmpId 7, TcfPolicyVersion 5): read by hand from its bits,
# Version 2, Created 17011296000 ds (2023-11-28), LastUpdated 17349120000 ds (2024-12-23); its publisher
# segment "f_wACHwAAAAA" is 011 · consents 1-11 · legitimate interests 2, 7-11 · no custom purposes.
REAL_V23 = (
    "CP188cAQKFpAAAHABBENBSFsAP_gAEPgAAiQKqNX_H__bW9r8X73aft0eY1P9_j77uQxBhfJE-4FzLvW_JwXx2ExNA36tqIKmRIEu3bBIQ"
    "NlHJHUTVigaogVryHMak2cpTNKJ6BkiFMRM2dYCF5vm4tj-QKY5_r993dx2D-t_dv83dzyz81Hn3f5_2e0eLCdQ5-tDfv9bROb-9IPd_78v4"
    "v8_l_rk2_eT1n_tevr7D_-ft8__XW_9_fff_9Pn_-uB_-_3_vf_EFUwCTDQqIA-wJCQg0DCKBACoKwgIoFAQAAJA0QEAJgwKdgYALrCRACA"
    "FAAMEAIAAQZAAgAAAgAQiACQAoEAAEAgUAAYAEAwEABAwAAgAsBAIAAQHQMUwIIFAsIEjMioUwIQoEggJbKhBICgQVwhCLPAIgERMFAAgAA"
    "AVgACAsFgcSSAlQkECXUG0AABAAgFEIFQgk9MAAwJmy1B4MG0ZWmAYPmCRDTAMgCIIyEAAAA.f_wACHwAAAAA"
)
# The same CMP's TCF v2.0 string (TcfPolicyVersion 2), core only.
REAL_V20 = "COwAdDhOwAdDhN4ABAENAPCgAAQAAv___wAAAFP_AAp_4AI6ACACAA"

GRANTED = frozenset({NECESSARY, ANALYTICS})


def test_the_hand_built_string_is_what_the_encoder_writes_and_grants_analytics() -> None:
    core = Core(purposes_consent=(1, 8, 9), purposes_li=(2, 7), vendor_consents=(1, 3))
    assert core.bits() == HAND_BUILT_CORE
    assert disclosed_vendors_bits((1, 3)) == HAND_BUILT_DISCLOSED
    assert publisher_bits((1, 8), (9,)) == HAND_BUILT_PUBLISHER
    assert ".".join(encode(b) for b in (HAND_BUILT_CORE, HAND_BUILT_DISCLOSED, HAND_BUILT_PUBLISHER)) == HAND_BUILT
    assert tc_string(core, HAND_BUILT_DISCLOSED, HAND_BUILT_PUBLISHER) == HAND_BUILT
    consent = tcf.parse(HAND_BUILT)
    assert consent is not None
    assert consent.categories_granted == GRANTED
    assert (consent.given_ms, consent.updated_ms) == (1_764_410_000_000, 1_764_410_000_000)
    assert (consent.consent_id, consent.revision, consent.expires_ms, consent.explicit) == ("", None, None, True)


def test_a_real_v23_string() -> None:
    bits = decode_bits(REAL_V23.split(".")[0])
    assert (int(bits[0:6], 2), int(bits[78:90], 2), int(bits[132:138], 2)) == (2, 7, 5)
    consent = tcf.parse(REAL_V23)
    assert consent is not None
    assert consent.categories_granted == GRANTED
    assert (consent.given_ms, consent.updated_ms) == (1_701_129_600_000, 1_734_912_000_000)


def test_a_real_v20_string_is_not_a_consent() -> None:
    assert int(decode_bits(REAL_V20)[132:138], 2) == 2
    assert tcf.parse(REAL_V20) is None
    assert tcf.parse(REAL_V20 + "." + encode(publisher_bits((1, 8, 9)))) is None


@pytest.mark.parametrize(
    ("consents", "li", "granted"),
    [
        ((1, 8), (), True),
        ((1, 9), (), True),
        ((1, 8, 9), (), True),
        ((1,), (), False),
        ((8, 9), (), False),  # no storage consent (purpose 1)
        ((1, 7), (), False),  # advertising measurement is not ours
        ((1,), (8, 9), False),  # legitimate interest never counts
        ((), (1, 8, 9), False),
        ((), (), False),
        (tuple(range(1, 25)), (), True),
    ],
)
def test_publisher_purposes_decide(consents: tuple[int, ...], li: tuple[int, ...], granted: bool) -> None:
    consent = tcf.parse(tc_string(Core(), disclosed_vendors_bits(), publisher_bits(consents, li)))
    assert consent is not None
    assert (ANALYTICS in consent.categories_granted) is granted
    assert (ANALYTICS in consent.categories_denied) is not granted


def test_vendor_purposes_never_count() -> None:
    core = Core(purposes_consent=tuple(range(1, 25)), purposes_li=tuple(range(1, 25)))
    consent = tcf.parse(tc_string(core, publisher_bits(())))
    assert consent is not None
    assert ANALYTICS not in consent.categories_granted


def test_no_publisher_segment_is_no_consent() -> None:
    core = Core(purposes_consent=(1, 8, 9))
    assert tcf.parse(tc_string(core)) is None
    assert tcf.parse(tc_string(core, disclosed_vendors_bits())) is None


@pytest.mark.parametrize(("policy", "ok"), [(2, False), (3, False), (4, True), (5, True), (6, True)])
def test_policy_versions_below_4_are_refused(policy: int, ok: bool) -> None:
    raw = tc_string(Core(policy_version=policy), publisher_bits((1, 8)))
    assert (tcf.parse(raw) is not None) is ok


@pytest.mark.parametrize("version", [0, 1, 3, 63])
def test_other_versions_are_refused(version: int) -> None:
    assert tcf.parse(tc_string(Core(version=version), publisher_bits((1, 8)))) is None


@pytest.mark.parametrize(
    "core",
    [
        Core(vendor_consents=(2, 3, 4, 10, 700), vendor_li=(5, 6), ranges=True),
        Core(vendor_consents=tuple(range(1, 1200, 3))),  # a long bit field
        Core(restrictions=((2, 1, (10, 20)), (7, 0, (3,)))),
        Core(special_features=(1, 2), purpose_one_treatment=True, publisher_cc="DE", consent_language="FR"),
    ],
)
def test_vendor_sections_of_every_shape_are_skipped(core: Core) -> None:
    consent = tcf.parse(tc_string(core, disclosed_vendors_bits(), publisher_bits((1, 9))))
    assert consent is not None
    assert consent.categories_granted == GRANTED


def test_custom_purposes_and_the_segment_order_do_not_matter() -> None:
    publisher = publisher_bits((1, 8), custom_consents=(1, 3), custom_li=(2,), num_custom=5)
    assert tcf.parse(tc_string(Core(), publisher, disclosed_vendors_bits())) is not None


def test_truncation_anywhere_is_no_consent() -> None:
    core = Core(vendor_consents=tuple(range(1, 400, 2)), restrictions=((2, 1, (10, 20)),))
    whole = tc_string(core, disclosed_vendors_bits(), publisher_bits((1, 8), num_custom=4, custom_consents=(1,)))
    assert tcf.parse(whole) is not None
    core_segment, disclosed, publisher = whole.split(".")
    for cut in range(1, len(core_segment) - 1):  # every shorter core: its vendor sections run out
        assert tcf.parse(".".join([core_segment[:cut], disclosed, publisher])) is None, cut
    short_publisher = encode(publisher_bits((1, 8))[:40])
    assert tcf.parse(".".join([core_segment, disclosed, short_publisher])) is None
    assert tcf.parse(core_segment + "." + disclosed + ".") is None  # an empty last segment


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s.replace("-", "+").replace("_", "/") + "+/",  # standard base64 is not base64url
        lambda s: s + "=",  # nor is padding
        lambda s: '"' + s,
        lambda s: s.replace(".", "%2E"),  # URI-encoded
        lambda s: s + "." + encode(publisher_bits((1, 8))),  # two publisher segments
        lambda s: s + "." + encode("100" + "0" * 21),  # a segment of an unknown type
        lambda s: s + "." + encode("000" + "0" * 21),  # a second core
        lambda s: "",
        lambda s: ".",
    ],
)
def test_malformed_strings_are_no_consent(mangle: object) -> None:
    raw = tc_string(Core(), publisher_bits((1, 8)))
    assert callable(mangle)
    assert tcf.parse(mangle(raw)) is None


def test_an_oversized_string_is_refused_by_the_adapter() -> None:
    core = Core(vendor_consents=tuple(range(1, 4000)))  # a bit field of 4000 bits: fine on its own
    long = tc_string(core, publisher_bits((1, 8)))
    adapter = tcf.adapter()
    assert adapter.parse(long) is not None
    huge = tc_string(Core(vendor_consents=(30000,)), publisher_bits((1, 8)))  # ~5000 characters
    assert len(huge) > 4096
    assert tcf.parse(huge) is not None  # the decoder could read it...
    assert adapter.parse(huge) is None  # ...but no browser keeps such a cookie
