"""A TC string encoder for tests: builds IAB TCF v2 strings field by field, as a CMP writes them.

It lives in the tests on purpose: ccaudit only ever reads TC strings. Bits are built as text ("0101…")
so a test can show, and a reader can check, every field.
"""

# fixed dates: TCF strings are parsed against an injected clock; no engine or TTL reads them.

from __future__ import annotations

import base64
from dataclasses import dataclass, field


def uint(value: int, width: int) -> str:
    assert 0 <= value < 2**width, (value, width)
    return format(value, f"0{width}b")


def letters(code: str) -> str:
    """Two letters as two 6-bit numbers, A = 0 (ConsentLanguage, PublisherCC)."""
    return "".join(uint(ord(c) - ord("A"), 6) for c in code)


def bitfield(ids: tuple[int, ...] | list[int], width: int) -> str:
    """Bit i-1 set for each id i (purposes, special features, vendors)."""
    return "".join("1" if i in ids else "0" for i in range(1, width + 1))


def vendor_section(vendors: tuple[int, ...], ranges: bool = False) -> str:
    max_id = max(vendors, default=0)
    if not ranges:
        return uint(max_id, 16) + "0" + bitfield(vendors, max_id)
    runs: list[tuple[int, int]] = []
    for v in sorted(vendors):
        if runs and runs[-1][1] == v - 1:
            runs[-1] = (runs[-1][0], v)
        else:
            runs.append((v, v))
    entries = "".join("0" + uint(a, 16) if a == b else "1" + uint(a, 16) + uint(b, 16) for a, b in runs)
    return uint(max_id, 16) + "1" + uint(len(runs), 12) + entries


@dataclass
class Core:
    version: int = 2
    created_ds: int = 17_644_100_000  # deciseconds: 2025-11-29T09:53:20Z
    last_updated_ds: int = 17_644_100_000
    cmp_id: int = 300
    cmp_version: int = 2
    consent_screen: int = 1
    consent_language: str = "NL"
    vendor_list_version: int = 120
    policy_version: int = 5
    is_service_specific: bool = True
    use_non_standard_texts: bool = False
    special_features: tuple[int, ...] = ()
    purposes_consent: tuple[int, ...] = ()
    purposes_li: tuple[int, ...] = ()
    purpose_one_treatment: bool = False
    publisher_cc: str = "NL"
    vendor_consents: tuple[int, ...] = ()
    vendor_li: tuple[int, ...] = ()
    ranges: bool = False
    # (purpose id, restriction type, vendor ids)
    restrictions: tuple[tuple[int, int, tuple[int, ...]], ...] = field(default=())

    def bits(self) -> str:
        restrictions = uint(len(self.restrictions), 12) + "".join(
            uint(p, 6) + uint(t, 2) + uint(len(vs), 12) + "".join("0" + uint(v, 16) for v in vs)
            for p, t, vs in self.restrictions
        )
        return (
            uint(self.version, 6)
            + uint(self.created_ds, 36)
            + uint(self.last_updated_ds, 36)
            + uint(self.cmp_id, 12)
            + uint(self.cmp_version, 12)
            + uint(self.consent_screen, 6)
            + letters(self.consent_language)
            + uint(self.vendor_list_version, 12)
            + uint(self.policy_version, 6)
            + uint(int(self.is_service_specific), 1)
            + uint(int(self.use_non_standard_texts), 1)
            + bitfield(self.special_features, 12)
            + bitfield(self.purposes_consent, 24)
            + bitfield(self.purposes_li, 24)
            + uint(int(self.purpose_one_treatment), 1)
            + letters(self.publisher_cc)
            + vendor_section(self.vendor_consents, self.ranges)
            + vendor_section(self.vendor_li, self.ranges)
            + restrictions
        )


def publisher_bits(
    consents: tuple[int, ...] = (),
    li: tuple[int, ...] = (),
    custom_consents: tuple[int, ...] = (),
    custom_li: tuple[int, ...] = (),
    num_custom: int = 0,
) -> str:
    return (
        uint(3, 3)
        + bitfield(consents, 24)
        + bitfield(li, 24)
        + uint(num_custom, 6)
        + bitfield(custom_consents, num_custom)
        + bitfield(custom_li, num_custom)
    )


def disclosed_vendors_bits(vendors: tuple[int, ...] = (1, 2, 755)) -> str:
    return uint(1, 3) + vendor_section(vendors)


def encode(bits: str) -> str:
    """base64url without padding over ``bits`` padded with zeros to a whole byte, as the spec asks."""
    bits += "0" * (-len(bits) % 8)
    data = int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def decode_bits(segment: str) -> str:
    """The bits of one segment, for tests that check fields by hand."""
    return "".join(
        uint("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(c), 6) for c in segment
    )


def tc_string(core: Core | None = None, *segments: str) -> str:
    """A TC string: the core segment, then each further segment (given as bits), joined with '.'."""
    return ".".join([encode((core or Core()).bits()), *(encode(s) for s in segments)])
