"""IAB TCF v2.2/v2.3 TC strings (cookie name configurable, commonly ``euconsent-v2``).

A TC string is segments joined by ``.``, each base64url without padding over a big-endian bit string.
The first is the core segment; each other one starts with a 3-bit type (1 disclosed vendors, 2 allowed
vendors, 3 publisher TC). The fields read here, in order, with their widths in bits:

core       Version 6 · Created 36 (deciseconds) · LastUpdated 36 · CmpId 12 · CmpVersion 12 ·
           ConsentScreen 6 · ConsentLanguage 12 · VendorListVersion 12 · TcfPolicyVersion 6 ·
           IsServiceSpecific 1 · UseNonStandardTexts 1 · SpecialFeatureOptIns 12 · PurposesConsent 24 ·
           PurposesLITransparency 24 · PurposeOneTreatment 1 · PublisherCC 12 · vendor consents ·
           vendor legitimate interests · publisher restrictions
publisher  SegmentType 3 · PubPurposesConsent 24 · PubPurposesLITransparency 24 · NumCustomPurposes 6 ·
           CustomPurposesConsent n · CustomPurposesLITransparency n

Analytics is our own processing, so it rests on the *publisher's* purposes, never the vendors': it is
granted only with publisher consent to purpose 1 (store/access information on a device) and to purpose
8 (measure content performance) or 9 (understand audiences through statistics). Legitimate-interest
bits never count: analytics cookies need consent. Not a consent (None): a version other than 2, a
policy version below 4 (TCF before v2.2), no publisher segment, a segment of unknown type, any
truncation, or any character outside base64url and ``.``.

The vendor sections are walked only to check the core segment is complete; their contents are not kept.
A TC string has no consent id and no policy revision of the site.
"""

from __future__ import annotations

import base64
import binascii
import re

from ccaudit.consent.adapters.base import (
    ANALYTICS,
    DEFAULT_CACHE_SIZE,
    NECESSARY,
    CachedAdapter,
    Consent,
)

NAME = "tcf"
COOKIE = "euconsent-v2"
MIN_POLICY_VERSION = 4  # TCF v2.2; v2.3 is 5
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_DISCLOSED_VENDORS, _ALLOWED_VENDORS, _PUBLISHER_TC = 1, 2, 3
_PURPOSE_BITS = 24
_CORE_FIXED_BITS = 213  # Version to PublisherCC


class _Truncated(Exception):
    """A field runs past the end of its segment."""


class _Bits:
    """A big-endian bit reader over one decoded segment."""

    __slots__ = ("_data", "_size", "pos")

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size, self.pos = data, size, 0

    def read(self, width: int) -> int:
        end = self.pos + width
        if end > self._size:
            raise _Truncated
        first, last = self.pos >> 3, (end + 7) >> 3
        # Only the bytes the field spans: cost proportional to the field, not to the segment.
        chunk = int.from_bytes(self._data[first:last], "big")
        self.pos = end
        return (chunk >> ((last << 3) - end)) & ((1 << width) - 1)

    def skip(self, width: int) -> None:
        if self.pos + width > self._size:
            raise _Truncated
        self.pos += width


def _segment_bits(segment: str) -> _Bits | None:
    if not _SEGMENT.fullmatch(segment):
        return None
    # Padding with "A" (six zero bits) rather than "=" keeps every bit of the last character: encoders
    # stop at a 6-bit boundary, and a field may end there.
    try:
        data = base64.urlsafe_b64decode(segment + "A" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        return None
    return _Bits(data, 6 * len(segment))


def _skip_vendors(bits: _Bits) -> None:
    head = bits.read(16 + 1)  # MaxVendorId, IsRangeEncoding
    if head & 1 == 0:  # a bit field, one bit per vendor
        bits.skip(head >> 1)
        return
    _skip_ranges(bits, bits.read(12))


def _skip_ranges(bits: _Bits, entries: int) -> None:
    # Each entry consumes bits, so a count larger than the data ends in _Truncated, not a long loop.
    for _ in range(entries):
        if bits.read(1 + 16) >> 16:  # IsARange, StartOrOnlyVendorId
            bits.skip(16)  # EndVendorId


def _skip_restrictions(bits: _Bits) -> None:
    for _ in range(bits.read(12)):
        _skip_ranges(bits, bits.read(6 + 2 + 12) & 0xFFF)  # PurposeId, RestrictionType, NumEntries


def _field(fixed: int, offset: int, width: int) -> int:
    return (fixed >> (_CORE_FIXED_BITS - offset - width)) & ((1 << width) - 1)


def _has(purposes: int, purpose: int) -> bool:
    return bool(purposes >> (_PURPOSE_BITS - purpose) & 1)


def parse(raw: str) -> Consent | None:
    """The consent in a TC string."""
    segments = raw.split(".")
    core = _segment_bits(segments[0])
    if core is None:
        return None
    publisher_consents: int | None = None
    try:
        # The fixed-width fields in one read (a few small ints are cheaper than a read per field).
        fixed = core.read(_CORE_FIXED_BITS)
        if _field(fixed, 0, 6) != 2 or _field(fixed, 132, 6) < MIN_POLICY_VERSION:  # Version, TcfPolicyVersion
            return None
        created, last_updated = _field(fixed, 6, 36), _field(fixed, 42, 36)
        # The rest (CMP, language, vendor list, the vendors' purposes, publisher country) is not ours to use.
        _skip_vendors(core)  # consents
        _skip_vendors(core)  # legitimate interests
        _skip_restrictions(core)
        for segment in segments[1:]:
            bits = _segment_bits(segment)
            if bits is None:
                return None
            kind = bits.read(3)
            if kind == _PUBLISHER_TC:
                if publisher_consents is not None:  # two publisher segments: which one is true?
                    return None
                # PubPurposesConsent, PubPurposesLITransparency (never counts), NumCustomPurposes
                fields = bits.read(2 * _PURPOSE_BITS + 6)
                publisher_consents = fields >> (_PURPOSE_BITS + 6)
                bits.skip(2 * (fields & 0x3F))  # custom purposes: consents and legitimate interests
            elif kind not in (_DISCLOSED_VENDORS, _ALLOWED_VENDORS):
                return None
    except _Truncated:
        return None
    if publisher_consents is None:
        return None
    analytics = _has(publisher_consents, 1) and (_has(publisher_consents, 8) or _has(publisher_consents, 9))
    return Consent(
        categories_granted=frozenset({NECESSARY, ANALYTICS}) if analytics else frozenset({NECESSARY}),
        categories_denied=frozenset() if analytics else frozenset({ANALYTICS}),
        consent_id="",
        revision=None,
        given_ms=created * 100,
        updated_ms=last_updated * 100,
        expires_ms=None,
        explicit=True,
    )


def adapter(cookie_name: str = COOKIE, cache_size: int = DEFAULT_CACHE_SIZE) -> CachedAdapter:
    """An adapter for TC strings in cookie ``cookie_name``."""
    return CachedAdapter(NAME, cookie_name, parse, cache_size)
