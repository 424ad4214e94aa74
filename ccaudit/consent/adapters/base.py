"""What every consent-manager adapter returns, the protocol it follows, and the helpers they share.

An adapter reads one consent manager's cookie value (as it appears in the Cookie header) and returns a
:class:`Consent` in our categories, or None when the value is not a consent at all (absent, malformed,
dismissed, outside the manager's region...). A consent the visitor is not shown to have given by acting
comes back with ``explicit=False``. Whether a consent counts (explicit enough, current enough, of the
right revision) or grants analytics is *not* decided here: the decision does that, with the clock and
the configuration, and it is never cached. The parse is: the same visitor sends the same value on every
request, so each adapter keeps a bounded LRU of parses by raw value, and therefore returns only
immutable values.

Adapters never raise, whatever the input: the value comes from the internet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import NamedTuple, Protocol

from ccaudit.consent.cookie import MAX_COOKIE_VALUE

NECESSARY = "necessary"
ANALYTICS = "analytics"
PREFERENCES = "preferences"
MARKETING = "marketing"
OUR_CATEGORIES = frozenset({NECESSARY, ANALYTICS, PREFERENCES, MARKETING})

DEFAULT_CACHE_SIZE = 4096

_MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: beyond it a "timestamp" is garbage
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
# One character class, no alternation or nesting: linear whatever the input.
_ID = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")
_CATEGORY = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class Consent(NamedTuple):
    """A consent manager's record of one visitor's choice, in our categories.

    ``categories_denied`` holds the categories the record refuses (explicitly, or by leaving them out of
    a list of accepted ones); a category in neither set is one the manager says nothing about.
    ``consent_id`` is the manager's pseudonymous id of this consent ("" when it keeps none).
    ``revision`` is the manager's policy revision (None when it keeps none; its numbering is the
    manager's own). Times are epoch milliseconds, None when the manager does not record them.
    ``explicit`` is False when the manager records the consent as implied (assumed from browsing on) or
    does not say whether the visitor acted; the decision counts neither (reason ``implied``).

    A NamedTuple like the cookie's ``ConsentRecord``: immutable, and built several times faster than a
    frozen dataclass, which matters on a first parse.
    """

    categories_granted: frozenset[str]
    categories_denied: frozenset[str]
    consent_id: str
    revision: int | None
    given_ms: int | None
    updated_ms: int | None
    expires_ms: int | None
    explicit: bool


class ConsentAdapter(Protocol):
    """One consent manager's cookie: where it is and how to read it."""

    @property
    def name(self) -> str:
        """The adapter's name in configuration (``cookiebot``, ``tcf``...)."""
        ...

    @property
    def cookie_name(self) -> str:
        """The cookie the manager writes."""
        ...

    def parse(self, raw: str) -> Consent | None:
        """The consent in a raw cookie value, or None if it is not one. Never raises; cached."""
        ...


class CachedAdapter:
    """A :class:`ConsentAdapter` around a pure parse function, with a bounded LRU per instance.

    Each instance has its own cache because the parse depends on the instance's configuration (its
    category mapping). Oversized values are refused before the cache, so they cannot fill it.
    """

    __slots__ = ("_cached", "_cookie_name", "_name")

    def __init__(
        self,
        name: str,
        cookie_name: str,
        parse: Callable[[str], Consent | None],
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self._name = name
        self._cookie_name = cookie_name
        self._cached = lru_cache(maxsize=cache_size)(parse)

    @property
    def name(self) -> str:
        return self._name

    @property
    def cookie_name(self) -> str:
        return self._cookie_name

    def parse(self, raw: str) -> Consent | None:
        """The consent in ``raw``, or None if it is not one. Never raises; cached by ``raw``."""
        if len(raw) > MAX_COOKIE_VALUE:  # also bounds the memory a cache can hold (entries x this)
            return None
        return self._cached(raw)

    def cache_clear(self) -> None:
        """Forget every cached parse (tests and benchmarks)."""
        self._cached.cache_clear()

    def __repr__(self) -> str:
        return f"CachedAdapter({self._name!r}, cookie_name={self._cookie_name!r})"


def valid_id(value: object) -> str | None:
    """``value`` if it is a plausible consent id (printable, no separators, at most 128 chars)."""
    return value if isinstance(value, str) and _ID.fullmatch(value) else None


def valid_category(value: object) -> str | None:
    """``value`` if it is a plausible category or service name."""
    return value if isinstance(value, str) and _CATEGORY.fullmatch(value) else None


def epoch_ms(value: object) -> int | None:
    """``value`` if it is an integer epoch-milliseconds timestamp between 1970 and 9999."""
    # bool is an int in Python; a JSON true is not a timestamp.
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_MS:
        return value
    return None


def revision_number(value: object) -> int | None:
    """``value`` if it is a non-negative integer revision (a JSON float like 2.0 is not)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63:
        return value
    return None


def iso_ms(value: object) -> int | None:
    """Epoch milliseconds of an ISO 8601 timestamp with a zone (what ``Date.toISOString()`` writes)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # a local time of an unknown zone is no time at all
            return None
        return epoch_ms((moment - _EPOCH) // _MS)
    except (ValueError, OverflowError):
        return None


def map_choices(choices: Mapping[str, bool], mapping: Mapping[str, str]) -> tuple[frozenset[str], frozenset[str]]:
    """Our (granted, denied) categories from a manager's per-category yes/no choices.

    Several of the manager's categories may map to one of ours; ours is granted only if every one of
    them that the record mentions says yes, and denied as soon as one says no. Unmapped names are
    ignored; a mapped name the record does not mention leaves ours unsaid.
    """
    granted: set[str] = set()
    denied: set[str] = set()
    for theirs, ours in mapping.items():
        choice = choices.get(theirs)
        if choice is True:
            granted.add(ours)
        elif choice is False:
            denied.add(ours)
    return frozenset(granted - denied), frozenset(denied)


def map_accepted(accepted: Iterable[str], mapping: Mapping[str, str] | None) -> frozenset[str]:
    """Our categories for a list of the manager's accepted names (``mapping`` None: the same names)."""
    if mapping is None:
        return frozenset(accepted)
    return frozenset(mapping[name] for name in accepted if name in mapping)
