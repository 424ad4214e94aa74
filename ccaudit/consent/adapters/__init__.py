"""Adapters that read consent where real consent managers store it, one module per manager.

Each turns its manager's raw cookie value into a :class:`Consent` in our categories, or None when the
value is not a consent; :func:`build_adapters` makes the configured set from an :class:`AdapterConfig`.
"""

from ccaudit.consent.adapters.base import (
    ANALYTICS,
    MARKETING,
    NECESSARY,
    OUR_CATEGORIES,
    PREFERENCES,
    CachedAdapter,
    Consent,
    ConsentAdapter,
)
from ccaudit.consent.adapters.config import ADAPTER_NAMES, AdapterConfig, build_adapters

__all__ = [
    "ADAPTER_NAMES",
    "ANALYTICS",
    "MARKETING",
    "NECESSARY",
    "OUR_CATEGORIES",
    "PREFERENCES",
    "AdapterConfig",
    "CachedAdapter",
    "Consent",
    "ConsentAdapter",
    "build_adapters",
]
