"""Which adapters are active, the cookies they read and their category mappings: plain values.

:class:`AdapterConfig` is a frozen dataclass of plain values with defaults, so any settings source can
fill it; :func:`build_adapters` turns it into adapter instances (each with its own parse cache) and
refuses a bad configuration with the field's name in the message, so a mistake fails at start.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ccaudit.consent.adapters import cookiebot, cookieyes, klaro, orestbida, osano, ours, tcf
from ccaudit.consent.adapters.base import DEFAULT_CACHE_SIZE, CachedAdapter, valid_category

ADAPTER_NAMES = (ours.NAME, orestbida.NAME, klaro.NAME, cookiebot.NAME, cookieyes.NAME, osano.NAME, tcf.NAME)
# The managers that take a mapping of their category (Klaro: service) names → the field holding it.
MAPPING_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        orestbida.NAME: "orestbida_categories",
        klaro.NAME: "klaro_services",
        cookiebot.NAME: "cookiebot_categories",
        cookieyes.NAME: "cookieyes_categories",
    }
)
# The other managers whose cookie records a policy revision, so that a minimum can be held against it
# (Klaro, Osano and TCF record none; ours is held to the revision our banner shows).
REVISION_ADAPTERS = (orestbida.NAME, cookiebot.NAME, cookieyes.NAME)
_COOKIE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _frozen(mapping: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class AdapterConfig:
    """The consent adapters a platform uses. Only our own cookie is read unless configured otherwise:
    a platform names the consent manager it actually runs, so a stray cookie of another cannot count.
    """

    enabled: tuple[str, ...] = (ours.NAME,)
    cache_size: int = DEFAULT_CACHE_SIZE
    ccaudit_cookie: str = ours.COOKIE
    orestbida_cookie: str = orestbida.COOKIE
    # None: their category names are ours (identity); else only mapped names count.
    orestbida_categories: Mapping[str, str] | None = None
    klaro_cookie: str = klaro.COOKIE
    klaro_services: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    cookiebot_cookie: str = cookiebot.COOKIE
    cookiebot_categories: Mapping[str, str] = field(default_factory=lambda: _frozen(cookiebot.CATEGORIES))
    cookieyes_cookie: str = cookieyes.COOKIE
    cookieyes_categories: Mapping[str, str] = field(default_factory=lambda: _frozen(cookieyes.CATEGORIES))
    osano_cookie: str = osano.COOKIE
    tcf_cookie: str = tcf.COOKIE

    def __post_init__(self) -> None:
        # A frozen dataclass still holds the caller's dict; copy it so nobody can change it later.
        for name in MAPPING_FIELDS.values():
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _frozen(value))
        object.__setattr__(self, "enabled", tuple(self.enabled))


def _check(config: AdapterConfig) -> None:
    unknown = [name for name in config.enabled if name not in ADAPTER_NAMES]
    if unknown:
        raise ValueError(f"enabled: unknown consent adapter(s) {unknown}; known: {list(ADAPTER_NAMES)}")
    if len(set(config.enabled)) != len(config.enabled):
        raise ValueError(f"enabled: an adapter is listed twice in {list(config.enabled)}")
    if not 1 <= config.cache_size <= 1_000_000:
        raise ValueError(f"cache_size: {config.cache_size} is not between 1 and 1000000")
    for name in ADAPTER_NAMES:
        cookie = getattr(config, f"{name}_cookie")
        if not isinstance(cookie, str) or not _COOKIE_NAME.fullmatch(cookie):
            raise ValueError(f"{name}_cookie: {cookie!r} is not a cookie name of letters, digits, '_', '.' or '-'")
    for name in MAPPING_FIELDS.values():
        mapping = getattr(config, name)
        for theirs, ours_ in (mapping or {}).items():
            if valid_category(theirs) is None or valid_category(ours_) is None:
                raise ValueError(f"{name}: {theirs!r} → {ours_!r} is not a name → category of [A-Za-z0-9_.-]")


def build_adapters(config: AdapterConfig) -> tuple[CachedAdapter, ...]:
    """The enabled adapters, in the configured order. Raises ValueError naming the bad field."""
    _check(config)
    size = config.cache_size
    builders: dict[str, Callable[[], CachedAdapter]] = {
        ours.NAME: lambda: ours.adapter(config.ccaudit_cookie, size),
        orestbida.NAME: lambda: orestbida.adapter(config.orestbida_cookie, config.orestbida_categories, size),
        klaro.NAME: lambda: klaro.adapter(config.klaro_cookie, config.klaro_services, size),
        cookiebot.NAME: lambda: cookiebot.adapter(config.cookiebot_cookie, config.cookiebot_categories, size),
        cookieyes.NAME: lambda: cookieyes.adapter(config.cookieyes_cookie, config.cookieyes_categories, size),
        osano.NAME: lambda: osano.adapter(config.osano_cookie, size),
        tcf.NAME: lambda: tcf.adapter(config.tcf_cookie, size),
    }
    return tuple(builders[name]() for name in config.enabled)
